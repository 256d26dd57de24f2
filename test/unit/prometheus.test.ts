import { describe, expect, it } from 'vitest';
import { exposition, formatValue } from '../../src/domain/prometheus.js';

describe('Prometheus text exposition', () => {
  it('writes HELP and TYPE lines before the samples of each family', () => {
    const page = exposition([
      {
        name: 'incidesk_queue_jobs',
        help: 'Jobs per queue and state.',
        type: 'gauge',
        samples: [
          { labels: { queue: 'ingest', state: 'waiting' }, value: 3 },
          { labels: { queue: 'ingest', state: 'failed' }, value: 0 },
        ],
      },
      {
        name: 'incidesk_reconnects_total',
        help: 'Reconnects.',
        type: 'counter',
        samples: [{ value: 2 }],
      },
    ]);
    expect(page).toBe(
      [
        '# HELP incidesk_queue_jobs Jobs per queue and state.',
        '# TYPE incidesk_queue_jobs gauge',
        'incidesk_queue_jobs{queue="ingest",state="waiting"} 3',
        'incidesk_queue_jobs{queue="ingest",state="failed"} 0',
        '# HELP incidesk_reconnects_total Reconnects.',
        '# TYPE incidesk_reconnects_total counter',
        'incidesk_reconnects_total 2',
        '',
      ].join('\n'),
    );
  });

  it('escapes label values and help text', () => {
    const page = exposition([
      {
        name: 'm',
        help: 'back\\slash\nnew line',
        type: 'gauge',
        samples: [{ labels: { mailbox: 'a"b\\c\nd' }, value: 1 }],
      },
    ]);
    expect(page).toContain('# HELP m back\\\\slash\\nnew line\n');
    expect(page).toContain('m{mailbox="a\\"b\\\\c\\nd"} 1\n');
    expect(page.split('\n')).toHaveLength(4); // no raw newline leaked into a line
  });

  it('formats special values the way Prometheus parses them', () => {
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(1.5)).toBe('1.5');
    expect(formatValue(1e21)).toBe('1e+21');
  });

  it('rejects what would make a scraper drop the page', () => {
    const f = (over: object) => [
      { name: 'ok', help: 'h', type: 'gauge' as const, samples: [], ...over },
    ];
    expect(() => exposition(f({ name: 'bad-name' }))).toThrow(/invalid metric name/);
    expect(() => exposition(f({ samples: [{ labels: { 'a-b': 'x' }, value: 1 }] }))).toThrow(
      /invalid label name/,
    );
    expect(() => exposition(f({ samples: [{ labels: { __name__: 'x' }, value: 1 }] }))).toThrow(
      /invalid label name/,
    );
    expect(() => exposition(f({ type: 'counter' }))).toThrow(/_total/);
    expect(() => exposition([...f({}), ...f({})])).toThrow(/twice/);
    expect(exposition([])).toBe('');
  });
});
