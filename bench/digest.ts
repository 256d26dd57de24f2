/**
 * Benchmark of the manager digest over a large history.
 *
 *   1. seeds BENCH_DIGEST_N (1,000,000) incidents spread over three years (bulk insertMany of
 *      2000), then fills the day caches of the last 400 days from the incidents (what the
 *      digests of those days would have done, one day at a time, in production)
 *   2. measures the raw component: a plain full-scan count of the incidents collection, and
 *      the indexed "open incidents" count, on the same server in the same run
 *   3. times the daily, weekly and monthly digests (read, compute, render, chart), each twice
 *
 * Progress goes to stderr; the results table and one JSON line to stdout.
 *
 *   npm run bench:digest      (node --expose-gc --import tsx bench/digest.ts)
 *
 * Environment: BENCH_DIGEST_N (1000000), BENCH_DIGEST_YEARS (3), BENCH_MONGO_URI or MONGODB_URI
 * (an external MongoDB; default: start SecantusDB as the tests do), BENCH_SERVER_PID (that
 * server's process id: prints each digest's server CPU time). BENCH_DIGEST_DB names a
 * database to keep after the run and to reuse when it already holds the N incidents (with an
 * external server: seeding a million takes half an hour, so two versions of the code can be
 * measured on the same history).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import { buildDigest, loadDigestInputs, type DigestRecipient } from '../src/actions/digest.js';
import { loadConfig } from '../src/config.js';
import {
  periodContaining,
  previousWindow,
  type DigestPeriod,
} from '../src/domain/digest-schedule.js';
import { parsePlan } from '../src/plan/load.js';
import { connectStore, disconnectStore } from '../src/store/db.js';
import { parseDuration } from '../src/domain/duration.js';
import { groupCalendar, groupEscalationChain, reviewSla } from '../src/domain/escalation.js';
import { warnAt } from '../src/domain/sla.js';
import { Incident } from '../src/store/models.js';
import { warmReportCaches } from '../src/store/reporting.js';
import { mulberry32 } from '../test/support/prng.js';
import { startServices, type RunningServices } from '../test/support/services.js';
import { startDbProfile } from './db-profile.js';
import { bar, note, num, round, table, withDatabase } from './util.js';

const N = num('BENCH_DIGEST_N', 1_000_000);
const BATCH = 2000;
/** What a kept database was seeded by: one seeded by another version is seeded again. */
const SEED_VERSION = 2;
/** The span of the history. At 1M over 3 years a day has ~913 incidents, which is what a
 * daily digest's cost depends on; a smaller N over a shorter span keeps that density. */
const YEARS = num('BENCH_DIGEST_YEARS', 3);
const DAY = 86_400_000;
const H = 3_600_000;
/**
 * The database server's process id (BENCH_SERVER_PID, Linux), to print the server CPU time
 * each digest cost: on a shared machine, wall time follows the load and this does not.
 */
