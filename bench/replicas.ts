/**
 * Intake and workers in separate `incidesk start` processes, with 1, 2 and 3 worker processes:
 * how many messages a second the whole pipeline carries, and where the bound is.
 *
 *   IMAP APPEND (Dovecot) → `start --only intake` → K × `start --only workers` → MongoDB
 *   protocol (SecantusDB unless MONGODB_URI is set) → SMTP (an smtp-server sink here)
 *
 * For each K, a fresh database, mailbox and queue prefix: the processes start, three warm-up
 * messages go through, then BENCH_REPLICAS_N messages are APPENDed at once and the clock
 * runs until every acknowledgement is accepted by the sink. Measured over that span: messages
 * per second, database operations (the server's own `serverStatus` opcounters) and Redis
 * commands (`INFO stats`) per second and per message, and CPU seconds per process kind (from
 * /proc). The bound is the kind whose CPU share is at its ceiling: a single-threaded server
 * (SecantusDB is Python, Redis single-threaded) at about one core, or the machine at all of
 * its cores.
 *
 *   npm run bench:replicas     (also run by npm run bench)
 *
 * Environment: BENCH_REPLICAS_N (300), BENCH_REPLICAS_K (1,2,3), BENCH_REPLICAS_TIMEOUT_S (300).
 * Progress goes to stderr; the table and one JSON line to stdout.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { parseRedisUrl } from '../src/domain/redis-url.js';
import { spawnIncidesk, type IncideskProcess } from '../test/support/process.js';
import {
  startServices,
  uniqueName,
  type RunningServices,
  type TestServices,
} from '../test/support/services.js';
import { customerMessage } from './messages.js';
import { cpuBetween, cpuSnapshot } from './procstat.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';
import {
  appendAll,
  benchAppEnv,
  closeImap,
  imapClient,
  note,
  num,
  PhaseTimeout,
  round,
  table,
  waitUntil,
} from './util.js';

const N = num('BENCH_REPLICAS_N', 300);
const KS = (process.env.BENCH_REPLICAS_K ?? '1,2,3').split(',').map(Number);
const TIMEOUT_MS = num('BENCH_REPLICAS_TIMEOUT_S', 300) * 1000;
const WARMUP_TIMEOUT_MS = 120_000;
const IDLE_MS = 5_000;

/** A single-threaded server at this share of one core (or the machine at this share) binds. */
const SATURATED = 0.85;

interface Counters {
  dbOps: number;
  /** serverStatus opcounters by kind: insert, query, update, delete, getmore, command. */
  dbOpsByKind: Record<string, number>;
  redisCommands: number;
}

const perSecond = (a: Record<string, number>, b: Record<string, number>, seconds: number) =>
  Object.fromEntries(Object.keys(b).map((k) => [k, round((b[k]! - (a[k] ?? 0)) / seconds, 1)]));

async function counters(s: TestServices): Promise<Counters> {
  const client = new mongoose.mongo.MongoClient(s.mongoUri);
  const redis = new Redis({ ...parseRedisUrl(s.redisUrl), lazyConnect: true });
  try {
    await client.connect();
    const status = await client.db().admin().command({ serverStatus: 1 });
    const ops = status.opcounters as Record<string, number>;
    await redis.connect();
    const info = await redis.info('stats');
    const processed = /total_commands_processed:(\d+)/.exec(info)?.[1];
    return {
      dbOps: Object.values(ops).reduce((a, b) => a + Number(b), 0),
      dbOpsByKind: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, Number(v)])),
      redisCommands: Number(processed ?? NaN),
    };
  } finally {
    await client.close();
    redis.disconnect();
  }
}

/** The process kinds the bench runs, by /proc name: node is incidesk (and the bench). */
function kind(comm: string): string {
  if (/secantus|python/i.test(comm)) return 'database (SecantusDB)';
  if (/redis/i.test(comm)) return 'redis';
  if (/dovecot|imap|lmtp|auth|anvil|log|config|stats/i.test(comm)) return 'dovecot';
  if (/node|incidesk|esbuild/i.test(comm)) return 'node (incidesk, bench)';
  return comm;
}

function dovecotPid(s: TestServices): number {
  try {
    return Number(readFileSync(path.join(s.dovecotDir, 'run', 'master.pid'), 'utf8').trim());
  } catch {
    return 0;
  }
}

