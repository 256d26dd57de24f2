/**
 * Search benchmark: query latency of our partitioned inverted index at a large size, next to
 * raw figures of the same database measured in the same run.
 *
 *   1. seed SEARCH_BENCH_DOCS (default 1,000,000) incidents' index entries in bulk: postings
 *      built in memory (IndexBuilder), written with insertMany in 2000-document batches;
 *   2. raw: a flat collection of as many tiny documents; one findOne by _id on it, and one
 *      on a single index partition (what a lookup of ours costs);
 *   3. 20 queries (2–4 terms, rare to common) through the real search path: p50/p95; plus
 *      "similar incidents" style 12-term queries.
 *
 *   npm run bench:search          (MONGODB_URI to use an existing server; else SecantusDB is started)
 */
import { performance } from 'node:perf_hooks';
import { SEARCH_DOC_PARTITIONS } from '../src/constants.js';
import { docPartition } from '../src/domain/search.js';
import { connectStore, db, disconnectStore } from '../src/store/db.js';
import {
  BulkLoader,
  docsCollectionName,
  dropIndex,
  IndexBuilder,
  searchTerms,
} from '../src/store/search-index.js';
import { startServices, type RunningServices } from '../test/support/services.js';
import { bar, note, num, round, summary, table, withDatabase } from './util.js';

const DOCS = num('SEARCH_BENCH_DOCS', 1_000_000);
const VOCABULARY = num('SEARCH_BENCH_VOCABULARY', 50_000);
const TERMS_PER_DOC = 15;

/** Deterministic pseudo-random numbers. */
function prng(seed: number) {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Zipf-like term choice: term i is drawn about 1/(i+1) as often as term 0. */
function zipf(rnd: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(Math.exp(rnd() * Math.log(n + 1)) - 1));
}
const word = (i: number) => `t${i.toString(36)}`;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

async function main() {
  let running: RunningServices | undefined;
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    running = await startServices();
    uri = running.services.mongoUri;
  }
  await connectStore(withDatabase(uri, `bench_search_${Date.now()}`));
  try {
    // 1. Seed the index.
    await dropIndex();
    const rnd = prng(7);
    const builder = new IndexBuilder(new BulkLoader(2000));
    const seedBar = bar('index records', DOCS);
    const t0 = performance.now();
    for (let id = 1; id <= DOCS; id++) {
      const weights = new Map<string, number>();
      while (weights.size < TERMS_PER_DOC)
        weights.set(word(zipf(rnd, VOCABULARY)), 0.3 + rnd() * 1.8);
      await builder.addDocument(
        id,
        {
          kind: 'incident',
          ref: `INC-${String(id).padStart(6, '0')}`,
          title: `synthetic incident ${id}`,
          status: id % 3 ? 'resolved' : 'new',
          at: new Date(),
          ...(id % 3 ? { resolution: { cause: 'synthetic cause', workaround: 'synthetic' } } : {}),
        },
        weights,
      );
      if (id % 1000 === 0) seedBar.update(id);
    }
    seedBar.update(DOCS);
    seedBar.stop();
    const built = await builder.finish();
    const seedSeconds = (performance.now() - t0) / 1000;
    note(`seeded ${built.docs} documents, ${built.terms} terms in ${round(seedSeconds)} s`);

    // 2. Raw figures.
    const flat = db().collection<{ _id: number }>('bench_flat');
    await flat.drop().catch(() => undefined);
    const flatBar = bar('flat collection', DOCS);
    for (let i = 1; i <= DOCS; i += 2000) {
      const batch = [];
      for (let j = i; j < Math.min(i + 2000, DOCS + 1); j++) batch.push({ _id: j });
      await flat.insertMany(batch, { ordered: false });
      flatBar.update(Math.min(i + 1999, DOCS));
    }
    flatBar.stop();
    note('raw lookups');
    const flatLookups: number[] = [];
    for (const id of [DOCS >> 1, DOCS >> 2, DOCS - 1])
      flatLookups.push((await timed(() => flat.findOne({ _id: id })))[1]);
    const partition = db().collection<{ _id: number }>(
      docsCollectionName(docPartition(DOCS >> 1, SEARCH_DOC_PARTITIONS)),
    );
    const partitionLookups: number[] = [];
    for (const id of [
      DOCS >> 1,
      (DOCS >> 1) + SEARCH_DOC_PARTITIONS,
      (DOCS >> 1) - SEARCH_DOC_PARTITIONS,
    ])
      partitionLookups.push((await timed(() => partition.findOne({ _id: id })))[1]);

    // 3. Queries: rare (high ids), middling and common (low ids) terms.
    const qrnd = prng(99);
    const pick = (lo: number, hi: number) => word(lo + Math.floor(qrnd() * (hi - lo)));
    const queries: string[][] = [];
    for (let i = 0; i < 20; i++) {
      const n = 2 + (i % 3);
      const q: string[] = [];
      for (let j = 0; j < n; j++)
        q.push(j === 0 && i % 4 === 0 ? pick(0, 50) : pick(500, VOCABULARY));
      queries.push(q);
    }
    note('queries');
    const latencies: number[] = [];
    const resultCounts: number[] = [];
    for (const q of queries) {
      const [r, ms] = await timed(() => searchTerms(q, { limit: 10 }));
      latencies.push(ms);
      note(`  ${q.join(' ')}: ${round(ms)} ms, ${r.results.length} results`);
      resultCounts.push(r.results.length);
    }
    const similar: number[] = [];
    for (let i = 0; i < 10; i++) {
      const q = Array.from({ length: 12 }, () => pick(100, VOCABULARY));
      similar.push(
        (
          await timed(() =>
            searchTerms(q, { limit: 20, candidates: 60, accept: (r) => Boolean(r.resolution) }),
          )
        )[1],
      );
    }

    const s = summary(latencies);
    const sim = summary(similar);
    const flatS = summary(flatLookups);
    const partS = summary(partitionLookups);
    process.stdout.write(
      `${table([
        ['measure', 'result'],
        ['indexed documents', String(built.docs)],
        ['distinct terms', String(built.terms)],
        ['seeding (bulk, in-memory postings)', `${round(seedSeconds)} s`],
        ['search, 20 queries of 2-4 terms: p50 / p95', `${s.p50} / ${s.p95} ms`],
        ['similar-incidents lookup, 12 terms: p50 / p95', `${sim.p50} / ${sim.p95} ms`],
        [`raw: findOne by _id on a ${DOCS}-doc collection (median of 3)`, `${flatS.p50} ms`],
        [
          `raw: findOne by _id on one index partition (~${Math.round(DOCS / SEARCH_DOC_PARTITIONS)} docs)`,
          `${partS.p50} ms`,
        ],
      ])}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        docs: built.docs,
        terms: built.terms,
        seedSeconds: round(seedSeconds),
        searchMs: s,
        similarMs: sim,
        rawFlatFindByIdMs: flatS.p50,
        rawPartitionFindByIdMs: partS.p50,
        meanResults: round(resultCounts.reduce((a, b) => a + b, 0) / resultCounts.length),
      })}\n`,
    );
    await db().dropDatabase();
  } finally {
    await disconnectStore();
    await running?.stop();
  }
}

await main();
