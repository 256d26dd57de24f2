import { describe, expect, it } from 'vitest';
import {
  compareHits,
  decodePostings,
  encodePostings,
  idf,
  impactTier,
  IMPACT_TIERS,
  chunkNumber,
  tierOfChunk,
  knownErrorDocId,
  queryTerms,
  rank,
  similarityQuery,
  stem,
  termWeights,
  tokenize,
} from '../../src/domain/search.js';

describe('tokenize', () => {
  it('lower-cases, strips accents and punctuation, drops stop words', () => {
    expect(tokenize('The VPN is DOWN! Café-Login fails (error 0x80070005).')).toEqual([
      'vpn',
      'down',
      'cafe',
      'login',
      'fail',
      'error',
      '0x80070005',
    ]);
  });
  it('keeps numbers and drops single characters and overlong tokens', () => {
    expect(tokenize(`a 502 b ${'x'.repeat(41)} ok`)).toEqual(['502', 'ok']);
  });
  it('handles non-Latin scripts', () => {
    expect(tokenize('Ошибка сервера')).toEqual(['ошибка', 'сервера']);
  });
});

describe('stem', () => {
  it('brings inflections of one word together', () => {
    for (const group of [
      ['fail', 'fails', 'failed', 'failing'],
      ['certificate', 'certificates'],
      ['expire', 'expired', 'expires'],
      ['run', 'running', 'runs'],
      ['query', 'queries'],
      ['invoice', 'invoices'],
    ])
      expect(new Set(group.map(stem)).size, group.join(',')).toBe(1);
  });
  it('leaves short words, numbers and double-s words alone', () => {
    expect(stem('dns')).toBe('dns');
    expect(stem('http2s')).toBe('http2s');
    expect(stem('access')).toBe('access');
    expect(stem('status')).toBe('status');
  });
});

describe('termWeights', () => {
  it('weighs a word in the subject above the same word in the body', () => {
    const inSubject = termWeights({ subject: 'printer jam', bodies: ['the office is cold'] });
    const inBody = termWeights({ subject: 'office cold', bodies: ['the printer has a jam'] });
    expect(inSubject.get('printer')!).toBeGreaterThan(inBody.get('printer')!);
  });
  it('weighs cause and workaround above the body', () => {
    const w = termWeights({
      bodies: ['gateway firewall'],
      cause: 'gateway',
      workaround: 'reboot',
    });
    expect(w.get('gateway')!).toBeGreaterThan(w.get('firewall')!);
    expect(w.get('reboot')!).toBeGreaterThan(w.get('firewall')!);
  });
  it('saturates repetition and normalises by length', () => {
    const once = termWeights({ bodies: ['timeout'] }).get('timeout')!;
    const many = termWeights({ bodies: ['timeout '.repeat(50)] }).get('timeout')!;
    expect(many).toBeGreaterThan(once);
    expect(many).toBeLessThan(2.2); // k1 + 1
    const short = termWeights({ bodies: ['timeout disk'] }).get('timeout')!;
    const long = termWeights({ bodies: [`timeout ${'filler words here '.repeat(60)}`] }).get(
      'timeout',
    )!;
    expect(short).toBeGreaterThan(long);
  });
  it('keeps at most 400 terms, the heaviest, and is deterministic', () => {
    const text = Array.from({ length: 600 }, (_, i) => `w${i}x`).join(' ');
    const w = termWeights({ subject: 'special', bodies: [text] });
    expect(w.size).toBe(400);
    expect(w.has('special')).toBe(true);
    expect([...termWeights({ subject: 'special', bodies: [text] })]).toEqual([...w]);
  });
  it('stores float32 values (what the postings hold)', () => {
    for (const v of termWeights({ subject: 'a long subject line', bodies: ['x y z'] }).values())
      expect(Math.fround(v)).toBe(v);
  });
});

describe('idf and rank', () => {
  it('rare terms count more than common ones', () => {
    expect(idf(1, 1000)).toBeGreaterThan(idf(500, 1000));
    expect(idf(1000, 1000)).toBeGreaterThan(0);
  });
  it('ranks by summed idf × weight; ties go to the newer document', () => {
    const hits = rank(
      [
        { term: 'vpn', ids: [1, 2, 3], weights: [1, 1, 2] },
        { term: 'radius', ids: [2], weights: [1] },
      ],
      100,
      10,
    );
    expect(hits.map((h) => h.id)).toEqual([2, 3, 1]);
    expect(hits[0]!.matched).toBe(2);
    const tie = rank([{ term: 'x', ids: [5, 9, 7], weights: [1, 1, 1] }], 100, 2);
    expect(tie.map((h) => h.id)).toEqual([9, 7]);
  });
  it('orders known errors (negative ids) by their own recency too', () => {
    const a = { id: -3, score: 1, matched: 1 };
    const b = { id: -2, score: 1, matched: 1 };
    expect([b, a].sort(compareHits)[0]!.id).toBe(-3);
  });
});

describe('queries', () => {
  it('query terms are distinct and tokenised like documents', () => {
    expect(queryTerms('Failed failing VPN vpn')).toEqual(['fail', 'vpn']);
  });
  it('a similarity query is bounded and led by the subject', () => {
    const q = similarityQuery(
      {
        subject: 'Outlook crashes',
        bodies: ['alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu'],
      },
      5,
    );
    expect(q).toHaveLength(5);
    expect(q.slice(0, 2).sort()).toEqual(['crash', 'outlook']);
  });
});

describe('postings encoding', () => {
  it('round-trips ids (incl. negative) and float32 weights', () => {
    const ids = [1, 2_000_000, knownErrorDocId(7)];
    const weights = [0.5, 1.25, Math.fround(0.1)];
    const buf = encodePostings(ids, weights);
    expect(buf.length).toBe(24);
    expect(decodePostings(new Uint8Array(buf))).toEqual({ ids, weights });
  });
});

describe('impact tiers', () => {
  it('heavier weights land in higher tiers, and chunk numbers keep the tier', () => {
    expect(impactTier(0.01)).toBe(0);
    expect(impactTier(2.2)).toBe(IMPACT_TIERS - 1);
    expect(impactTier(1.5)).toBeGreaterThan(impactTier(0.5));
    expect(tierOfChunk(chunkNumber(7, 123))).toBe(7);
    expect(chunkNumber(8, 0)).toBeGreaterThan(chunkNumber(7, 999));
  });
  it('a term known to be common keeps its idf when only its top postings are read', () => {
    const partial = { term: 'x', ids: [1], weights: [1], docFreq: 900 };
    expect(rank([partial], 1000, 1)[0]!.score).toBeCloseTo(idf(900, 1000), 10);
  });
});
