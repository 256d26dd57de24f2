import { describe, expect, it } from 'vitest';
import {
  csvField,
  formatDuration,
  markdownCell,
  renderReport,
  summarise,
  toCsv,
  toMarkdownTable,
  type ReportIncident,
} from '../../src/domain/report.js';

const at = (h: number) => new Date(Date.UTC(2026, 10, 1, h));
const rows: ReportIncident[] = [
  {
    number: 1,
    subject: 'VPN, down',
    status: 'resolved',
    priority: 'P1',
    customer: 'a@x.test',
    openedAt: at(0),
    resolvedAt: at(2),
  },
  {
    number: 2,
    subject: 'Say "hi" | bye',
    status: 'resolved',
    priority: 'P2',
    customer: 'b@x.test',
    openedAt: at(1),
    resolvedAt: at(5),
  },
  { number: 3, subject: 'line\nbreak', status: 'new', customer: 'c@x.test', openedAt: at(3) },
];

describe('summary', () => {
  it('counts by status and priority, mean time to resolve over resolved ones', () => {
    expect(summarise(rows)).toEqual({
      total: 3,
      byStatus: { resolved: 2, new: 1 },
      byPriority: { P1: 1, P2: 1, none: 1 },
      resolved: 2,
      meanTimeToResolveMs: 3 * 3600_000,
    });
    expect(summarise([]).meanTimeToResolveMs).toBeNull();
  });
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(5 * 60_000)).toBe('5m');
    expect(formatDuration(3 * 3600_000)).toBe('3h 00m');
    expect(formatDuration(26 * 3600_000 + 7 * 60_000)).toBe('1d 2h 07m');
  });
});

describe('CSV', () => {
  it('quotes only what needs quoting, doubling quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(' padded')).toBe('" padded"');
    expect(csvField('')).toBe('');
  });
  it('defuses spreadsheet formulas', () => {
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('@cmd')).toBe("'@cmd");
  });
  it('uses CRLF line ends and a header', () => {
    expect(toCsv(['a', 'b'], [['1', 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });
});

describe('Markdown', () => {
  it('escapes pipes and backslashes, turns line breaks into <br>', () => {
    expect(markdownCell('a | b')).toBe('a \\| b');
    expect(markdownCell('c:\\temp')).toBe('c:\\\\temp');
    expect(markdownCell('x\r\ny')).toBe('x<br>y');
  });
  it('renders a table with a separator row', () => {
    expect(toMarkdownTable(['h1', 'h|2'], [['a', 'b|c']])).toBe(
      '| h1 | h\\|2 |\n| --- | --- |\n| a | b\\|c |',
    );
  });
});

describe('renderReport', () => {
  const report = {
    from: at(0),
    to: at(24),
    filters: { group: 'network' },
    summary: summarise(rows),
    incidents: rows,
  };
  it('CSV: one row per incident, subjects intact', () => {
    const csv = renderReport(report, 'csv');
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'id,opened,status,priority,category,group,assignee,customer,resolved,time_to_resolve,subject',
    );
    expect(lines[1]).toBe(
      'INC-000001,2026-11-01 00:00,resolved,P1,,,,a@x.test,2026-11-01 02:00,2h 00m,"VPN, down"',
    );
    expect(csv).toContain('"Say ""hi"" | bye"');
    expect(csv).toContain('"line\nbreak"');
  });
  it('Markdown: summary and rows, pipes escaped', () => {
    const md = renderReport(report, 'markdown');
    expect(md).toContain('| incidents | 3 |');
    expect(md).toContain('| mean time to resolve | 3h 00m |');
    expect(md).toContain('Say "hi" \\| bye');
    expect(md).toContain('line<br>break');
    expect(md.split('\n').filter((l) => l.startsWith('| INC-'))).toHaveLength(3);
  });
  it('table and JSON carry the same summary', () => {
    const table = renderReport(report, 'table');
    expect(table).toMatch(/by status:\s+new 1, resolved 2/);
    expect(table).toMatch(/filters:\s+group=network/);
    const json = JSON.parse(renderReport(report, 'json'));
    expect(json.summary.total).toBe(3);
    expect(json.incidents.map((i: { id: string }) => i.id)).toEqual([
      'INC-000001',
      'INC-000002',
      'INC-000003',
    ]);
  });
});
