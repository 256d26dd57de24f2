/**
 * Our own inverted index (the server's `$text` is not portable, and regular-expression scans
 * do not scale), in three ordinary collections:
 *
 * - `search_postings`: a term's postings in chunks `{ _id: "term#k", t: term, k, n, p }`, `p`
 *   packed (id int32 + weight float32), at most SEARCH_CHUNK_POSTINGS per chunk so no
 *   document nears the 16 MB limit; `k` orders a term's chunks by impact (see impactTier),
 *   and a query reads the first SEARCH_MAX_CHUNKS_PER_TERM of each term through the unique
 *   index { t, k };
 * - `search_terms`: `{ _id: term, df }`, how many documents hold the term (for idf, as a
 *   query may not read all of a common term's postings);
 * - `search_documents`: one per indexed incident or known error: what a hit shows, plus the
 *   terms it contributed (with the chunk holding each posting), so a re-index removes exactly
 *   its stale postings;
 * - `search_meta`: the number of indexed documents (for idf).
 *
 * Writes are read-modify-write of whole chunks, so they are serialised: only the `index`
 * queue's worker (global concurrency 1) and `incidesk search --reindex` (which pauses that
 * queue) write.
 */
import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import { SEARCH_CHUNK_POSTINGS, SEARCH_MAX_CHUNKS_PER_TERM } from '../constants.js';
import {
  chunkNumber,
  compareHits,
  decodePostings,
  encodePostings,
  idealScore,
  impactTier,
  rank,
  tierOfChunk,
  type Hit,
  type TermPostings,
} from '../domain/search.js';
import { db } from './db.js';
import { Incident, SearchDocument, SearchPosting, TimelineEntry } from './models.js';

/** What a hit shows. */
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

/** Every term a document put in the index, with its weight and the chunk holding the posting. */
interface ContributionFields {
  terms: string[];
  weights: number[];
  chunks: number[];
}
type DocumentEntry = IndexRecord & ContributionFields;

type Contribution = [term: string, weight: number, chunk: number];
export type RecordBody = Omit<IndexRecord, '_id'>;

const contributions = (r: ContributionFields): Contribution[] =>
  r.terms.map((t, i) => [t, r.weights[i]!, r.chunks[i]!]);
const contributionFields = (list: readonly Contribution[]): ContributionFields => ({
  terms: list.map((c) => c[0]),
  weights: list.map((c) => c[1]),
  chunks: list.map((c) => c[2]),
});
const RECORD_ONLY = { terms: 0, weights: 0, chunks: 0 } as const;
const INDEXED_TERMS = { terms: 1, weights: 1, chunks: 1 } as const;
/** What a document put in the index: its terms, their weights and the chunks holding them. */
export type IndexedTerms = ContributionFields;

interface Chunk {
  _id: string;
  t: string;
  k: number;
  n: number;
  p: Uint8Array;
}

const META = 'search_meta';
const postings = () => SearchPosting.collection as unknown as Collection<Chunk>;
const documents = () => SearchDocument.collection as unknown as Collection<DocumentEntry>;
const meta = () => db().collection<{ _id: string; docs: number }>(META);
const termStats = () => db().collection<{ _id: string; df: number }>('search_terms');
const chunkId = (term: string, k: number) => `${term}#${k}`;

export async function indexedDocCount(): Promise<number> {
  return (await meta().findOne({ _id: 'stats' }))?.docs ?? 0;
}

/**
 * What re-indexing an incident reads, in one command: the incident, its messages (only the
 * fields that decide what is indexed) and its index entry's terms.
 */
export async function incidentToIndex<I, M>(
  number: number,
): Promise<{ incident: I; messages: M[]; indexed: IndexedTerms | null } | null> {
  const [row] = await Incident.aggregate<I & { messages: M[]; indexed: IndexedTerms[] }>([
    { $match: { _id: number } },
    {
      $lookup: {
        from: TimelineEntry.collection.collectionName,
        localField: '_id',
        foreignField: 'incidentNumber',
        as: 'messages',
        pipeline: [
          { $match: { type: 'message' } },
          { $sort: { at: 1, _id: 1 } },
          { $project: { type: 1, direction: 1, automatic: 1, text: 1 } },
        ],
      },
    },
    {
      $lookup: {
        from: SearchDocument.collection.collectionName,
        localField: '_id',
        foreignField: '_id',
        as: 'indexed',
        pipeline: [{ $project: INDEXED_TERMS }],
      },
    },
  ]);
  if (!row) return null;
  const { messages, indexed, ...incident } = row;
  return { incident: incident as I, messages, indexed: indexed[0] ?? null };
}

