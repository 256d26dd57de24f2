/**
 * How a batch of index updates changes the stored postings, without I/O: which chunks to read
 * first, and what every touched chunk, index entry and term count becomes. Several documents
 * of one batch may add postings to the same term: they are placed one after another, filling
 * the last chunk of the term's tier and opening the next when it is full, exactly as if they
 * had been applied one at a time.
 */
import { chunkNumber, impactTier, tierOfChunk } from './search.js';

/** A posting a document holds: its term, its weight (float32) and the chunk it is in. */
export type Contribution = readonly [term: string, weight: number, chunk: number];

/** One document's update. */
export interface DocumentChange {
  id: number;
  /** What the document put in the index so far; null when it has no index entry. */
  before: readonly Contribution[] | null;
  /** Its term weights now; null when it leaves the index. */
  after: ReadonlyMap<string, number> | null;
}

/** A stored chunk's postings, decoded. */
export interface ChunkPostings {
  term: string;
  k: number;
  ids: number[];
  weights: number[];
}

type Op = { term: string; kind: 'add' | 'remove' | 'change'; w: number; k: number };

interface Diff {
  ops: Op[];
  added: string[];
  removed: string[];
  changed: number;
  /** Terms whose posting stays where it is, with its chunk. */
  kept: Map<string, number>;
}

/** What must change for one document: postings to remove, re-weigh in place, or add. */
function diff(c: DocumentChange): Diff {
  const before = new Map((c.before ?? []).map(([t, w, k]) => [t, { w, k }] as const));
  const after = c.after ?? new Map<string, number>();
  const ops: Op[] = [];
  const kept = new Map<string, number>();
  let changed = 0;
  for (const [term, prev] of before) {
    const w = after.get(term);
    if (w === undefined) {
      ops.push({ term, kind: 'remove', w: prev.w, k: prev.k });
      continue;
    }
    if (Math.fround(w) !== prev.w) {
      changed++;
      // A weight that changes tier moves to a chunk of its new tier.
      if (impactTier(w) !== tierOfChunk(prev.k)) {
        ops.push({ term, kind: 'remove', w: prev.w, k: prev.k }, { term, kind: 'add', w, k: -1 });
        continue;
      }
      ops.push({ term, kind: 'change', w, k: prev.k });
    }
    kept.set(term, prev.k);
  }
  const added = [...after.keys()].filter((t) => !before.has(t));
  for (const term of added) ops.push({ term, kind: 'add', w: after.get(term)!, k: -1 });
  const removed = [...before.keys()].filter((t) => !after.has(t));
  return { ops, added, removed, changed, kept };
}

/**
 * The chunks a batch must read before it can be applied: those holding postings that are
 * removed or re-weighed (`held`), and for every term and tier that receives a posting, that
 * tier's last chunk (`tails`), where an addition goes if it has room.
 */
export function chunksToRead(changes: readonly DocumentChange[]): {
  held: { term: string; k: number }[];
  tails: { term: string; tier: number }[];
} {
  const held = new Map<string, { term: string; k: number }>();
  const tails = new Map<string, { term: string; tier: number }>();
  for (const c of changes)
    for (const o of diff(c).ops) {
      if (o.kind === 'add') {
        const tier = impactTier(o.w);
        tails.set(`${o.term}#${tier}`, { term: o.term, tier });
      } else held.set(`${o.term}#${o.k}`, { term: o.term, k: o.k });
    }
  return { held: [...held.values()], tails: [...tails.values()] };
}

export interface BatchEdit {
  /** Every chunk whose postings change, as it must be stored (no postings: delete it). */
  chunks: ChunkPostings[];
  /** Each document's postings now, with the chunk holding each (null: it left the index). */
  entries: Map<number, Contribution[] | null>;
  /** The change of each term's document frequency (terms whose count changes). */
  df: Map<string, number>;
  /** The change of the number of indexed documents. */
  docs: number;
  /** Per document: terms it gained, terms it lost, terms whose weight changed. */
  counts: Map<number, { added: number; removed: number; changed: number }>;
}

