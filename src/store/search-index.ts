/**
 * Our own inverted index, laid out so every lookup touches only small collections: on a
 * server that scans a whole collection for any query (FerretDB here), cost follows the size
 * of the collection asked, not of the data set.
 *
 * - `search_terms_XXX` (XXX = hash of the term, SEARCH_TERM_PARTITIONS of them): postings chunks
 *   `{ _id: "term#k", t: term, k, n, p }`, `p` packed (id int32 + weight float32), at most
 *   SEARCH_CHUNK_POSTINGS per chunk so no document nears the 16 MB limit.
 * - `search_docs_XXX` (XXX = document id modulo SEARCH_DOC_PARTITIONS): one slim record per
 *   indexed incident or known error, what a hit shows;
 * - `search_contrib_XXX` (same partitioning): which terms each document contributed (with
 *   the chunk holding each posting), so a re-index removes exactly its stale postings;
 * - `search_meta`: the number of indexed documents (for idf).
 *
 * Writes are read-modify-write and not safe concurrently: only the `index` queue's worker
 * (global concurrency 1) and `incidesk search --reindex` (which pauses that queue) write.
 */
import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import {
  SEARCH_CHUNK_POSTINGS,
  SEARCH_DOC_PARTITIONS,
  SEARCH_TERM_PARTITIONS,
} from '../constants.js';
import {
  compareHits,
  decodePostings,
  docPartition,
  encodePostings,
  idealScore,
  rank,
  termPartition,
  type Hit,
  type TermPostings,
} from '../domain/search.js';
import { db } from './db.js';

/** What a hit shows; kept slim, because a lookup scans its whole partition on FerretDB. */
export interface IndexRecord {
  _id: number;
  kind: 'incident' | 'known-error';
  /** INC-000123 or KE-0007. */
  ref: string;
  title: string;
  status: string;
  at: Date;
  resolution?: { cause?: string; fix?: string; workaround?: string };
}

/**
 * Every term a document put in the index, with its weight and the chunk holding the
 * posting, as parallel arrays (FerretDB stores no arrays of arrays). Read only by updates.
 */
interface ContributionDoc {
  _id: number;
  terms: string[];
  weights: number[];
  chunks: number[];
}

type Contribution = [term: string, weight: number, chunk: number];
export type RecordBody = Omit<IndexRecord, '_id'>;

const contributions = (r: Omit<ContributionDoc, '_id'>): Contribution[] =>
  r.terms.map((t, i) => [t, r.weights[i]!, r.chunks[i]!]);
const contributionFields = (list: readonly Contribution[]) => ({
  terms: list.map((c) => c[0]),
  weights: list.map((c) => c[1]),
  chunks: list.map((c) => c[2]),
});

interface Chunk {
  _id: string;
  t: string;
  k: number;
  n: number;
  p: Uint8Array;
}

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');
export const termsCollectionName = (i: number) => `search_terms_${hex(i, 3)}`;
export const docsCollectionName = (i: number) => `search_docs_${hex(i, 3)}`;
export const contribCollectionName = (i: number) => `search_contrib_${hex(i, 3)}`;
const META = 'search_meta';

const termsOf = (term: string) =>
  db().collection<Chunk>(termsCollectionName(termPartition(term, SEARCH_TERM_PARTITIONS)));
const docsOf = (id: number) =>
  db().collection<IndexRecord>(docsCollectionName(docPartition(id, SEARCH_DOC_PARTITIONS)));
const contribOf = (id: number) =>
  db().collection<ContributionDoc>(contribCollectionName(docPartition(id, SEARCH_DOC_PARTITIONS)));
const meta = () => db().collection<{ _id: string; docs: number }>(META);
const chunkId = (term: string, k: number) => `${term}#${k}`;
/**
 * Every chunk of these terms, by _id range: chunk ids start with "term#" (terms are letters
 * and digits, and "$" follows "#"), so a real MongoDB answers from the _id index alone.
 */
const chunksOfTerms = (terms: readonly string[]) => ({
  $or: terms.map((t) => ({ _id: { $gte: `${t}#`, $lt: `${t}$` } })),
});