export async function getIndexRecord(id: number): Promise<IndexRecord | null> {
  return documents().findOne({ _id: id }, { projection: RECORD_ONLY });
}

/**
 * Make the index say what `weights` say about document `id` (null: remove it). Only the
 * postings that differ are touched: one read of the affected chunks and one bulk write.
 */
export async function applyDocument(
  id: number,
  record: RecordBody | null,
  weights: ReadonlyMap<string, number>,
  /** The document's entry as the caller read it (null: none), to save reading it here. */
  indexed?: IndexedTerms | null,
): Promise<{ added: number; removed: number; changed: number }> {
  const old =
    indexed !== undefined
      ? indexed
      : await documents().findOne({ _id: id }, { projection: INDEXED_TERMS });
  const before = new Map(
    (old ? contributions(old) : []).map(([t, w, k]) => [t, { w, k }] as const),
  );
  const after = record ? weights : new Map<string, number>();
  type Op = { term: string; kind: 'add' | 'remove' | 'change'; w: number; k: number };
  const ops: Op[] = [];
  let changed = 0;
  for (const [term, prev] of before) {
    const w = after.get(term);
    if (w === undefined) ops.push({ term, kind: 'remove', w: prev.w, k: prev.k });
    else if (Math.fround(w) !== prev.w) {
      changed++;
      // A weight that changes tier moves to a chunk of its new tier.
      if (impactTier(w) === tierOfChunk(prev.k)) ops.push({ term, kind: 'change', w, k: prev.k });
      else
        ops.push({ term, kind: 'remove', w: prev.w, k: prev.k }, { term, kind: 'add', w, k: -1 });
    }
  }
  const newTerms = [...after.keys()].filter((t) => !before.has(t));
  const goneTerms = [...before.keys()].filter((t) => !after.has(t));
  for (const term of newTerms) ops.push({ term, kind: 'add', w: after.get(term)!, k: -1 });

  const placed = new Map<string, number>(); // term → chunk now holding our posting
  for (const [term, prev] of before) if (after.has(term)) placed.set(term, prev.k);

  // One read for every chunk this change touches: those holding our postings now, and the
  // last chunk of each added term's tier (where the addition goes if it has room, else into a
  // new one after it). Each `$unionWith` reads one entry of the { t, k } index; a document
  // has at most MAX_TERMS_PER_DOC (400) terms, well inside MongoDB's 1000 stages a pipeline.
  const adds = ops.filter((o) => o.kind === 'add');
  const tiers = new Map(adds.map((o) => [`${o.term}#${impactTier(o.w)}`, o] as const));
  const held = [...new Set(ops.filter((o) => o.kind !== 'add').map((o) => chunkId(o.term, o.k)))];
  const read =
    ops.length === 0
      ? []
      : await postings()
          .aggregate<Chunk>([
            { $match: { _id: { $in: held } } },
            ...[...tiers.values()].map((o) => {
              const tier = impactTier(o.w);
              return {
                $unionWith: {
                  coll: postings().collectionName,
                  pipeline: [
                    {
                      $match: {
                        t: o.term,
                        k: { $gte: chunkNumber(tier, 0), $lt: chunkNumber(tier + 1, 0) },
                      },
                    },
                    { $sort: { k: -1 } },
                    { $limit: 1 },
                  ],
                },
              };
            }),
          ])
          .toArray();
  const chunks = new Map(read.map((c) => [c._id, c] as const));
  const lastOfTier = new Map<string, Chunk>();
  for (const c of chunks.values()) {
    const key = `${c.t}#${tierOfChunk(c.k)}`;
    if ((lastOfTier.get(key)?.k ?? -1) < c.k) lastOfTier.set(key, c);
  }
  for (const o of adds) {
    const tier = impactTier(o.w);
    const last = lastOfTier.get(`${o.term}#${tier}`);
    o.k = !last ? chunkNumber(tier, 0) : last.n < SEARCH_CHUNK_POSTINGS ? last.k : last.k + 1;
  }
  const edited = new Map<string, { term: string; k: number; ids: number[]; ws: number[] }>();
  for (const o of ops) {
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
  if (writes.length) await postings().bulkWrite(writes, { ordered: true });
  const dfChanges = [
    ...newTerms.map((t) => [t, 1] as const),
    ...goneTerms.map((t) => [t, -1] as const),
  ];
  if (dfChanges.length) {
    await termStats().bulkWrite(
      dfChanges.map(([t, d]) => ({
        updateOne: { filter: { _id: t }, update: { $inc: { df: d } }, upsert: true },
      })),
      { ordered: false },
    );
    if (goneTerms.length)
      await termStats().deleteMany({ _id: { $in: goneTerms }, df: { $lte: 0 } });
  }

  if (record) {
    const list: Contribution[] = [...after].map(([t, w]) => [
      t,
      Math.fround(w),
      placed.get(t) ?? 0,
    ]);
    await documents().replaceOne(
      { _id: id },
      { ...record, ...contributionFields(list) },
      { upsert: true },
    );
    if (!old) await meta().updateOne({ _id: 'stats' }, { $inc: { docs: 1 } }, { upsert: true });
  } else if (old) {
    await documents().deleteOne({ _id: id });
    await meta().updateOne({ _id: 'stats' }, { $inc: { docs: -1 } }, { upsert: true });
  }
  return { added: newTerms.length, removed: goneTerms.length, changed };
}

/** A term's highest-impact chunks: one read of the unique index { t, k }. */
const topChunksOf = (term: string) => [
  { $match: { t: term } },
  { $sort: { k: -1 } },
  { $limit: SEARCH_MAX_CHUNKS_PER_TERM },
  { $project: { _id: 0, t: 1, p: 1 } },
];

type QueryRow = { t: string; p: Uint8Array } | { _id: string; df: number } | { docs: number };

/**
 * Everything ranking needs for these terms in one aggregation, one round trip whatever the
 * number of terms: each term's highest-impact chunks (one `$unionWith` per term, each an
 * indexed read), the terms' document frequencies and the number of indexed documents.
 */
async function readForQuery(
  terms: readonly string[],
): Promise<{ postings: TermPostings[]; totalDocs: number }> {
  const [first, ...rest] = terms;
  const rows = await postings()
    .aggregate<QueryRow>([
      ...topChunksOf(first!),
      ...rest.map((t) => ({
        $unionWith: { coll: postings().collectionName, pipeline: topChunksOf(t) },
      })),
      {
        $unionWith: {
          coll: termStats().collectionName,
          pipeline: [{ $match: { _id: { $in: [...terms] } } }, { $project: { df: 1 } }],
        },
      },
      {
        $unionWith: {
          coll: META,
          pipeline: [{ $match: { _id: 'stats' } }, { $project: { _id: 0, docs: 1 } }],
        },
      },
    ])
    .toArray();
  const chunks = new Map<string, { ids: number[]; weights: number[] }>();
  const df = new Map<string, number>();
  let totalDocs = 0;
  for (const row of rows) {
    if ('p' in row) {
      const d = decodePostings(row.p);
      const list = chunks.get(row.t) ?? { ids: [], weights: [] };
      list.ids.push(...d.ids);
      list.weights.push(...d.weights);
      chunks.set(row.t, list);
    } else if ('df' in row) df.set(row._id, row.df);
    else totalDocs = row.docs;
  }
  const postingsOfTerms = terms.map((term) => {
    const { ids, weights } = chunks.get(term) ?? { ids: [], weights: [] };
    return { term, ids, weights, docFreq: Math.max(df.get(term) ?? 0, ids.length) };
  });
  return { postings: postingsOfTerms, totalDocs };
}

/** Index records of these ids. */
export async function recordsFor(ids: readonly number[]): Promise<Map<number, IndexRecord>> {
  const rows = await documents()
    .find({ _id: { $in: [...ids] } }, { projection: RECORD_ONLY })
    .toArray();
  return new Map(rows.map((r) => [r._id, r]));
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
  const { postings, totalDocs } = await readForQuery(terms);
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

/** Empty the index (a rebuild starts from nothing). */
export async function dropIndex(): Promise<void> {
  await postings().deleteMany({});
  await termStats().deleteMany({});
  await documents().deleteMany({});
  await meta().deleteMany({});
}

/** Bulk writer for a rebuild: buffers per collection and inserts full batches. */
export class BulkLoader {
  private buffers = new Map<Collection<Document>, Document[]>();
  constructor(private readonly batch = 2000) {}

  async add(collection: Collection<Document>, doc: Document): Promise<void> {
    let buf = this.buffers.get(collection);
    if (!buf) this.buffers.set(collection, (buf = []));
    buf.push(doc);
    if (buf.length >= this.batch) await this.flushOne(collection);
  }

  private async flushOne(collection: Collection<Document>) {
    const buf = this.buffers.get(collection);
    if (!buf?.length) return;
    this.buffers.set(collection, []);
    await collection.insertMany(buf, { ordered: false });
  }

  async flush(): Promise<void> {
    for (const coll of [...this.buffers.keys()]) await this.flushOne(coll);
  }
}

/**
 * Postings accumulated in memory for a rebuild, then written chunk by chunk. Each document
 * learns the chunk its posting lands in as it is added, so documents and chunks agree.
 */
export class IndexBuilder {
  /** term → tier → postings of that tier */
  private readonly postings = new Map<string, Map<number, { ids: number[]; ws: number[] }>>();
  private docs = 0;
  constructor(private readonly loader: BulkLoader) {}

  async addDocument(
    id: number,
    record: RecordBody,
    weights: ReadonlyMap<string, number>,
  ): Promise<void> {
    const terms: Contribution[] = [];
    for (const [term, weight] of weights) {
      let tiers = this.postings.get(term);
      if (!tiers) this.postings.set(term, (tiers = new Map()));
      const w = Math.fround(weight);
      const tier = impactTier(w);
      let p = tiers.get(tier);
      if (!p) tiers.set(tier, (p = { ids: [], ws: [] }));
      terms.push([term, w, chunkNumber(tier, Math.floor(p.ids.length / SEARCH_CHUNK_POSTINGS))]);
      p.ids.push(id);
      p.ws.push(w);
    }
    this.docs++;
    await this.loader.add(documents() as unknown as Collection<Document>, {
      ...record,
      _id: id,
      ...contributionFields(terms),
    });
  }

  /** Write every postings chunk and the document count. */
  async finish(onChunk?: () => void): Promise<{ terms: number; docs: number }> {
    const coll = postings() as unknown as Collection<Document>;
    const stats = termStats() as unknown as Collection<Document>;
    for (const [term, tiers] of this.postings) {
      let df = 0;
      for (const [tier, p] of tiers) {
        df += p.ids.length;
        for (let j = 0; j * SEARCH_CHUNK_POSTINGS < p.ids.length; j++) {
          const ids = p.ids.slice(j * SEARCH_CHUNK_POSTINGS, (j + 1) * SEARCH_CHUNK_POSTINGS);
          const ws = p.ws.slice(j * SEARCH_CHUNK_POSTINGS, (j + 1) * SEARCH_CHUNK_POSTINGS);
          const k = chunkNumber(tier, j);
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
      await this.loader.add(stats, { _id: term, df });
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
  df: Record<string, number>;
}> {
  const terms: Record<string, [number, number][]> = {};
  const records: Record<string, [string, number][]> = {};
  for (const c of await postings().find().toArray()) {
    const d = decodePostings(c.p);
    (terms[c.t] ??= []).push(...d.ids.map((id, i) => [id, d.weights[i]!] as [number, number]));
  }
  for (const r of await documents().find().toArray())
    records[String(r._id)] = contributions(r)
      .map(([t, w]) => [t, w] as [string, number])
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  for (const list of Object.values(terms)) list.sort((a, b) => a[0] - b[0]);
  const df: Record<string, number> = {};
  for (const t of await termStats().find().toArray()) df[t._id] = t.df;
  return { docs: await indexedDocCount(), terms, records, df };
}