const SERVER_PID = process.env.BENCH_SERVER_PID;
function serverCpuMs(): number {
  if (!SERVER_PID) return 0;
  // utime and stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 a second)
  const fields = readFileSync(`/proc/${SERVER_PID}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
/** Targets per digest (ms). */
const TARGET_MS: Record<DigestPeriod, number> = { daily: 1000, weekly: 2000, monthly: 5000 };

const TARGETS = {
  P1: [0.25 * H, 4 * H],
  P2: [H, 8 * H],
  P3: [4 * H, 72 * H],
  P4: [24 * H, 240 * H],
} as const;
type P = keyof typeof TARGETS;
const GROUPS = ['desk', 'network', 'apps', 'data', 'security', 'billing'];
const CATEGORIES = [
  'network',
  'email',
  'access',
  'hardware',
  'billing',
  'database',
  'vpn',
  'printing',
  'storage',
  'performance',
  'security',
  'general',
];

/** The benchmark's plan: one group, the default SLA, warning and escalation chain. */
const PLAN = parsePlan(
  `version: 1
organisation: Bench Corp
agents: [{ id: mia, name: Mia, email: mia@example.test, groups: [desk] }]
groups: [{ id: desk, name: Desk }]
routing: { default: desk }
`,
  'bench',
);

type SeedClock = {
  targetMs: number;
  consumedMs: number;
  runningSince: Date | null;
  stoppedAt: Date | null;
  breachedAt?: Date;
};

/**
 * The SLA state the sweep would have left on an open incident by `now`: warnings sent,
 * escalated once per `repeatAfter` since the first breach until the chain ran out, and
 * `slaCheckAt`, its next look, from the product's own reviewSla.
 */
function sweptSla(
  clocks: { firstResponse: SeedClock; resolution: SeedClock },
  group: string,
  now: Date,
) {
  const cal = groupCalendar(PLAN, group);
  const chain = groupEscalationChain(PLAN, group);
  const repeatAfterMs = parseDuration(PLAN.escalation.repeatAfter);
  const warned = (c: SeedClock) => {
    const w = warnAt(c, cal, PLAN.sla.warnAt);
    return w && w <= now ? { ...c, warnedAt: w } : c;
  };
  const firstResponse = warned(clocks.firstResponse);
  const resolution = warned(clocks.resolution);
  const breaches = [firstResponse.breachedAt, resolution.breachedAt].flatMap((d) =>
    d ? [d.getTime()] : [],
  );
  const firstBreach = breaches.length ? Math.min(...breaches) : null;
  const level =
    firstBreach === null
      ? 0
      : Math.min(chain.length, 1 + Math.floor((now.getTime() - firstBreach) / repeatAfterMs));
  const lastEscalatedAt =
    firstBreach === null ? null : new Date(firstBreach + (level - 1) * repeatAfterMs);
  const { nextCheckAt } = reviewSla(
    { clocks: { firstResponse, resolution }, escalationLevel: level, lastEscalatedAt },
    cal,
    { warnFraction: PLAN.sla.warnAt, repeatAfterMs, chain },
    now,
  );
  return {
    sla: {
      firstResponse,
      resolution,
      escalationLevel: level,
      notifiedLevel: level,
      ...(lastEscalatedAt ? { lastEscalatedAt } : {}),
    },
    slaCheckAt: nextCheckAt,
  };
}

/** Incident n of N, created in order over the three years before `now`. */
function makeIncident(n: number, now: Date, rnd: () => number) {
  const from = now.getTime() - YEARS * 365 * DAY;
  const createdAt = new Date(
    Math.min(now.getTime() - 60_000, from + ((n - 0.5 + rnd() - 0.5) / N) * YEARS * 365 * DAY),
  );
  const age = now.getTime() - createdAt.getTime();
  const r = rnd();
  const priority: P = r < 0.05 ? 'P1' : r < 0.25 ? 'P2' : r < 0.7 ? 'P3' : 'P4';
  const [respT, resT] = TARGETS[priority];
  const exp = (mean: number) => -Math.log(1 - rnd()) * mean;
  const openChance = age < 2 * DAY ? 0.6 : age < 14 * DAY ? 0.15 : age < 90 * DAY ? 0.02 : 0.001;
  const open = rnd() < openChance;
  const ackAfter = exp(0.6 * respT);
  const acked = ackAfter < age && (!open || rnd() < 0.7);
  const resolveAfter = Math.max(ackAfter + 60_000, exp(0.7 * resT));
  const resolved = !open && acked && resolveAfter < age;
  const at = (ms: number) => new Date(createdAt.getTime() + ms);
  const clock = (target: number, done: number | null): SeedClock =>
    done !== null
      ? {
          targetMs: target,
          consumedMs: Math.round(done),
          runningSince: null,
          stoppedAt: at(done),
          ...(done >= target ? { breachedAt: at(target) } : {}),
        }
      : {
          targetMs: target,
          consumedMs: 0,
          runningSince: createdAt,
          stoppedAt: null,
          ...(target <= age ? { breachedAt: at(target) } : {}),
        };
  const domain = `customer${Math.floor(500 * rnd() ** 2)}.example`;
  const status = resolved
    ? age - resolveAfter > 7 * DAY
      ? 'closed'
      : 'resolved'
    : open
      ? (['assigned', 'in-progress', 'pending-customer'] as const)[Math.floor(rnd() * 3)]!
      : 'in-progress'; // acknowledged long ago, never resolved (rare)
  const group = GROUPS[Math.floor(rnd() ** 1.5 * GROUPS.length)]!;
  const clocks = {
    firstResponse: clock(respT, acked ? ackAfter : null),
    resolution: clock(resT, resolved ? resolveAfter : null),
  };
  const { sla, slaCheckAt } = resolved
    ? { sla: { ...clocks, escalationLevel: 0, notifiedLevel: 0 }, slaCheckAt: null }
    : sweptSla(clocks, group, now);
  return {
    _id: n,
    number: n,
    openedBy: `bench-${n}`,
    status,
    subject: `Service problem number ${n}`,
    customer: { address: `user${Math.floor(rnd() * 50)}@${domain}` },
    participants: [`user@${domain}`],
    messageCount: 1 + Math.floor(rnd() * 6),
    category: CATEGORIES[Math.floor(rnd() * CATEGORIES.length)]!,
    impact: 'medium',
    urgency: 'medium',
    priority,
    group,
    assignee: `agent${Math.floor(rnd() * 40)}`,
    sla,
    slaCheckAt,
    firstRespondedAt: acked ? at(ackAfter) : undefined,
    resolvedAt: resolved ? at(resolveAfter) : undefined,
    closedAt: status === 'closed' ? at(resolveAfter + 7 * DAY) : undefined,
    createdAt,
    updatedAt: resolved ? at(resolveAfter) : createdAt,
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

async function main() {
  let now = new Date();
  let services: RunningServices | undefined;
  let uri = process.env.BENCH_MONGO_URI;
  // Without it, startServices uses MONGODB_URI if set, else starts SecantusDB.
  if (!uri) {
    // Services die with the benchmark, also on Ctrl-C.
    services = await startServices((stopSync) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const)
        process.once(sig, () => {
          stopSync();
          process.exit(130);
        });
    });
    uri = services.services.mongoUri;
  }
  const keep = process.env.BENCH_DIGEST_DB;
  const db = keep ?? `bench_digest_${Date.now()}`;
  // monitorCommands: the per-command profile and plans of one digest (bench/db-profile.ts)
  const dbUri = withDatabase(uri, db, { monitorCommands: 'true' });
  await connectStore(dbUri);
  try {
    // 1. seed (a kept database's `bench_seed` says when, so its history ends at that `now`)
    const seedInfo = () =>
      mongoose.connection.db!.collection<{ _id: string; n: number; version: number; now: Date }>(
        'bench_seed',
      );
    const seeded = keep
      ? await seedInfo().findOne({ _id: 'seed', n: N, version: SEED_VERSION })
      : null;
    let seedS = 0;
    if (seeded) {
      now = seeded.now;
      note(`reusing ${db}: ${N} incidents seeded as of ${now.toISOString()}`);
    } else {
      if (keep) {
        // A partial or different earlier seed: start again, indexes and all.
        await mongoose.connection.db!.dropDatabase();
        await disconnectStore();
        await connectStore(dbUri);
      }
      note(
        `seeding ${N} incidents over ${YEARS} years (${round(N / (YEARS * 365))}/day) into ${db}`,
      );
      const rnd = mulberry32(20261124);
      const progress = bar('incidents', N);
      const t0 = performance.now();
      for (let first = 1; first <= N; first += BATCH) {
        const docs: ReturnType<typeof makeIncident>[] = [];
        for (let n = first; n < first + BATCH && n <= N; n++) docs.push(makeIncident(n, now, rnd));
        await Incident.collection.insertMany(docs as never[]);
        progress.update(Math.min(N, first + BATCH - 1));
      }
      progress.stop();
      seedS = (performance.now() - t0) / 1000;
      if (keep) await seedInfo().insertOne({ _id: 'seed', n: N, version: SEED_VERSION, now });
    }
    note(`seeded in ${round(seedS)} s; filling the day caches of the last 400 days`);
    const [cachedDays, warmMs] = await timed(() =>
      warmReportCaches(new Date(now.getTime() - 400 * DAY), now, now),
    );
    note(
      `${cachedDays} days cached in ${round(warmMs / 1000)} s (${round(warmMs / cachedDays)} ms/day)`,
    );

    // 3. digests
    const plan = PLAN;
    const recipient: DigestRecipient = {
      agent: plan.agents[0]!,
      schedule: { hour: 7, timezone: 'UTC', periods: ['daily', 'weekly', 'monthly'] },
      groups: null,
    };
    // A whole configuration, as the app has it (links need the mailboxes); nothing here
    // connects to a mail server or Redis.
    const config = loadConfig({
      MONGODB_URI: dbUri,
      REDIS_URL: 'redis://127.0.0.1:6379',
      IMAP_HOST: '127.0.0.1',
      IMAP_USER: 'support',
      IMAP_PASS: 'unused',
      SMTP_HOST: '127.0.0.1',
      SUPPORT_ADDRESS: 'support@example.test',
      INCIDESK_SECRET: 'bench-secret-0123456789',
      INCIDESK_PLAN: 'bench', // the plan above, given as text
    });
    const rows: string[][] = [
      [
        'digest',
        'run',
        'total ms',
        'read ms',
        'compute ms',
        'links ms',
        'render ms',
        'facts',
        'open',
        'new',
        'resolved',
      ],
    ];
    const results: Record<string, number[]> = {};
    const serverCpu: Record<string, number[]> = {};
    const allReads = startDbProfile();
    for (const period of ['daily', 'weekly', 'monthly'] as DigestPeriod[]) {
      const window = previousWindow(periodContaining(period, now, 'UTC'));
      for (const run of [1, 2]) {
        const profile = startDbProfile();
        const cpu0 = serverCpuMs();
        const [built, ms] = await timed(async () =>
          buildDigest({ config, plan }, recipient, await loadDigestInputs(window, now), now),
        );
        const cpu = serverCpuMs() - cpu0;
        if (SERVER_PID) (serverCpu[period] ??= []).push(cpu);
        // Driver-side durations: server time, waiting behind the other reads, and the transfer.
        for (const c of profile.stop(6).top)
          note(`  ${c.op}: ${c.count} × avg ${c.avgMs} ms, max ${c.maxMs} ms`);
        const inputs = built.timings;
        (results[period] ??= []).push(round(ms));
        rows.push([
          period,
          String(run),
          String(round(ms)),
          String(round(inputs.loadMs!)),
          String(round(inputs.computeMs!)),
          String(round(inputs.linksMs!)),
          String(round(inputs.renderMs!)),
          String(built.factsRead),
          String(built.model.totals.open),
          String(built.model.totals.new),
          String(built.model.totals.resolved),
        ]);
        const parts = Object.entries(built.reads).map(([k, v]) => `${k} ${round(v)}`);
        note(
          `${period} run ${run}: ${round(ms)} ms${SERVER_PID ? `, server CPU ${cpu} ms` : ''} (reads done at: ${parts.join(', ')})`,
        );
      }
    }
    // The server's own plan for every read shape the digests sent (COLLSCAN: no index used).
    for (const { op, plan } of await allReads.plans()) note(`plan: ${op} → ${plan}`);
    allReads.stop();
    // 2. the raw component, same server, same run (after the digests: it is the slow part)
    const [total, scanMs] = await timed(() => Incident.countDocuments({}));
    const [openCount, openMs] = await timed(() =>
      Incident.countDocuments({
        status: { $in: ['new', 'triaged', 'assigned', 'in-progress', 'pending-customer'] },
      }),
    );
    note(
      `full-scan count: ${total} in ${round(scanMs)} ms; indexed open count ${openCount} in ${round(openMs)} ms`,
    );

    process.stdout.write(`\n${table(rows)}\n\n`);
    const worst = (p: DigestPeriod) => Math.max(...results[p]!);
    // The server's pace in this run, to compare runs made under different loads: a digest's
    // time over the time the same server took to scan 100,000 incidents.
    const scanPer100k = (scanMs * 100_000) / total;
    const paced = (p: DigestPeriod) => round(worst(p) / scanPer100k, 2);
    const verdicts = (['daily', 'weekly', 'monthly'] as DigestPeriod[]).map(
      (p) =>
        `${p} ${worst(p)} ms (target ≤ ${TARGET_MS[p]} ms: ${worst(p) <= TARGET_MS[p] ? 'met' : 'MISSED'})`,
    );
    process.stdout.write(
      `full-scan count of ${total} incidents: ${round(scanMs)} ms; indexed open-incidents count: ${round(openMs)} ms\n` +
        `digest ÷ full scan of 100,000: ${(['daily', 'weekly', 'monthly'] as DigestPeriod[]).map((p) => `${p} ${paced(p)}`).join(', ')}\n` +
        `${verdicts.join('; ')}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'digest',
        incidents: total,
        seedSeconds: round(seedS),
        cachedDays,
        cacheFillSeconds: round(warmMs / 1000),
        fullScanCountMs: round(scanMs),
        digestPerFullScan100k: {
          daily: paced('daily'),
          weekly: paced('weekly'),
          monthly: paced('monthly'),
        },
        openCountMs: round(openMs),
        ...(SERVER_PID ? { serverCpuMs: serverCpu } : {}),
        digestMs: results,
        targetMs: TARGET_MS,
      })}\n`,
    );
    if ((['daily', 'weekly', 'monthly'] as DigestPeriod[]).some((p) => worst(p) > TARGET_MS[p]))
      process.exitCode = 2;
  } finally {
    if (!keep) await mongoose.connection.db?.dropDatabase().catch(() => undefined);
    await disconnectStore();
    await services?.stop();
  }
}

await main();
