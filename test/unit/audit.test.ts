import { describe, expect, it } from 'vitest';
import {
  applySet,
  canonicalJson,
  chainEntry,
  changedFields,
  csvLine,
  entryHash,
  GENESIS_HASH,
  verifyChain,
  type AuditBody,
  type AuditEntry,
} from '../../src/domain/audit.js';

const body = (i: number): AuditBody => ({
  at: new Date(Date.UTC(2026, 10, 24, 1, i)).toISOString(),
  actor: { kind: 'agent', id: `agent${i}@x.test` },
  action: 'incident-changed',
  subject: { type: 'incident', id: String(i) },
  why: `#priority (cmd-${i})`,
  changes: [
    { field: 'priority', before: 'P3', after: 'P2' },
    { field: 'sla.escalationLevel', before: 0, after: i },
  ],
});

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 1; i <= n; i++) out.push(chainEntry(out.at(-1) ?? null, body(i)));
  return out;
}

describe('canonical JSON', () => {
  it('is independent of key order, drops undefined, writes Dates as ISO', () => {
    const d = new Date('2026-11-24T01:02:03.004Z');
    expect(canonicalJson({ b: 1, a: { d: [1, undefined], c: d }, z: undefined })).toBe(
      '{"a":{"c":"2026-11-24T01:02:03.004Z","d":[1,null]},"b":1}',
    );
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });
});

describe('the hash chain', () => {
  it('links entries from the genesis hash, seq 1, 2, 3', () => {
    const c = chain(3);
    expect(c.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(c[0]!.prevHash).toBe(GENESIS_HASH);
    expect(c[1]!.prevHash).toBe(c[0]!.hash);
    expect(c[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(entryHash(c[2]!)).toBe(c[2]!.hash);
    expect(verifyChain(c)).toBeNull();
  });

  it('hashes the stored form: a store _id and key order do not matter', () => {
    const [e] = chain(1);
    const stored = JSON.parse(JSON.stringify({ _id: 1, ...e })) as AuditEntry;
    expect(verifyChain([stored])).toBeNull();
  });

  const tamperings: [string, (e: AuditEntry) => void][] = [
    ['the actor', (e) => (e.actor.id = 'someone-else@x.test')],
    ['the time', (e) => (e.at = '2026-01-01T00:00:00.000Z')],
    ['the action', (e) => (e.action = 'incident-opened')],
    ['the reason', (e) => (e.why = 'nothing to see')],
    ['a before value', (e) => (e.changes[0]!.before = 'P1')],
    ['an after value', (e) => (e.changes[0]!.after = 'P4')],
    ['the subject', (e) => (e.subject.id = '99')],
    ['an added field', (e) => ((e as unknown as Record<string, unknown>).extra = 1)],
    ['the hash itself', (e) => (e.hash = e.hash.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')))],
  ];
  for (const [what, tamper] of tamperings) {
    it(`detects a change to ${what} at that seq`, () => {
      const c = chain(5);
      tamper(c[2]!);
      expect(verifyChain(c)).toMatchObject({ seq: 3, problem: 'hash' });
    });
  }

  it('detects a rehashed entry by the next entry’s link', () => {
    const c = chain(5);
    c[2]!.why = 'rewritten';
    c[2]!.hash = entryHash(c[2]!);
    expect(verifyChain(c)).toMatchObject({ seq: 4, problem: 'prev-hash', expected: c[2]!.hash });
  });

  it('detects a deleted entry', () => {
    const c = chain(5);
    c.splice(2, 1);
    expect(verifyChain(c)).toMatchObject({ seq: 3, problem: 'gap', found: 'seq 4' });
  });

  it('detects reordered and duplicated entries', () => {
    const c = chain(5);
    [c[1], c[2]] = [c[2]!, c[1]!];
    expect(verifyChain(c)).toMatchObject({ seq: 2, problem: 'gap' });
    const d = chain(3);
    d.splice(2, 0, d[1]!);
    expect(verifyChain(d)).toMatchObject({ seq: 3, problem: 'order' });
  });

  it('detects a renumbered chain and verifies a slice from its anchor', () => {
    const c = chain(5);
    expect(verifyChain(c.slice(2), { seq: 2, hash: c[1]!.hash })).toBeNull();
    expect(verifyChain(c.slice(2))).toMatchObject({ seq: 1, problem: 'gap' });
    expect(verifyChain(c.slice(2), { seq: 2, hash: GENESIS_HASH })).toMatchObject({
      seq: 3,
      problem: 'prev-hash',
    });
  });
});

describe('changed fields', () => {
  it('keeps only what really changed, with before and after', () => {
    const before = { status: 'new', priority: 'P3', sla: { escalationLevel: 0 }, at: new Date(0) };
    expect(
      changedFields(before, {
        status: 'new',
        priority: 'P1',
        'sla.escalationLevel': 1,
        assignee: null,
        at: new Date(0),
      }),
    ).toEqual([
      { field: 'priority', before: 'P3', after: 'P1' },
      { field: 'sla.escalationLevel', before: 0, after: 1 },
    ]);
  });

  it('treats a missing field and null alike (both are stored as nothing)', () => {
    expect(changedFields({}, { assignee: null })).toEqual([]);
  });

  it('applies a $set with dotted paths without touching the original', () => {
    const doc = { a: 1, sla: { level: 0, keep: true }, list: [1] };
    const after = applySet(doc, { a: 2, 'sla.level': 3, 'new.deep': 'x' });
    expect(after).toEqual({ a: 2, sla: { level: 3, keep: true }, list: [1], new: { deep: 'x' } });
    expect(doc).toEqual({ a: 1, sla: { level: 0, keep: true }, list: [1] });
  });
});

describe('CSV export', () => {
  it('quotes cells and keeps the chain hashes', () => {
    const [e] = chain(1);
    e!.why = 'said "hi", then left';
    const line = csvLine(e!);
    expect(line.startsWith('1,2026-11-24T01:01:00.000Z,agent,agent1@x.test,')).toBe(true);
    expect(line).toContain('"said ""hi"", then left"');
    expect(line.endsWith(`,${GENESIS_HASH},${e!.hash}`)).toBe(true);
  });
});
