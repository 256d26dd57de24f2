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
 * Only the `index` queue's worker and `incidesk search --reindex` (which pauses that queue)
 * write. Writes are read-modify-write of whole chunks: the worker applies a batch of documents
 * in one transaction, so two batches that touch the same chunk conflict and one reruns
 * (without transactions, one index job runs at a time across processes; see src/app.ts).
 */
import type { Collection, Document } from 'mongodb';
import { SEARCH_CHUNK_POSTINGS, SEARCH_MAX_CHUNKS_PER_TERM } from '../constants.js';
import {
  chunkNumber,
  compareHits,
  decodePostings,
  encodePostings,
  idealScore,
  impactTier,
  rank,
  type Hit,
  type TermPostings,
} from '../domain/search.js';
import {
  chunksToRead,
  editPostings,
  type ChunkPostings,
  type Contribution,
  type DocumentChange,
} from '../domain/index-batch.js';
import { currentSession, db, writeAtCommit } from './db.js';
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
 * What re-indexing incidents reads, in one command: each incident, its messages (only the
 * fields that decide what is indexed) and its index entry's terms. Incidents that do not
 * exist are missing from the result.
 */
export async function incidentsToIndex<I, M>(
  numbers: readonly number[],
): Promise<Map<number, { incident: I; messages: M[]; indexed: IndexedTerms | null }>> {
  const rows = await Incident.aggregate<
    I & { _id: number; messages: M[]; indexed: IndexedTerms[] }
  >([
    { $match: { _id: { $in: [...numbers] } } },
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
  return new Map(
    rows.map(({ messages, indexed, ...incident }) => [
      incident._id,
      { incident: incident as I, messages, indexed: indexed[0] ?? null },
    ]),
  );
}

/** One document's update: what a hit shows (null: remove it) and its term weights. */
export interface IndexUpdate {
  id: number;
  record: RecordBody | null;
  weights: ReadonlyMap<string, number>;
  /** The document's entry as the caller read it (null: none); undefined: read it here. */
  indexed?: IndexedTerms | null;
}

/**
 * `$unionWith` stages per aggregation when reading tail chunks: MongoDB allows 1,000 stages a
 * pipeline, and a batch of new incidents adds postings to a few hundred terms.
 */
const TAILS_PER_READ = 500;

/**
 * The chunks `chunksToRead` names: those by id, and the last chunk of each term's tier, each
 * one entry of the unique { t, k } index, in one aggregation (one more per TAILS_PER_READ).
 */
async function readChunks(
  held: readonly { term: string; k: number }[],
  tails: readonly { term: string; tier: number }[],
): Promise<ChunkPostings[]> {
  const session = currentSession();
  const tailOf = ({ term, tier }: { term: string; tier: number }) => ({
    $unionWith: {
      coll: postings().collectionName,
      pipeline: [
        { $match: { t: term, k: { $gte: chunkNumber(tier, 0), $lt: chunkNumber(tier + 1, 0) } } },
        { $sort: { k: -1 } },
        { $limit: 1 },
      ],
    },
  });
  const groups: (typeof tails)[] = [];
  for (let i = 0; i < tails.length; i += TAILS_PER_READ)
    groups.push(tails.slice(i, i + TAILS_PER_READ));
  const read: Chunk[] = [];
  for (const [g, group] of (groups.length ? groups : [[]]).entries()) {
    const ids = g === 0 ? held.map((h) => chunkId(h.term, h.k)) : [];
    read.push(
      ...(await postings()
        .aggregate<Chunk>([{ $match: { _id: { $in: ids } } }, ...group.map(tailOf)], { session })
        .toArray()),
    );
  }
  // A chunk can be both held and a tail: keep one copy.
  const unique = new Map(read.map((c) => [c._id, c] as const));
  return [...unique.values()].map((c) => ({ term: c.t, k: c.k, ...decodePostings(c.p) }));
}

/**
 * Make the index say what each update says about its document, for a whole batch at once:
 * one read of every chunk the batch touches, then the writes to postings, term counts,
 * entries and the document count, whatever the batch's size: one command each, or one for
 * all at the end of a transaction with a server that takes writes across collections. Writes
 * are read-modify-write of whole chunks, so the caller runs this in a transaction (concurrent
 * batches that touch the same chunk conflict and one reruns) or alone (without transactions:
 * one index job at a time across processes).
 */
export async function applyDocuments(
  updates: readonly IndexUpdate[],
): Promise<Map<number, { added: number; removed: number; changed: number }>> {
  const session = currentSession();
  const unread = updates.filter((u) => u.indexed === undefined).map((u) => u.id);
  const entries = new Map(
    unread.length === 0
      ? []
      : (
          await documents()
            .find({ _id: { $in: unread } }, { projection: INDEXED_TERMS, session })
            .toArray()
        ).map((e) => [e._id, e] as const),
  );
  const changes: DocumentChange[] = updates.map((u) => {
    const old = u.indexed === undefined ? entries.get(u.id) : u.indexed;
    return {
      id: u.id,
      before: old ? contributions(old) : null,
      after: u.record ? u.weights : null,
    };
  });
  const { held, tails } = chunksToRead(changes);
  const read = held.length + tails.length ? await readChunks(held, tails) : [];
  const edit = editPostings(changes, read, SEARCH_CHUNK_POSTINGS);

  // Held to the end of the batch's transaction: one command with a server that takes writes
  // across collections (`writeAtCommit`). Ordered, so the term counts are moved before the
  // terms that fell to none are dropped.
  await writeAtCommit({
    into: postings(),
    ops: edit.chunks.map(({ term, k, ids, weights }) => {
      const _id = chunkId(term, k);
      return ids.length === 0
        ? { deleteOne: { filter: { _id } } }
        : {
            replaceOne: {
              filter: { _id },
              replacement: { _id, t: term, k, n: ids.length, p: encodePostings(ids, weights) },
              upsert: true,
            },
          };
    }),
  });
  const fewer = [...edit.df].filter(([, d]) => d < 0).map(([t]) => t);
  await writeAtCommit({
    into: termStats(),
    ops: [
      ...[...edit.df].map(([t, d]) => ({
        updateOne: { filter: { _id: t }, update: { $inc: { df: d } }, upsert: true },
      })),
      ...(fewer.length
        ? [{ deleteMany: { filter: { _id: { $in: fewer }, df: { $lte: 0 } } } }]
        : []),
    ],
  });
  const records = new Map(updates.map((u) => [u.id, u.record] as const));
  await writeAtCommit({
    into: documents(),
    ops: [...edit.entries].map(([id, list]) => {
      const record = records.get(id);
      return list && record
        ? {
            replaceOne: {
              filter: { _id: id },
              replacement: { ...record, _id: id, ...contributionFields(list) },
              upsert: true,
            },
          }
        : { deleteOne: { filter: { _id: id } } };
    }),
  });
  if (edit.docs !== 0)
    await writeAtCommit({
      into: meta(),
      ops: [
        {
          updateOne: {
            filter: { _id: 'stats' },
            update: { $inc: { docs: edit.docs } },
            upsert: true,
          },
        },
      ],
    });
  return edit.counts;
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
