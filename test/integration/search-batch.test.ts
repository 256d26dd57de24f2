/**
 * Index jobs that come due together are applied as batches, on real servers: many incidents
 * queued at once, sharing terms, are each found by search afterwards, in far fewer database
 * commands than one job at a time, and the index equals a rebuild from scratch; so it does
 * after a second round that changes and removes documents in the same batches, and after two
 * worker processes indexed at once and one of them was killed with SIGKILL in the middle.
 */
import type { CommandStartedEvent } from 'mongodb';
import mongoose from 'mongoose';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexDocuments, queueIndex, rebuildIndex, search } from '../../src/actions/search.js';
import { formatIncidentId } from '../../src/domain/tokens.js';
import { openQueues, type Queues } from '../../src/queues.js';
import { currentActor } from '../../src/store/audit.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { createKnownError } from '../../src/store/known-errors.js';
import { Incident, TimelineEntry } from '../../src/store/models.js';
import { applyDocuments, indexedDocCount, indexSnapshot } from '../../src/store/search-index.js';
import { monitoredUri } from '../support/db-commands.js';
import { testEnv, useTestApp, waitUntil, type TestEnv } from '../support/harness.js';
import { spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { insertCorpus, type Seed } from '../support/seed-incidents.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const TOPICS = ['printer offline', 'vpn drops hourly', 'mailbox quota full', 'laptop boots slowly'];
/** A word only incident `n` has, so a search for it must find exactly that incident. */
const marker = (n: number) => `qz${n}x`;

/** Incidents that share most of their words (topics, "floor", "again") and one marker each. */
function seeds(from: number, to: number): Seed[] {
  const all: Seed[] = [];
  for (let n = from; n <= to; n++) {
    const topic = TOPICS[n % TOPICS.length]!;
    all.push({
      number: n,
      subject: `${topic} on floor ${n % 7}`,
      bodies: [`The ${topic} again, ticket ${marker(n)}. Also ${TOPICS[(n + 1) % TOPICS.length]}.`],
      // Closed: nothing else (triage's recovery, the SLA sweep) touches them meanwhile.
      status: 'closed',
      priority: 'P3',
      group: 'desk',
      customer: `user${n}@acme.example`,
      createdAt: new Date(Date.UTC(2026, 10, 1) + n * 60_000),
    });
  }
  return all;
}

const queueAll = async (queues: Pick<Queues, 'index'>, numbers: number[], cause: string) => {
  await Promise.all(numbers.map((id) => queueIndex({ queues }, { kind: 'incident', id }, cause)));
};

const indexIdle = (queues: Pick<Queues, 'index'>) =>
  waitUntil('index queue idle', async () => {
    const c = await queues.index.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(c).every((n) => n === 0);
  });

/** Every incident found first by its marker word; the index equal to a rebuild from scratch. */
async function expectSearchableAndRebuildable(numbers: number[]) {
  for (const n of numbers)
    expect((await search(marker(n), 3)).map((r) => r.record.ref)).toEqual([formatIncidentId(n)]);
  const incremental = await indexSnapshot();
  await rebuildIndex();
  expect(await indexSnapshot()).toEqual(incremental);
}

describe('index jobs that come due together are applied together', () => {
  const h = useTestApp({
    env: {
      MONGODB_URI: monitoredUri('search_batch'),
      INCIDESK_SLA_SWEEP_SECONDS: '3600',
    },
  });
  /** The index worker's database commands while `fn` runs (its jobs run as actor `index`). */
  const indexCommands = async (fn: () => Promise<void>) => {
    const seen: string[] = [];
    const count = (e: CommandStartedEvent) => {
      const { actor } = currentActor();
      if (actor.kind === 'worker' && actor.id === 'index')
        seen.push(`${e.commandName} ${String(e.command[e.commandName])}`);
    };
    const client = mongoose.connection.getClient();
    client.on('commandStarted', count);
    try {
      await fn();
    } finally {
      client.off('commandStarted', count);
    }
    return seen;
  };

  const FIRST = 150;

  it('indexes 150 incidents and 2 known errors queued at once in a few batches', async () => {
    await insertCorpus(seeds(1, FIRST));
    const kes = [
      await createKnownError({
        title: 'Printer offline after driver update',
        cause: 'driver 7.3 drops the network port',
        workaround: 'roll back the printer driver',
      }),
      await createKnownError({
        title: 'VPN drops hourly',
        cause: 'key renegotiation fails',
        workaround: 'reconnect',
      }),
    ];
    const numbers = Array.from({ length: FIRST }, (_, i) => i + 1);
    const commands = await indexCommands(async () => {
      await Promise.all([
        queueAll(h.app.ctx.queues, numbers, 'seeded'),
        ...kes.map((ke) => queueIndex(h.app.ctx, { kind: 'known-error', id: ke._id }, 'created')),
      ]);
      await waitUntil('all indexed', async () => (await indexedDocCount()) === FIRST + 2);
      await indexIdle(h.app.ctx.queues);
    });
    // One job at a time costs 6 commands a document; a batch about 7 whatever its size.
    const batches = commands.filter((c) => c === 'aggregate incidents').length;
    console.log(
      `${FIRST + 2} documents indexed in ${batches} batches, ${commands.length} commands`,
    );
    expect(batches).toBeLessThanOrEqual(FIRST / 5);
    expect(commands.length / (FIRST + 2)).toBeLessThan(1.5);
    // Terms shared by every batch's documents: one posting each, counted once each.
    const snapshot = await indexSnapshot();
    expect(snapshot.terms.floor).toHaveLength(FIRST);
    expect(snapshot.df.floor).toBe(FIRST);
    expect(snapshot.terms.printer!.map(([id]) => id)).toContain(-1);
    await expectSearchableAndRebuildable(numbers);
    expect((await search('roll back printer driver', 1))[0]?.record.ref).toBe('KE-0001');
  });

  it('changes and removes documents in the same batches, and still equals a rebuild', async () => {
    const changed = [2, 3, 5, 8, 13, 21, 34, 55, 89, 144];
    for (const n of changed)
      await TimelineEntry.updateOne(
        { _id: `seed-msg-${n}-0` },
        { $set: { text: `Now the scanner jams, ticket ${marker(n)}.` } },
      );
    const removed = [7, 77, 147];
    await Incident.deleteMany({ _id: { $in: removed } });
    await insertCorpus(seeds(FIRST + 1, FIRST + 40));
    const added = Array.from({ length: 40 }, (_, i) => FIRST + 1 + i);
    await queueAll(h.app.ctx.queues, [...changed, ...removed, ...added], 'edited');
    await waitUntil('removed and added', async () => (await indexedDocCount()) === FIRST + 39);
    await indexIdle(h.app.ctx.queues);

    expect(
      (await search('scanner jams', 20)).map((r) => r.record._id).sort((a, b) => a - b),
    ).toEqual(changed);
    for (const n of removed) expect(await search(marker(n), 3)).toEqual([]);
    const kept = Array.from({ length: FIRST + 40 }, (_, i) => i + 1).filter(
      (n) => !removed.includes(n),
    );
    await expectSearchableAndRebuildable(kept);
  });
  it('applies two batches that touch the same chunks at once without losing a posting', async () => {
    // What two processes do when their batches overlap: both read the same tail chunks of the
    // shared terms; their transactions conflict and one reruns on what the other wrote.
    const from = FIRST + 41;
    await insertCorpus(seeds(from, from + 59));
    const jobs = Array.from({ length: 60 }, (_, i) => ({
      kind: 'incident' as const,
      id: from + i,
    }));
    const results = await Promise.all([
      indexDocuments(h.app.ctx, jobs.slice(0, 30)),
      indexDocuments(h.app.ctx, jobs.slice(30)),
    ]);
    expect(results.flat().every((r) => r.added > 0)).toBe(true);
    const snapshot = await indexSnapshot();
    expect(snapshot.terms.floor!.map(([id]) => id)).toEqual(
      expect.arrayContaining(jobs.map((j) => j.id)),
    );
    await expectSearchableAndRebuildable(jobs.map((j) => j.id));
  });

  it('reads the last chunks of more terms than one aggregation may union', async () => {
    // 700 terms, each already holding a posting: the batch's tails take two aggregations,
    // and each new posting must join the chunk already there, not replace it.
    const before = await indexSnapshot();
    const terms = Array.from({ length: 700 }, (_, i) => `wide${i}term`);
    const weights = new Map(terms.map((t) => [t, 1] as const));
    const record = (ref: string) => ({
      kind: 'incident' as const,
      ref,
      title: ref,
      status: 'closed',
      at: new Date(),
    });
    await applyDocuments([{ id: 900_001, record: record('wide-1'), weights }]);
    await applyDocuments([{ id: 900_002, record: record('wide-2'), weights }]);
    const wide = await indexSnapshot();
    for (const t of terms) expect(wide.terms[t]!.map(([id]) => id)).toEqual([900_001, 900_002]);
    expect(wide.df[terms[699]!]).toBe(2);
    // Both leave in one batch, and the index is as it was.
    await applyDocuments(
      [900_001, 900_002].map((id) => ({ id, record: null, weights: new Map() })),
    );
    expect(await indexSnapshot()).toEqual(before);
  });
});

describe('two worker processes index at once, and one is killed in the middle', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let redis: Redis;
  let queues: Queues;
  const procs: IncideskProcess[] = [];
  const log = `/tmp/incidesk-search-batch-${process.pid}.log`;
  const TOTAL = 600;

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp, { INCIDESK_SLA_SWEEP_SECONDS: '3600' });
    await connectStore(t.env.MONGODB_URI!);
    redis = new Redis(t.env.REDIS_URL!, { maxRetriesPerRequest: null });
    queues = openQueues(redis, t.env.INCIDESK_QUEUE_PREFIX!);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await queues?.close();
    redis?.disconnect();
    await disconnectStore();
    await smtp?.close();
  });

  it('loses nothing and the index equals a rebuild', { timeout: 900_000 }, async () => {
    const workers = () => spawnIncidesk(['start', '--only', 'workers'], t.env, log);
    procs.push(workers(), workers());
    await insertCorpus(seeds(1, TOTAL));
    const numbers = Array.from({ length: TOTAL }, (_, i) => i + 1);
    await queueAll(queues, numbers, 'seeded');

    // Both processes take jobs; once some batches are in, kill one of them mid-flight.
    await waitUntil('some batches applied', async () => (await indexedDocCount()) >= 200, 600_000);
    const atKill = await indexedDocCount();
    expect(await procs[0]!.kill('SIGKILL')).toBeNull();
    expect(atKill).toBeLessThan(TOTAL);

    // Its jobs stall, go back to the queue and are applied by the survivor.
    await waitUntil('all indexed', async () => (await indexedDocCount()) === TOTAL, 600_000);
    await indexIdle(queues);
    expect(await procs[1]!.kill('SIGTERM')).toBe(0);
    console.log(`killed one of two index workers at ${atKill} of ${TOTAL} documents`);
    expect(await queues.index.getFailedCount()).toBe(0);
    await expectSearchableAndRebuildable(numbers);
  });
});