function groupBy<T, K>(items: Iterable<T>, key: (t: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

export async function indexedDocCount(): Promise<number> {
  return (await meta().findOne({ _id: 'stats' }))?.docs ?? 0;
}

export async function getIndexRecord(id: number): Promise<IndexRecord | null> {
  return docsOf(id).findOne({ _id: id });
}

/**
 * Make the index say what `weights` say about document `id` (null: remove it). Only the
 * postings that differ are touched: per term partition, one read of the affected chunks and
 * one bulk write.
 */
export async function applyDocument(
  id: number,
  record: RecordBody | null,
  weights: ReadonlyMap<string, number>,
): Promise<{ added: number; removed: number; changed: number }> {
  const old = await contribOf(id).findOne({ _id: id });
  const before = new Map(
    (old ? contributions(old) : []).map(([t, w, k]) => [t, { w, k }] as const),
  );
  const after = record ? weights : new Map<string, number>();
  type Op = { term: string; kind: 'add' | 'remove' | 'change'; w: number; k: number };
  const ops: Op[] = [];
  for (const [term, prev] of before) {
    const w = after.get(term);
    if (w === undefined) ops.push({ term, kind: 'remove', w: prev.w, k: prev.k });
    else if (Math.fround(w) !== prev.w) ops.push({ term, kind: 'change', w, k: prev.k });
  }
  for (const [term, w] of after) if (!before.has(term)) ops.push({ term, kind: 'add', w, k: -1 });

  const placed = new Map<string, number>(); // term → chunk now holding our posting
  for (const [term, prev] of before) if (after.has(term)) placed.set(term, prev.k);

  for (const list of groupBy(ops, (o) => termPartition(o.term, SEARCH_TERM_PARTITIONS)).values()) {
    const coll = termsOf(list[0]!.term);
    // Where do additions go: the last chunk of the term if it has room, else a new one.
    const adds = list.filter((o) => o.kind === 'add');
    if (adds.length) {
      const heads = await coll
        .find(chunksOfTerms(adds.map((o) => o.term)), { projection: { t: 1, k: 1, n: 1 } })
        .toArray();
      const last = new Map<string, { k: number; n: number }>();
      for (const h of heads) {
        const cur = last.get(h.t);
        if (!cur || h.k > cur.k) last.set(h.t, { k: h.k, n: h.n });
      }
      for (const o of adds) {
        const l = last.get(o.term);
        o.k = !l ? 0 : l.n < SEARCH_CHUNK_POSTINGS ? l.k : l.k + 1;
      }
    }
    const ids = [...new Set(list.map((o) => chunkId(o.term, o.k)))];
    const chunks = new Map(
      (await coll.find({ _id: { $in: ids } }).toArray()).map((c) => [c._id, c] as const),
    );
    const edited = new Map<string, { term: string; k: number; ids: number[]; ws: number[] }>();
    for (const o of list) {
      const cid = chunkId(o.term, o.k);
      let e = edited.get(cid);
      if (!e) {
        const c = chunks.get(cid);
        const d = c ? decodePostings(c.p) : { ids: [], weights: [] };
        e = { term: o.term, k: o.k, ids: d.ids, ws: d.weights };
        edited.set(cid, e);
      }
      const at = e.ids.indexOf(id);
      if (o.kind === 'remove') {
        if (at >= 0) {
          e.ids.splice(at, 1);
          e.ws.splice(at, 1);
        }
      } else if (at >= 0) e.ws[at] = o.w;
      else {
        e.ids.push(id);
        e.ws.push(o.w);
      }
      if (o.kind !== 'remove') placed.set(o.term, o.k);
    }
    const writes: AnyBulkWriteOperation<Chunk>[] = [...edited].map(([cid, e]) =>
      e.ids.length === 0
        ? { deleteOne: { filter: { _id: cid } } }
        : {
            replaceOne: {
              filter: { _id: cid },
              replacement: {
                _id: cid,
                t: e.term,
                k: e.k,
                n: e.ids.length,
                p: encodePostings(e.ids, e.ws),
              },
              upsert: true,
            },
          },
    );
    if (writes.length) await coll.bulkWrite(writes, { ordered: true });
  }

  if (record) {
    const list: Contribution[] = [...after].map(([t, w]) => [
      t,
      Math.fround(w),
      placed.get(t) ?? 0,
    ]);
    await contribOf(id).replaceOne({ _id: id }, contributionFields(list), { upsert: true });
    await docsOf(id).replaceOne({ _id: id }, record, { upsert: true });
    if (!old) await meta().updateOne({ _id: 'stats' }, { $inc: { docs: 1 } }, { upsert: true });
  } else if (old) {
    await docsOf(id).deleteOne({ _id: id });
    await contribOf(id).deleteOne({ _id: id });
    await meta().updateOne({ _id: 'stats' }, { $inc: { docs: -1 } }, { upsert: true });
  }
  const count = (k: Op['kind']) => ops.filter((o) => o.kind === k).length;
  return { added: count('add'), removed: count('remove'), changed: count('change') };
}

/** Postings of the given terms: one query per partition involved, in parallel. */
export async function postingsFor(terms: readonly string[]): Promise<TermPostings[]> {
  const byPartition = groupBy(terms, (t) => termPartition(t, SEARCH_TERM_PARTITIONS));
  const found = new Map<string, { ids: number[]; weights: number[] }>();
  await Promise.all(
    [...byPartition.values()].map(async (list) => {
      const chunks = await termsOf(list[0]!)
        .find(chunksOfTerms(list), { projection: { t: 1, p: 1 } })
        .toArray();
      for (const c of chunks) {
        const d = decodePostings(c.p);
        const cur = found.get(c.t);
        if (cur) {
          cur.ids.push(...d.ids);
          cur.weights.push(...d.weights);
        } else found.set(c.t, d);
      }
    }),
  );
  return terms.map((term) => ({ term, ...(found.get(term) ?? { ids: [], weights: [] }) }));
}

/** Index records of these ids, in the order given: one query per partition involved. */
export async function recordsFor(ids: readonly number[]): Promise<Map<number, IndexRecord>> {
  const out = new Map<number, IndexRecord>();
  const byPartition = groupBy(ids, (id) => docPartition(id, SEARCH_DOC_PARTITIONS));
  await Promise.all(
    [...byPartition.values()].map(async (list) => {
      const rows = await docsOf(list[0]!)
        .find({ _id: { $in: list } })
        .toArray();
      for (const r of rows) out.set(r._id, r);
    }),
  );
  return out;
}

export interface SearchResult extends Hit {
  record: IndexRecord;
}

/**
 * The best `limit` documents for these terms that pass `accept`, best first. Candidates are
 * ranked from the postings alone; records are read only for the few at the top.
 */
export async function searchTerms(
  terms: readonly string[],
  options: {
    limit: number;
    accept?: (r: IndexRecord, hit: Hit) => boolean;
    /** Consider at most this many ranked candidates (the filter may reject some). */
    candidates?: number;
  },
): Promise<{ results: SearchResult[]; ideal: number; totalDocs: number }> {
  if (terms.length === 0) return { results: [], ideal: 0, totalDocs: 0 };
  const [postings, totalDocs] = await Promise.all([postingsFor(terms), indexedDocCount()]);
  const hits = rank(postings, totalDocs, options.candidates ?? options.limit);
  const records = await recordsFor(hits.map((h) => h.id));
  const results: SearchResult[] = [];
  for (const hit of hits.sort(compareHits)) {
    const record = records.get(hit.id);
    if (!record) continue; // removed meanwhile
    if (options.accept && !options.accept(record, hit)) continue;
    results.push({ ...hit, record });
    if (results.length >= options.limit) break;
  }
  return { results, ideal: idealScore(postings, totalDocs), totalDocs };
}

/** Every index collection that exists (for a rebuild or a test's comparison). */
export async function indexCollectionNames(): Promise<string[]> {
  const all = await db().listCollections({}, { nameOnly: true }).toArray();
  return all
    .map((c) => c.name)
    .filter((n) => n === META || /^search_(terms|docs|contrib)_[0-9a-f]+$/.test(n))
    .sort();
}

export async function dropIndex(): Promise<void> {
  for (const name of await indexCollectionNames()) await db().collection(name).drop();
}

/**
 * Bulk writer for a rebuild: buffers per collection, inserts a collection's batch when it
 * is full, and everything once too much is held (with thousands of partitions, most
 * batches never fill up).
 */
export class BulkLoader {
  private buffers = new Map<string, Document[]>();
  private held = 0;
  constructor(
    private readonly batch = 2000,
    private readonly maxHeld = 100_000,
  ) {}

  async add(collection: string, doc: Document): Promise<void> {
    let buf = this.buffers.get(collection);
    if (!buf) this.buffers.set(collection, (buf = []));
    buf.push(doc);
    this.held++;
    if (buf.length >= this.batch) await this.flushOne(collection);
    else if (this.held >= this.maxHeld) await this.flush();
  }

  private async flushOne(collection: string) {
    const buf = this.buffers.get(collection);
    if (!buf?.length) return;
    this.buffers.set(collection, []);
    this.held -= buf.length;
    await (db().collection(collection) as Collection<Document>).insertMany(buf, {
      ordered: false,
    });
  }

  async flush(): Promise<void> {
    for (const name of [...this.buffers.keys()]) await this.flushOne(name);
  }
}

/**
 * Postings accumulated in memory for a rebuild, then written chunk by chunk. Each record
 * learns the chunk its posting lands in as it is added, so records and chunks agree.
 */
export class IndexBuilder {
  private readonly postings = new Map<string, { ids: number[]; ws: number[] }>();
  private docs = 0;
  constructor(private readonly loader: BulkLoader) {}

  async addDocument(
    id: number,
    record: RecordBody,
    weights: ReadonlyMap<string, number>,
  ): Promise<void> {
    const terms: Contribution[] = [];
    for (const [term, weight] of weights) {
      let p = this.postings.get(term);
      if (!p) this.postings.set(term, (p = { ids: [], ws: [] }));
      const w = Math.fround(weight);
      terms.push([term, w, Math.floor(p.ids.length / SEARCH_CHUNK_POSTINGS)]);
      p.ids.push(id);
      p.ws.push(w);
    }
    this.docs++;
    const partition = docPartition(id, SEARCH_DOC_PARTITIONS);
    await this.loader.add(docsCollectionName(partition), { ...record, _id: id });
    await this.loader.add(contribCollectionName(partition), {
      _id: id,
      ...contributionFields(terms),
    });
  }

  /** Write every postings chunk and the document count. */
  async finish(onChunk?: () => void): Promise<{ terms: number; docs: number }> {
    for (const [term, p] of this.postings) {
      const coll = termsCollectionName(termPartition(term, SEARCH_TERM_PARTITIONS));
      for (let k = 0; k * SEARCH_CHUNK_POSTINGS < p.ids.length; k++) {
        const ids = p.ids.slice(k * SEARCH_CHUNK_POSTINGS, (k + 1) * SEARCH_CHUNK_POSTINGS);
        const ws = p.ws.slice(k * SEARCH_CHUNK_POSTINGS, (k + 1) * SEARCH_CHUNK_POSTINGS);
        await this.loader.add(coll, {
          _id: chunkId(term, k),
          t: term,
          k,
          n: ids.length,
          p: encodePostings(ids, ws),
        });
        onChunk?.();
      }
    }
    await this.loader.flush();
    await meta().replaceOne({ _id: 'stats' }, { docs: this.docs }, { upsert: true });
    return { terms: this.postings.size, docs: this.docs };
  }
}

/**
 * The index's content independent of layout (chunking, order): term → sorted postings, and
 * id → sorted terms. Two indexes of the same data compare equal whatever built them.
 */
export async function indexSnapshot(): Promise<{
  docs: number;
  terms: Record<string, [number, number][]>;
  records: Record<string, [string, number][]>;
}> {
  const terms: Record<string, [number, number][]> = {};
  const records: Record<string, [string, number][]> = {};
  for (const name of await indexCollectionNames()) {
    if (name.startsWith('search_terms_')) {
      for (const c of await db().collection<Chunk>(name).find().toArray()) {
        const d = decodePostings(c.p);
        (terms[c.t] ??= []).push(...d.ids.map((id, i) => [id, d.weights[i]!] as [number, number]));
      }
    } else if (name.startsWith('search_contrib_')) {
      for (const r of await db().collection<ContributionDoc>(name).find().toArray())
        records[String(r._id)] = contributions(r)
          .map(([t, w]) => [t, w] as [string, number])
          .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    }
  }
  for (const list of Object.values(terms)) list.sort((a, b) => a[0] - b[0]);
  return { docs: await indexedDocCount(), terms, records };
}