async function runWithWorkers(s: TestServices, sink: SmtpSink, run: string, workers: number) {
  const label = `w${workers}`;
  const mailboxUser = `${uniqueName(`support-${label}`)}@example.test`;
  const env = {
    ...benchAppEnv(s, sink.port, run, `bench_replicas_${run}_${label}`, mailboxUser),
    LOG_LEVEL: 'warn', // the processes' warnings go to stderr with the progress
  };
  const acks = new Set<string>();
  sink.onAccept = (a) => {
    if (a.inReplyTo && a.to.some((r) => r.endsWith(`@customer-${run}.example`)))
      acks.add(a.inReplyTo);
  };
  const procs: IncideskProcess[] = [
    spawnIncidesk(['start', '--only', 'intake'], env),
    ...Array.from({ length: workers }, () => spawnIncidesk(['start', '--only', 'workers'], env)),
  ];
  for (const p of procs)
    p.child.stderr!.on('data', (c: Buffer) => process.stderr.write(`[incidesk] ${String(c)}`));
  const client = await imapClient(s, mailboxUser);
  try {
    const warm = [0, 1, 2].map((i) => customerMessage(run, `warm-${label}`, i));
    await appendAll([client], 'INBOX', warm);
    await waitUntil(
      `warm-up acknowledgements (${label})`,
      () => warm.every((m) => acks.has(m.messageId)),
      WARMUP_TIMEOUT_MS,
    );
    const msgs = Array.from({ length: N }, (_, i) => customerMessage(run, label, i));
    const roots = [process.pid, dovecotPid(s)].filter((p) => p > 0);
    // The 5 s before the burst: lease renewals, standby polls, timers, and what is left of the
    // warm-up's triage and assignment. The floor under the per-message figures.
    const idle0 = await counters(s);
    await sleep(IDLE_MS);
    const idle1 = await counters(s);
    const idleDbOpsPerSecond = Math.round((idle1.dbOps - idle0.dbOps) / (IDLE_MS / 1000));
    const before = await counters(s);
    const cpu0 = cpuSnapshot(roots);
    const t0 = performance.now();
    await appendAll([client], 'INBOX', msgs);
    let timedOut: string | undefined;
    await waitUntil(
      `${N} acknowledgements`,
      () => msgs.every((m) => acks.has(m.messageId)),
      TIMEOUT_MS,
      20,
    ).catch((err: Error) => {
      if (!(err instanceof PhaseTimeout)) throw err;
      timedOut = err.message;
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuBetween(cpu0, cpuSnapshot(roots), -1);
    const after = await counters(s);
    const done = msgs.filter((m) => acks.has(m.messageId)).length;
    const byKind: Record<string, number> = {};
    for (const [comm, sec] of Object.entries(cpu.cpuSeconds))
      byKind[kind(comm)] = round((byKind[kind(comm)] ?? 0) + sec, 2);
    const cores = Object.fromEntries(
      Object.entries(byKind).map(([k, sec]) => [k, round(sec / seconds, 2)]),
    );
    const dbOps = after.dbOps - before.dbOps;
    const redisCommands = after.redisCommands - before.redisCommands;
    return {
      workers,
      timedOut,
      messages: N,
      acknowledged: done,
      seconds: round(seconds, 1),
      messagesPerSecond: round(done / seconds, 1),
      dbOpsPerSecond: Math.round(dbOps / seconds),
      idleDbOpsPerSecond,
      idleDbOpsPerSecondByKind: perSecond(idle0.dbOpsByKind, idle1.dbOpsByKind, IDLE_MS / 1000),
      dbOpsPerSecondByKind: perSecond(before.dbOpsByKind, after.dbOpsByKind, seconds),
      dbOpsPerMessage: round(dbOps / Math.max(done, 1), 1),
      redisCommandsPerSecond: Math.round(redisCommands / seconds),
      redisCommandsPerMessage: round(redisCommands / Math.max(done, 1), 1),
      /** CPU cores in use on average, per process kind, over the span. */
      cores,
      machineBusyPct: cpu.machineBusyPct,
      machineCores: cpu.cores,
      bound: bound(cores, cpu.machineBusyPct),
    };
  } finally {
    await closeImap(client);
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
  }
}

/** Where the bound is: a single-threaded server at its one core, else the machine, else none. */
function bound(cores: Record<string, number>, machineBusyPct: number | undefined): string {
  for (const k of ['database (SecantusDB)', 'redis'])
    if ((cores[k] ?? 0) >= SATURATED) return `${k} at ${cores[k]} of its one core`;
  if ((machineBusyPct ?? 0) >= SATURATED * 100) return `machine CPU (${machineBusyPct}% busy)`;
  return 'none saturated (latency-bound: waits on IMAP, MongoDB round trips)';
}

async function main(): Promise<number> {
  const run = randomBytes(4).toString('hex');
  let running: RunningServices | undefined;
  let sink: SmtpSink | undefined;
  process.once('SIGINT', () => {
    running?.stopSync();
    process.exit(130);
  });
  try {
    running = await startServices();
    const s = running.services;
    sink = await startSmtpSink();
    note(`${N} messages, worker processes ${KS.join(', ')}, backend ${s.mongoBackend}`);
    const results = [];
    for (const k of KS) {
      const r = await runWithWorkers(s, sink, run, k);
      note(
        `${k} worker process(es): ${r.messagesPerSecond} msg/s, ${r.dbOpsPerSecond} DB ops/s; bound: ${r.bound}`,
      );
      results.push(r);
    }
    const kinds = [...new Set(results.flatMap((r) => Object.keys(r.cores)))];
    process.stdout.write(
      table([
        [
          'workers',
          'msg/s',
          'seconds',
          'DB ops/s',
          'DB ops/s before',
          'DB ops/msg',
          'Redis cmd/s',
          ...kinds.map((k) => `cores: ${k}`),
          'machine busy',
          'bound',
        ],
        ...results.map((r) => [
          String(r.workers),
          `${r.messagesPerSecond}${r.timedOut ? ' (timed out)' : ''}`,
          String(r.seconds),
          String(r.dbOpsPerSecond),
          String(r.idleDbOpsPerSecond),
          String(r.dbOpsPerMessage),
          String(r.redisCommandsPerSecond),
          ...kinds.map((k) => String(r.cores[k] ?? 0)),
          `${r.machineBusyPct ?? '?'}% of ${r.machineCores}`,
          r.bound,
        ]),
      ]) + '\n',
    );
    process.stdout.write(`${JSON.stringify({ bench: 'replicas', results })}\n`);
    return results.some((r) => r.timedOut) ? 2 : 0;
  } finally {
    await sink?.close();
    await running?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
