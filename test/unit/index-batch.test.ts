import { describe, expect, it } from 'vitest';
import {
  chunksToRead,
  editPostings,
  indexDelayMs,
  type ChunkPostings,
  type Contribution,
  type DocumentChange,
} from '../../src/domain/index-batch.js';
import { chunkNumber, impactTier, tierOfChunk } from '../../src/domain/search.js';
import { mulberry32 } from '../support/prng.js';

/**
 * A store of chunks in memory that applies batches the way src/store/search-index.ts does:
 * read what chunksToRead names (held chunks by key, the last chunk of each tail's tier), edit,
 * write every touched chunk back, and keep each document's entry.
 */
class MemoryIndex {
  chunks = new Map<string, ChunkPostings>();
  entries = new Map<number, Contribution[]>();
  df = new Map<string, number>();
  docs = 0;
  constructor(private readonly capacity: number) {}

  apply(updates: { id: number; after: Map<string, number> | null }[]) {
    const changes: DocumentChange[] = updates.map((u) => ({
      id: u.id,
      before: this.entries.get(u.id) ?? null,
      after: u.after,
    }));
    const { held, tails } = chunksToRead(changes);
    const read = new Map<string, ChunkPostings>();
    for (const h of held) {
      const c = this.chunks.get(`${h.term}#${h.k}`);
      if (c) read.set(`${h.term}#${h.k}`, c);
    }
    for (const t of tails) {
      const last = [...this.chunks.values()]
        .filter((c) => c.term === t.term && tierOfChunk(c.k) === t.tier)
        .sort((a, b) => b.k - a.k)[0];
      if (last) read.set(`${last.term}#${last.k}`, last);
    }
    const edit = editPostings(changes, [...read.values()], this.capacity);
    for (const c of edit.chunks) {
      if (c.ids.length === 0) this.chunks.delete(`${c.term}#${c.k}`);
      else this.chunks.set(`${c.term}#${c.k}`, c);
    }
    for (const [id, list] of edit.entries) {
      if (list) this.entries.set(id, list);
      else this.entries.delete(id);
    }
    for (const [t, d] of edit.df) {
      const n = (this.df.get(t) ?? 0) + d;
      if (n <= 0) this.df.delete(t);
      else this.df.set(t, n);
    }
    this.docs += edit.docs;
    return edit;
  }

  /** Layout-independent content: term → sorted [id, weight]. */
  content() {
    const terms: Record<string, [number, number][]> = {};
    for (const c of this.chunks.values())
      (terms[c.term] ??= []).push(...c.ids.map((id, i) => [id, c.weights[i]!] as [number, number]));
    for (const list of Object.values(terms)) list.sort((a, b) => a[0] - b[0]);
    return terms;
  }

  /** Every invariant a stored index keeps. */
  check() {
    for (const c of this.chunks.values()) {
      expect(c.ids.length).toBeGreaterThan(0);
      expect(c.ids.length).toBeLessThanOrEqual(this.capacity);
      expect(new Set(c.ids).size).toBe(c.ids.length);
    }
    const postings = new Map<string, number>();
    for (const c of this.chunks.values())
      for (const id of c.ids) postings.set(`${c.term}/${id}`, c.k);
    let held = 0;
    for (const [id, list] of this.entries)
      for (const [term, w, k] of list) {
        // The entry names the chunk that really holds the posting, in the weight's tier.
        expect(postings.get(`${term}/${id}`)).toBe(k);
        expect(tierOfChunk(k)).toBe(impactTier(w));
        held++;
      }
    expect(postings.size).toBe(held);
    const df = new Map<string, number>();
    for (const list of this.entries.values())
      for (const [t] of list) df.set(t, (df.get(t) ?? 0) + 1);
    expect(this.df).toEqual(df);
    expect(this.docs).toBe(this.entries.size);
  }
}

const weights = (...pairs: [string, number][]) => new Map(pairs);

