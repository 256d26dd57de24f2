/**
 * The 100,000-incident backup round trip: bulk-seed incidents with timelines, back up, drop
 * the database, restore, and check every collection's count and content hash against the
 * manifest (restore's own re-check), printing the time of each phase.
 *
 *   npm run bench:backup                      # own SecantusDB/Redis/Dovecot, 100k incidents
 *   BACKUP_BENCH_INCIDENTS=20000 MONGODB_URI=mongodb://… npm run bench:backup
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { backupDatabase, restoreDatabase } from '../src/backup/backup.js';
import { startServices, type RunningServices } from '../test/support/services.js';
import { cliProgressReporter } from '../src/cli/progress.js';

const INCIDENTS = Number(process.env.BACKUP_BENCH_INCIDENTS ?? 100_000);
const TIMELINE_PER_INCIDENT = 2;
const BATCH = 2000;
const note = (line: string) => process.stderr.write(`[bench:backup] ${line}\n`);

/** An incident shaped like the ones the app stores (dates, nested SLA clocks, arrays). */
function incident(n: number, at: Date) {
  return {
    _id: n,
    number: n,
    openedBy: `seed-${n}`,
    status: n % 3 === 0 ? 'closed' : 'open',
    subject: `Seeded incident ${n}: printer queue stuck on floor ${n % 40}`,
    customer: { address: `customer${n % 5000}@example.com`, name: `Customer ${n % 5000}` },
    participants: [`customer${n % 5000}@example.com`],
    messageCount: 1,
    lastMessageAt: at,
    category: 'general',
    impact: 'medium',
    urgency: 'medium',
    priority: 'P3',
    group: 'service-desk',
    sla: {
      firstResponse: { targetMs: 14_400_000, consumedMs: 0, runningSince: at, stoppedAt: null },
      resolution: { targetMs: 259_200_000, consumedMs: 0, runningSince: at, stoppedAt: null },
      escalationLevel: 0,
      notifiedLevel: 0,
    },
    slaCheckAt: null,
    createdAt: at,
    updatedAt: at,
  };
}

function timeline(n: number, i: number, at: Date) {
  return {
    _id: `seed-${n}-${i}`,
    incidentNumber: n,
    at: new Date(at.getTime() + i * 1000),
    type: i === 0 ? 'message' : 'event',
    ...(i === 0
      ? {
          direction: 'inbound',
          from: `customer${n % 5000}@example.com`,
          subject: `Seeded incident ${n}`,
          text: 'The printer queue is stuck again; nothing prints since this morning.',
        }
      : { event: 'triaged', detail: { priority: 'P3', rules: ['default'] } }),
  };
}

async function timed<T>(phase: string, fn: () => Promise<T>, times: Record<string, number>) {
  const t0 = Date.now();
  const result = await fn();
  times[phase] = (Date.now() - t0) / 1000;
  note(`${phase}: ${times[phase]!.toFixed(1)} s`);
  return result;
}

async function main() {
  let services: RunningServices | undefined;
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    services = await startServices();
    uri = services.services.mongoUri;
  }
  const url = new URL(uri);
  url.pathname = `/bench_backup_${process.pid}`;
  const client = new mongoose.mongo.MongoClient(url.toString());
  await client.connect();
  const db = client.db();
  const dir = await mkdtemp(join(tmpdir(), 'incidesk-bench-backup-'));
  const times: Record<string, number> = {};
  try {
    await db.dropDatabase();
    const base = Date.UTC(2026, 0, 1);
    await timed(
      'seed',
      async () => {
        for (let from = 1; from <= INCIDENTS; from += BATCH) {
          const ns = Array.from(
            { length: Math.min(BATCH, INCIDENTS - from + 1) },
            (_, k) => from + k,
          );
          const at = (n: number) => new Date(base + n * 60_000);
          await db.collection('incidents').insertMany(ns.map((n) => incident(n, at(n))) as never[]);
          const entries = ns.flatMap((n) =>
            Array.from({ length: TIMELINE_PER_INCIDENT }, (_, i) => timeline(n, i, at(n))),
          );
          for (let k = 0; k < entries.length; k += BATCH)
            await db.collection('timeline').insertMany(entries.slice(k, k + BATCH) as never[]);
        }
        await db.collection('counters').insertOne({ _id: 'incident', seq: INCIDENTS } as never);
      },
      times,
    );
    const file = join(dir, 'bench.tar.gz');
    const backup = await timed(
      'backup',
      () => backupDatabase(db, file, cliProgressReporter()),
      times,
    );
    const counts = Object.fromEntries(backup.manifest.collections.map((c) => [c.name, c.count]));
    if (counts.incidents !== INCIDENTS || counts.timeline !== INCIDENTS * TIMELINE_PER_INCIDENT)
      throw new Error(`backup counts wrong: ${JSON.stringify(counts)}`);
    await timed('drop', () => db.dropDatabase(), times);
    // restoreDatabase verifies the archive, inserts, then re-reads every collection and
    // compares its count and content hash with the manifest: it throws on any difference.
    const restored = await restoreDatabase(db, file, { progress: cliProgressReporter() });
    times.verify = restored.ms.verify / 1000;
    times.restore = restored.ms.restore / 1000;
    times.recheck = restored.ms.recheck / 1000;
    const docs = restored.documents;
    note(
      `verify ${times.verify.toFixed(1)} s, restore ${times.restore.toFixed(1)} s, recheck (counts + hashes equal) ${times.recheck.toFixed(1)} s`,
    );
    const result = {
      incidents: INCIDENTS,
      documents: docs,
      archiveBytes: backup.bytes,
      seconds: times,
      docsPerSecond: {
        backup: Math.round(docs / times.backup!),
        restore: Math.round(docs / times.restore),
      },
      hashesEqual: true,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await rm(dir, { recursive: true, force: true });
    await services?.stop();
  }
}

await main();