/**
 * Apply a batch to the chunks read for it (`chunksToRead`), each holding at most `capacity`
 * postings. Removals and re-weighings go first, so an addition can take the room a removal
 * left; then additions in the order given. A posting already in the tail chunk (a rerun after
 * the postings were written but not the entry) is re-weighed, not added twice. Document ids
 * must be unique within a batch.
 */
export function editPostings(
  changes: readonly DocumentChange[],
  read: readonly ChunkPostings[],
  capacity: number,
): BatchEdit {
  const ids = new Set(changes.map((c) => c.id));
  if (ids.size < changes.length) throw new Error('a document appears twice in one index batch');
  // term → chunk number → postings, for the chunks read and those this batch creates
  const byTerm = new Map<string, Map<number, ChunkPostings>>();
  const chunk = (term: string, k: number): ChunkPostings => {
    let chunks = byTerm.get(term);
    if (!chunks) byTerm.set(term, (chunks = new Map()));
    let c = chunks.get(k);
    if (!c) chunks.set(k, (c = { term, k, ids: [], weights: [] }));
    return c;
  };
  for (const r of read)
    Object.assign(chunk(r.term, r.k), { ids: [...r.ids], weights: [...r.weights] });
  const tail = (term: string, tier: number): ChunkPostings | undefined => {
    let last: ChunkPostings | undefined;
    for (const c of byTerm.get(term)?.values() ?? [])
      if (tierOfChunk(c.k) === tier && (!last || c.k > last.k)) last = c;
    return last;
  };
  const touched = new Set<ChunkPostings>();
  const put = (c: ChunkPostings, id: number, w: number) => {
    const at = c.ids.indexOf(id);
    if (at >= 0) c.weights[at] = w;
    else {
      c.ids.push(id);
      c.weights.push(w);
    }
    touched.add(c);
  };

  const diffs = changes.map(diff);
  diffs.forEach((d, i) => {
    const id = changes[i]!.id;
    for (const o of d.ops) {
      if (o.kind === 'add') continue;
      const c = chunk(o.term, o.k);
      if (o.kind === 'change') put(c, id, o.w);
      else {
        const at = c.ids.indexOf(id);
        if (at >= 0) {
          c.ids.splice(at, 1);
          c.weights.splice(at, 1);
        }
        touched.add(c);
      }
    }
  });
  const placed = diffs.map((d) => new Map(d.kept));
  diffs.forEach((d, i) => {
    const id = changes[i]!.id;
    for (const o of d.ops) {
      if (o.kind !== 'add') continue;
      const tier = impactTier(o.w);
      const last = tail(o.term, tier);
      const target =
        last && (last.ids.includes(id) || last.ids.length < capacity)
          ? last
          : chunk(o.term, last ? last.k + 1 : chunkNumber(tier, 0));
      put(target, id, o.w);
      placed[i]!.set(o.term, target.k);
    }
  });

  const entries = new Map<number, Contribution[] | null>();
  const df = new Map<string, number>();
  const counts = new Map<number, { added: number; removed: number; changed: number }>();
  let docs = 0;
  changes.forEach((c, i) => {
    const d = diffs[i]!;
    entries.set(
      c.id,
      c.after
        ? [...c.after].map(([t, w]) => [t, Math.fround(w), placed[i]!.get(t) ?? 0] as const)
        : null,
    );
    for (const t of d.added) df.set(t, (df.get(t) ?? 0) + 1);
    for (const t of d.removed) df.set(t, (df.get(t) ?? 0) - 1);
    if (!c.before && c.after) docs++;
    else if (c.before && !c.after) docs--;
    counts.set(c.id, { added: d.added.length, removed: d.removed.length, changed: d.changed });
  });
  for (const [t, n] of df) if (n === 0) df.delete(t);
  return { chunks: [...touched], entries, df, docs, counts };
}

/**
 * How long an index request waits: until the next whole `periodMs` at least `periodMs` from
 * `nowMs` (between one and two periods). Requests of the same period come due at the same
 * instant, so the worker takes them together as one batch.
 */
export function indexDelayMs(nowMs: number, periodMs: number): number {
  return 2 * periodMs - (nowMs % periodMs);
}