describe('editPostings', () => {
  it('places two documents that share terms in one batch in the same chunk', () => {
    const index = new MemoryIndex(10);
    const edit = index.apply([
      { id: 1, after: weights(['vpn', 1], ['down', 1]) },
      { id: 2, after: weights(['vpn', 1], ['slow', 1]) },
    ]);
    const k = chunkNumber(impactTier(1), 0);
    expect(index.chunks.get(`vpn#${k}`)).toMatchObject({ ids: [1, 2] });
    expect(edit.df).toEqual(
      new Map([
        ['vpn', 2],
        ['down', 1],
        ['slow', 1],
      ]),
    );
    expect(edit.docs).toBe(2);
    expect(edit.counts.get(2)).toEqual({ added: 2, removed: 0, changed: 0 });
    index.check();
  });

  it('fills the last chunk of a tier and opens the next one within one batch', () => {
    const index = new MemoryIndex(2);
    index.apply([{ id: 1, after: weights(['vpn', 1]) }]);
    index.apply([2, 3, 4, 5].map((id) => ({ id, after: weights(['vpn', 1]) })));
    const k = chunkNumber(impactTier(1), 0);
    expect(index.chunks.get(`vpn#${k}`)?.ids).toEqual([1, 2]);
    expect(index.chunks.get(`vpn#${k + 1}`)?.ids).toEqual([3, 4]);
    expect(index.chunks.get(`vpn#${k + 2}`)?.ids).toEqual([5]);
    index.check();
  });

  it('lets an addition take the room a removal of the same batch leaves', () => {
    const index = new MemoryIndex(2);
    index.apply([1, 2].map((id) => ({ id, after: weights(['vpn', 1]) })));
    const edit = index.apply([
      { id: 3, after: weights(['vpn', 1]) },
      { id: 1, after: null },
    ]);
    const k = chunkNumber(impactTier(1), 0);
    expect(index.chunks.get(`vpn#${k}`)?.ids).toEqual([2, 3]);
    expect(index.chunks.size).toBe(1);
    expect(edit.docs).toBe(0);
    expect(edit.df.size).toBe(0); // one in, one out
    index.check();
  });

  it('moves a posting whose weight changes tier, and re-weighs one that stays', () => {
    const index = new MemoryIndex(5);
    index.apply([{ id: 1, after: weights(['vpn', 0.1], ['down', 1]) }]);
    const edit = index.apply([{ id: 1, after: weights(['vpn', 2], ['down', 1.01]) }]);
    expect(edit.counts.get(1)).toEqual({ added: 0, removed: 0, changed: 2 });
    expect(edit.df.size).toBe(0);
    expect(index.chunks.has(`vpn#${chunkNumber(impactTier(0.1), 0)}`)).toBe(false);
    expect(index.chunks.get(`vpn#${chunkNumber(impactTier(2), 0)}`)?.ids).toEqual([1]);
    index.check();
  });

  it('does not add a posting twice when a rerun finds it written but the entry not', () => {
    const index = new MemoryIndex(5);
    index.apply([{ id: 1, after: weights(['vpn', 1]) }]);
    index.entries.delete(1); // as if the process died after writing the chunk
    index.docs--;
    index.df.delete('vpn');
    index.apply([{ id: 1, after: weights(['vpn', 1]) }]);
    expect([...index.chunks.values()].map((c) => c.ids)).toEqual([[1]]);
    index.check();
  });

  it('refuses a document twice in one batch', () => {
    expect(() =>
      editPostings(
        [1, 1].map((id) => ({ id, before: null, after: weights(['a', 1]) })),
        [],
        10,
      ),
    ).toThrow(/twice/);
  });

  it('gives the same content as applying the documents one at a time', () => {
    const rnd = mulberry32(7);
    const vocabulary = ['vpn', 'down', 'slow', 'mail', 'print', 'login', 'disk', 'wifi'];
    const randomWeights = () =>
      new Map(
        vocabulary
          .filter(() => rnd() < 0.5)
          .map((t) => [t, (1 + Math.round(rnd() * 24)) / 10] as const),
      );
    const batched = new MemoryIndex(3);
    const single = new MemoryIndex(3);
    for (let round = 0; round < 40; round++) {
      const ids = [
        ...new Set(
          Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => 1 + Math.floor(rnd() * 20)),
        ),
      ];
      const updates = ids.map((id) => ({ id, after: rnd() < 0.15 ? null : randomWeights() }));
      batched.apply(updates);
      for (const u of updates) single.apply([u]);
      batched.check();
      expect(batched.content()).toEqual(single.content());
      expect(batched.df).toEqual(single.df);
    }
    expect(batched.chunks.size).toBeGreaterThan(vocabulary.length); // chunks did fill up
  });
});

describe('indexDelayMs', () => {
  it('makes every request of one period come due at the same instant, one to two periods on', () => {
    const due = [10_000, 10_001, 10_500, 10_999].map((now) => now + indexDelayMs(now, 1000));
    expect(new Set(due)).toEqual(new Set([12_000]));
    expect(11_000 + indexDelayMs(11_000, 1000)).toBe(13_000);
  });
});
