/**
 * End-to-end benchmark of the intake pipeline on real services:
 *
 *   IMAP APPEND (Dovecot) → intake (IDLE, FETCH, GridFS) → BullMQ ingest → MongoDB protocol
 *   (SecantusDB unless MONGODB_URI is set) → BullMQ notify → SMTP (an smtp-server sink here)
 *
 * Phases, each against a fresh incidesk app (own database, mailbox and queue prefix, three
 * warm-up messages first):
 *   1. throughput: N messages APPENDed at once, until every incident exists and every ack is accepted
 *   2. latency: a steady RATE msg/s for SECONDS s, APPEND done → ack accepted per message
 *   3. memory: one message with a 25 MB attachment, RSS/heap before and peak until its incident exists
 *   4. raw ceilings of the parts alone (app stopped): IMAP fetch, parse, store, queue hop, SMTP
 *      send, plus the ingest worker's function alone
 * Progress goes to stderr; the results table and one JSON line to stdout. A phase that times
 * out is reported and the others still run; the exit code is then 2.
 *
 *   npm run bench            (node --expose-gc --import tsx bench/intake.ts)
 *
 * Environment: BENCH_N (1000), BENCH_RATE (10), BENCH_SECONDS (30), BENCH_ATTACHMENT_BYTES
 * (26214400), BENCH_CEILING_N (1000), BENCH_INGEST_CEILING_N (200),
 * BENCH_THROUGHPUT_TIMEOUT_S (60), BENCH_MAIL (same | varied: see bench/messages.ts).
 * MONGODB_URI / REDIS_URL select external servers as in the tests (see
 * test/support/services.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, type RunningApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { loadPlan } from '../src/plan/load.js';
import type { Plan } from '../src/plan/schema.js';
import { jobIds } from '../src/queues.js';
import { Incident, Outbox, RawMessage } from '../src/store/models.js';
import {
  PROJECT_ROOT,
  startServices,
  uniqueName,
  type RunningServices,
  type TestServices,
} from '../test/support/services.js';
import {
  ceilingImap,
  ceilingIngest,
  ceilingParse,
  ceilingQueue,
  ceilingSmtp,
  ceilingStore,
  type Ceiling,
} from './ceilings.js';
import { startDbProfile, type DbProfile } from './db-profile.js';
import { customerMessage, type BenchMessage } from './messages.js';
import { cpuBetween, cpuSnapshot } from './procstat.js';
import { startSmtpSink, type Accepted, type SmtpSink } from './smtp-sink.js';
import {
  appendAll,
  benchAppEnv,
  bar,
  closeImap,
  forceGc,
  imapClient,
  MB,
  note,
  num,
  PhaseTimeout,
  round,
  startMemorySampler,
  summary,
  table,
  waitUntil,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// Parameters and targets

const N = num('BENCH_N', 1000);
const RATE = num('BENCH_RATE', 10);
const SECONDS = num('BENCH_SECONDS', 30);
const ATTACHMENT_BYTES = num('BENCH_ATTACHMENT_BYTES', 26_214_400);
const CEILING_N = num('BENCH_CEILING_N', 1000);
const INGEST_CEILING_N = num('BENCH_INGEST_CEILING_N', 200);

const TARGET = { throughput: 100, latencyP95Ms: 1000, rssGrowthMB: 64 };
const TIMEOUT = {
  warmup: 30_000,
  throughput: num('BENCH_THROUGHPUT_TIMEOUT_S', 60) * 1000,
  latencyDrain: 30_000,
  memory: 90_000,
  appStop: 30_000,
};

// ---------------------------------------------------------------------------------------------
// The app under test

interface AppUnderTest {
  app: RunningApp;
  config: Config;
  plan: Plan;
  mailboxUser: string;
  /** In-Reply-To → acceptance, for every message the sink accepted while this app ran. */
  acks: Map<string, Accepted>;
  /** Failed job attempts (BullMQ retries them with backoff), by queue and error. */
  failures: Record<string, number>;
  /** Mail the sink accepted that is not an acknowledgement to a bench customer (agent notices). */
  otherMail: { count: number };
  /** The intake's debug lines, when started with `trace` (the latency phase). */
  intakeTrace: IntakeTrace[];
}

/** One debug line of the intake (src/mail/intake.ts): when it heard of, listed or fetched mail. */
interface IntakeTrace {
  time: number;
  msg: string;
  count?: number;
  from?: number;
  to?: number;
}

/** A log destination that keeps the intake's lines and drops the rest unparsed. */
function intakeTraceDestination(trace: IntakeTrace[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.includes('"component":"intake"')) trace.push(JSON.parse(line) as IntakeTrace);
      }
      done();
    },
  });
}

function errorKey(message: string): string {
  return message
    .replace(/[0-9a-f]{16,}/g, '…')
    .replace(/dup key: .*/, 'dup key: …')
    .slice(0, 110);
}

async function startAppUnderTest(
  s: TestServices,
  sink: SmtpSink,
  run: string,
  label: string,
  /** Log the intake at debug level into `intakeTrace` (costs a few µs a line). */
  trace = false,
): Promise<AppUnderTest> {
  const mailboxUser = `${uniqueName(`support-${label}`)}@example.test`;
  // monitorCommands: the driver's command events feed the per-command DB profile (bench/db-profile.ts)
  const env = benchAppEnv(s, sink.port, run, `bench_${run}_${label}`, mailboxUser, {
    monitorCommands: 'true',
  });
  const config = loadConfig(env);
  const plan = await loadPlan(config.planPath);
  const acks = new Map<string, Accepted>();
  const otherMail = { count: 0 };
  // Acknowledgements only: the app also mails agents (assignment notices) about the same incidents.
  sink.onAccept = (a) => {
    if (a.inReplyTo && a.to.some((r) => r.endsWith(`@customer-${run}.example`)))
      acks.set(a.inReplyTo, a);
    else otherMail.count++;
  };
  const intakeTrace: IntakeTrace[] = [];
  const app = await startApp(
    config,
    plan,
    trace
      ? createLogger('debug', intakeTraceDestination(intakeTrace))
      : createLogger(config.logLevel),
  );
  const failures: Record<string, number> = {};
  for (const w of app.workers) {
    w.on('failed', (_job, err) => {
      const key = `${w.name}: ${errorKey(err.message)}`;
      failures[key] = (failures[key] ?? 0) + 1;
    });
  }
  const t: AppUnderTest = {
    app,
    config,
    plan,
    mailboxUser,
    acks,
    failures,
    otherMail,
    intakeTrace,
  };
  await app.intake!.synced();
  // Three messages through the whole pipeline first: connections open, code warm, IDLE running.
  const client = await imapClient(s, mailboxUser);
  try {
    const msgs = [0, 1, 2].map((i) => customerMessage(run, `warm-${label}`, i));
    await appendAll([client], 'INBOX', msgs);
    await waitUntil(
      `the warm-up acknowledgements (${label})`,
      () => msgs.every((m) => acks.has(m.messageId)),
      TIMEOUT.warmup,
    );
  } catch (err) {
    await stopAppUnderTest(t);
    throw err;
  } finally {
    await closeImap(client);
  }
  return t;
}

/**
 * Stop the app, bounded. After a phase timed out the app has a backlog that `stop()` would
 * work through first (the intake finishes its whole sync, the workers their active jobs), so
 * then it is cut short: the intake's IMAP connection is closed under it and the workers are
 * closed without waiting. (Reaches into ImapIntake's private fields; benchmark only.)
 */
async function stopAppUnderTest(t: AppUnderTest, force = false): Promise<void> {
  if (force) {
    const intake = t.app.intake as unknown as
      { stopped: boolean; client?: { close(): void } } | undefined;
    if (intake) {
      intake.stopped = true;
      intake.client?.close();
    }
    await Promise.all(t.app.workers.map((w) => w.close(true).catch(() => undefined)));
  }
  const stopped = await Promise.race([
    t.app.stop().then(() => true),
    sleep(TIMEOUT.appStop).then(() => false),
  ]);
  if (!stopped)
    throw new Error(
      `the app did not stop within ${TIMEOUT.appStop / 1000} s; cannot run further phases beside it`,
    );
}

/** Per-message timestamps the app wrote (Date.now() clock), joined through the ack's In-Reply-To. */
async function storeTimes(messageIds: string[]) {
  const outbox = await Outbox.find(
    { inReplyTo: { $in: messageIds } },
    { _id: 1, inReplyTo: 1, createdAt: 1, sentAt: 1 },
  ).lean<{ _id: string; inReplyTo: string; createdAt: Date; sentAt?: Date }[]>();
  const raws = await RawMessage.find(
    { _id: { $in: outbox.map((o) => o._id.replace(/^ack-/, '')) } },
    { _id: 1, receivedAt: 1, processedAt: 1, 'source.uid': 1 },
  ).lean<{ _id: string; receivedAt: Date; processedAt?: Date; source: { uid: number } }[]>();
  const rawById = new Map(raws.map((r) => [r._id, r]));
  const out = new Map<
    string,
    {
      rawId: string;
      outboxId: string;
      uid: number;
      stored: number;
      ackCreated: number;
      ingested?: number;
      sent?: number;
    }
  >();
  for (const o of outbox) {
    const r = rawById.get(o._id.replace(/^ack-/, ''));
    if (r) {
      out.set(o.inReplyTo, {
        rawId: r._id,
        outboxId: o._id,
        uid: r.source.uid,
        stored: r.receivedAt.getTime(),
        ackCreated: o.createdAt.getTime(),
        ingested: r.processedAt?.getTime(),
        sent: o.sentAt?.getTime(),
      });
    }
  }
  return out;
}

function misdirectedAcks(t: AppUnderTest, msgs: BenchMessage[]): number {
  return msgs.filter((m) => {
    const a = t.acks.get(m.messageId);
    return a !== undefined && !a.to.includes(m.from);
  }).length;
}

function failuresSince(t: AppUnderTest, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(t.failures)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );
}

function roots(s: TestServices): number[] {
  let dovecot = 0;
  try {
    dovecot = Number(readFileSync(path.join(s.dovecotDir, 'run', 'master.pid'), 'utf8').trim());
  } catch {
    /* not there */
  }
  return [process.pid, dovecot].filter((p) => p > 0);
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput

async function throughputPhase(s: TestServices, t: AppUnderTest, run: string) {
  const msgs = Array.from({ length: N }, (_, i) => customerMessage(run, 'p1', i));
  const acked = () => msgs.filter((m) => t.acks.has(m.messageId)).length;
  const clients = [await imapClient(s, t.mailboxUser), await imapClient(s, t.mailboxUser)];
  const incidentsBefore = await Incident.countDocuments();
  const progress = bar('1. throughput: acks', N);
  const tick = setInterval(() => progress.update(acked()), 250);
  let timedOut: string | undefined;
  try {
    const failuresBefore = { ...t.failures };
    const otherMailBefore = t.otherMail.count;
    const cpu0 = cpuSnapshot(roots(s));
    const profile = startDbProfile();
    const wall0 = Date.now();
    const t0 = performance.now();
    const appendDone = await appendAll(clients, 'INBOX', msgs);
    const appendEnd = Math.max(...appendDone);
    await waitUntil(`${N} acknowledgements`, () => acked() === N, TIMEOUT.throughput, 20).catch(
      (err: Error) => {
        if (!(err instanceof PhaseTimeout)) throw err;
        timedOut = `${err.message}: ${acked()}/${N} acknowledged`;
      },
    );
    const tEnd = timedOut
      ? performance.now()
      : Math.max(...msgs.map((m) => t.acks.get(m.messageId)!.at));
    const cpu1 = cpuSnapshot(roots(s));
    // The acknowledgements are out; triage, assignment, notices and indexing may still run.
    // The profile waits for them, so that its commands per message cover the whole pipeline.
    const pipelineDrained = timedOut ? false : await drained(t, TIMEOUT.throughput);
    const dbProfile = profile.stop(40);
    const done = acked();
    const incidents = (await Incident.countDocuments()) - incidentsBefore;
    const misdirected = misdirectedAcks(t, msgs);
    progress.update(done);
    const elapsed = (tEnd - t0) / 1000;

    // When each stage finished its last message, from the app's own timestamps.
    const times = [...(await storeTimes(msgs.map((m) => m.messageId))).values()];
    const span = (xs: number[]) =>
      xs.length === 0
        ? { n: 0, firstS: NaN, lastS: NaN, perSecond: NaN }
        : {
            n: xs.length,
            firstS: round((Math.min(...xs) - wall0) / 1000, 2),
            lastS: round((Math.max(...xs) - wall0) / 1000, 2),
            perSecond: round(xs.length / ((Math.max(...xs) - wall0) / 1000)),
          };
    const col = (k: 'stored' | 'ackCreated' | 'ingested' | 'sent') =>
      times.map((v) => v[k]).filter((x): x is number => typeof x === 'number');
    const rawStored = await RawMessage.countDocuments({ 'source.uid': { $gt: 3 } });
    return {
      timedOut,
      messages: N,
      acknowledged: done,
      incidents,
      /** Acks whose In-Reply-To names a message of one customer but that went to another. */
      misdirected,
      rawStoredAtEnd: rawStored,
      appendSeconds: round((appendEnd - t0) / 1000, 2),
      appendPerSecond: round(N / ((appendEnd - t0) / 1000)),
      elapsedSeconds: round(elapsed, 2),
      /** Complete run: N / elapsed. Timed out: acknowledged so far / elapsed. */
      messagesPerSecond: round(done / elapsed),
      stages: {
        'APPENDed (IMAP)': {
          n: N,
          firstS: round((Math.min(...appendDone) - t0) / 1000, 2),
          lastS: round((appendEnd - t0) / 1000, 2),
          perSecond: round(N / ((appendEnd - t0) / 1000)),
        },
        'raw stored (intake)': span(col('stored')),
        'ack in outbox (ingest)': span(col('ackCreated')),
        'raw marked ingested (ingest end)': span(col('ingested')),
        'ack marked sent (notify)': span(col('sent')),
        'ack accepted (SMTP sink)': span(
          msgs.flatMap((m) => (t.acks.has(m.messageId) ? [t.acks.get(m.messageId)!.wallAt] : [])),
        ),
      },
      jobFailures: failuresSince(t, failuresBefore),
      otherMailAccepted: t.otherMail.count - otherMailBefore,
      /** Whether every queue but the SLA timers emptied before the profile stopped. */
      pipelineDrained,
      dbProfile,
      cpu: cpuBetween(cpu0, cpu1, process.pid),
    };
  } finally {
    clearInterval(tick);
    progress.stop();
    for (const c of clients) await closeImap(c);
  }
}

/** Wait until no job of the pipeline waits or runs (SLA timers, delayed by design, aside; a
 * re-index waits a moment on purpose, so it counts). */
async function drained(t: AppUnderTest, timeoutMs: number): Promise<boolean> {
  const q = t.app.ctx.queues;
  const pipeline = [q.ingest, q.triage, q.assign, q.announce, q.notify, q.index];
  const busy = async () => {
    let n = 0;
    for (const queue of pipeline) {
      const states = ['waiting', 'active', 'prioritized', 'waiting-children'] as const;
      const c = await queue.getJobCounts(
        ...states,
        ...(queue === q.index ? (['delayed'] as const) : []),
      );
      n += Object.values(c).reduce((a, b) => a + b, 0);
    }
    return n;
  };
  const until = Date.now() + timeoutMs;
  // Twice idle in a row: a job that finishes can add the next one a moment later.
  let idle = 0;
  while (Date.now() < until) {
    idle = (await busy()) === 0 ? idle + 1 : 0;
    if (idle >= 2) return true;
    await sleep(200);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// 2. Latency at a steady rate

async function latencyPhase(s: TestServices, t: AppUnderTest, run: string) {
  const count = Math.round(RATE * SECONDS);
  const msgs = Array.from({ length: count }, (_, i) => customerMessage(run, 'p2', i));
  const acked = () => msgs.filter((m) => t.acks.has(m.messageId)).length;
  const client = await imapClient(s, t.mailboxUser);
  const appended = new Array<number>(count);
  const appendedWall = new Array<number>(count);
  const appendStarted = new Array<number>(count);
  const progress = bar(`2. latency ${RATE}/s: acks`, count);
  const tick = setInterval(() => progress.update(acked()), 250);
  let timedOut: string | undefined;
  try {
    const failuresBefore = { ...t.failures };
    const cpu0 = cpuSnapshot(roots(s));
    const profile = startDbProfile();
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    let late = 0;
    for (let i = 0; i < count; i++) {
      const wait = t0 + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -50) late++;
      appendStarted[i] = performance.now();
      inflight.push(
        client.append('INBOX', msgs[i]!.raw).then(() => {
          appended[i] = performance.now();
          appendedWall[i] = Date.now();
        }),
      );
    }
    await Promise.all(inflight);
    const offeredSeconds = (performance.now() - t0) / 1000;
    await waitUntil(
      `${count} acknowledgements at ${RATE} msg/s`,
      () => acked() === count,
      TIMEOUT.latencyDrain,
      20,
    ).catch((err: Error) => {
      if (!(err instanceof PhaseTimeout)) throw err;
      timedOut = `${err.message} after the last APPEND: ${acked()}/${count} acknowledged`;
    });
    const cpu1 = cpuSnapshot(roots(s));
    const dbProfile = profile.stop(8);
    progress.update(acked());
    const latency = msgs.flatMap((m, i) =>
      t.acks.has(m.messageId) ? [t.acks.get(m.messageId)!.at - appended[i]!] : [],
    );

    // Decomposition with the app's timestamps (Date.now(), millisecond resolution).
    const times = await storeTimes(msgs.map((m) => m.messageId));
    const stagesMs = await latencySplit(t, msgs, appendedWall, times);
    return {
      timedOut,
      messages: count,
      acknowledged: acked(),
      misdirected: misdirectedAcks(t, msgs),
      rate: RATE,
      offeredSeconds: round(offeredSeconds, 2),
      appendsStartedLate: late,
      /** Over the acknowledged messages only; see `acknowledged`. */
      latencyMs: summary(latency),
      appendMs: summary(msgs.map((_, i) => appended[i]! - appendStarted[i]!)),
      stagesMs,
      jobFailures: failuresSince(t, failuresBefore),
      dbProfile,
      cpu: cpuBetween(cpu0, cpu1, process.pid),
    };
  } finally {
    clearInterval(tick);
    progress.stop();
    await closeImap(client);
  }
}

/** The moments of the delivery→acknowledgement path, in order; a message lacks those it skipped. */
const POINTS = [
  'APPEND done',
  'new mail announced (IDLE EXISTS)',
  'listed (UID FETCH n:*)',
  'fetched (FETCH BODY[])',
  'raw stored',
  'ingest job starts',
  'ack in outbox',
  'notify job starts',
  'SMTP accepted',
] as const;

/**
 * Split each message's APPEND → acknowledgement into segments between the moments it passed,
 * from the intake's debug lines, the stored documents, BullMQ's job start times and the sink.
 * A moment a message never passed (no notify job when ingest sends the ack itself) joins the
 * two segments around it. All wall-clock milliseconds (Date.now()).
 */
async function latencySplit(
  t: AppUnderTest,
  msgs: BenchMessage[],
  appendedWall: number[],
  times: Awaited<ReturnType<typeof storeTimes>>,
) {
  const first = (msg: string, holds: (l: IntakeTrace) => boolean) =>
    t.intakeTrace.find((l) => l.msg === msg && holds(l))?.time;
  // UIDs and sequence numbers agree here: a fresh mailbox, nothing expunged.
  const covers = (uid: number) => (l: IntakeTrace) => l.from! <= uid && uid <= l.to!;
  const segments = new Map<string, number[]>();
  const total: number[] = [];
  const { ingest, notify } = t.app.ctx.queues;
  for (const [i, m] of msgs.entries()) {
    const x = times.get(m.messageId);
    const accepted = t.acks.get(m.messageId)?.wallAt;
    if (!x || accepted === undefined) continue;
    const [ingestJob, notifyJob] = await Promise.all([
      ingest.getJob(jobIds.ingest(x.rawId)),
      notify.getJob(jobIds.notify(x.outboxId)),
    ]);
    const at: (number | undefined)[] = [
      appendedWall[i],
      first('new mail announced', (l) => (l.count ?? 0) >= x.uid),
      first('listed', covers(x.uid)),
      first('fetched', covers(x.uid)),
      x.stored,
      ingestJob?.processedOn,
      x.ackCreated,
      notifyJob?.processedOn,
      accepted,
    ];
    let prev = 0;
    for (let k = 1; k < POINTS.length; k++) {
      if (at[k] === undefined) continue;
      const label = `${POINTS[prev]} → ${POINTS[k]}`;
      segments.set(label, [...(segments.get(label) ?? []), at[k]! - at[prev]!]);
      prev = k;
    }
    total.push(accepted - appendedWall[i]!);
  }
  return {
    ...Object.fromEntries([...segments].map(([k, v]) => [k, summary(v)])),
    'APPEND done → SMTP accepted (whole path, wall clock)': summary(total),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Memory with a large attachment

type ChildMsg =
  | { type: 'ready'; size: number; messageId: string }
  | { type: 'appended'; size: number; appendMs: number; wallAt: number }
  | { type: 'error'; message: string };

async function memoryPhase(s: TestServices, t: AppUnderTest, run: string) {
  note(
    `3. memory: APPENDing a message with a ${ATTACHMENT_BYTES}-byte attachment from a child process`,
  );
  // The child holds the ~35 MB message buffer, so this process's memory is incidesk's alone.
  const child: ChildProcess = fork(
    path.join(PROJECT_ROOT, 'bench/append-large.ts'),
    [
      JSON.stringify({
        host: s.imapHost,
        port: s.imapPort,
        user: t.mailboxUser,
        pass: s.dovecotPassword,
        mailbox: 'INBOX',
        run,
        attachmentBytes: ATTACHMENT_BYTES,
      }),
    ],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const messages: ChildMsg[] = [];
  let exited = false;
  child.on('message', (m) => messages.push(m as ChildMsg));
  child.on('exit', () => (exited = true));
  const next = async <K extends ChildMsg['type']>(
    type: K,
  ): Promise<Extract<ChildMsg, { type: K }>> => {
    await waitUntil(
      `the APPEND child to report '${type}'`,
      () => {
        const err = messages.find((m) => m.type === 'error');
        if (err?.type === 'error') throw new Error(`APPEND child: ${err.message}`);
        const found = messages.some((m) => m.type === type);
        if (!found && exited) throw new Error('the APPEND child exited early');
        return found;
      },
      TIMEOUT.memory,
      5,
    );
    return messages.find((m) => m.type === type) as Extract<ChildMsg, { type: K }>;
  };
  try {
    const ready = await next('ready');
    // The sampler's thread is a V8 isolate of its own (several MB): started, and settled,
    // before the baseline, so that the growth measured is incidesk's.
    const sampler = startMemorySampler(20);
    const gcForced = forceGc();
    await sleep(300);
    forceGc();
    const before = process.memoryUsage();
    sampler.reset();
    child.send('go');
    const appended = await next('appended');
    const tAppended = performance.now();
    let incidentAt = 0;
    let timedOut: string | undefined;
    await waitUntil(
      'the incident of the large message',
      async () => {
        const found = await Incident.exists({
          'customer.address': `large@customer-${run}.example`,
        });
        if (found) incidentAt = performance.now();
        return found !== null;
      },
      TIMEOUT.memory,
      50,
    ).catch((err: Error) => {
      if (!(err instanceof PhaseTimeout)) throw err;
      timedOut = err.message;
      incidentAt = performance.now();
    });
    const peak = await sampler.stop();
    const peakRss = Math.max(peak.rss, peak.rssThreadPeak);
    return {
      timedOut,
      messageId: ready.messageId,
      messageBytes: ready.size,
      attachmentBytes: ATTACHMENT_BYTES,
      gcForced,
      appendMs: round(appended.appendMs),
      appendDoneToIncidentMs: round(incidentAt - tAppended),
      rssBeforeMB: round(before.rss / MB),
      rssPeakMB: round(peakRss / MB),
      rssGrowthMB: round((peakRss - before.rss) / MB),
      rssPeakAtMs: round(peak.rssAt),
      heapUsedBeforeMB: round(before.heapUsed / MB),
      heapUsedPeakMB: round(peak.heapUsed / MB),
      heapGrowthMB: round((peak.heapUsed - before.heapUsed) / MB),
      externalBeforeMB: round((before.external + before.arrayBuffers) / MB),
      externalPeakMB: round(peak.external / MB),
      mainThreadSamples: peak.samples,
      maxSampleGapMs: round(peak.maxGapMs),
    };
  } finally {
    if (!exited) child.kill('SIGTERM');
  }
}

/** Small messages right after the large one: does one big blob in the store slow the rest down? */
async function afterLargeProbe(s: TestServices, t: AppUnderTest, run: string) {
  const count = 10;
  const intervalMs = 500;
  const msgs = Array.from({ length: count }, (_, i) => customerMessage(run, 'p3', i));
  const client = await imapClient(s, t.mailboxUser);
  const appended = new Array<number>(count);
  let timedOut: string | undefined;
  try {
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      inflight.push(
        client.append('INBOX', msgs[i]!.raw).then(() => void (appended[i] = performance.now())),
      );
      await sleep(intervalMs);
    }
    await Promise.all(inflight);
    await waitUntil(
      'the acknowledgements after the large message',
      () => msgs.every((m) => t.acks.has(m.messageId)),
      TIMEOUT.memory,
    ).catch((err: Error) => {
      if (!(err instanceof PhaseTimeout)) throw err;
      timedOut = err.message;
    });
    const latency = msgs.flatMap((m, i) =>
      t.acks.has(m.messageId) ? [t.acks.get(m.messageId)!.at - appended[i]!] : [],
    );
    return { timedOut, messages: count, intervalMs, latencyMs: summary(latency) };
  } finally {
    await closeImap(client);
  }
}

// ---------------------------------------------------------------------------------------------
// Output

const verdict = (ok: boolean, timedOut?: string) => (timedOut ? 'TIMEOUT' : ok ? 'PASS' : 'MISS');
const cpuLine = (c: ReturnType<typeof cpuBetween>) =>
  `  CPU seconds in ${round(c.wallSeconds, 1)} s wall: ${Object.entries(c.cpuSeconds)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}; whole machine busy ${c.machineBusyPct}% of ${c.cores} cores`;

const failureLine = (f: Record<string, number>) =>
  Object.keys(f).length === 0
    ? '  failed job attempts: none'
    : `  failed job attempts (each retried by BullMQ after a backoff of 2 s, 4 s, 8 s, …): ${Object.entries(
        f,
      )
        .map(([k, v]) => `${v} × ${k}`)
        .join('; ')}`;

/** Commands per message by stage, and within each stage by command and collection. */
function stageTable(title: string, p: DbProfile, perMessage: number): string {
  return table([
    [title, 'calls/msg'],
    ...p.stages.flatMap((s) => [
      [s.stage, String(round(s.commands / perMessage, 2))],
      ...s.ops.map((o) => [`  ${o.op}`, String(round(o.count / perMessage, 2))]),
    ]),
    ['all stages', String(round(p.commands / perMessage, 2))],
  ]);
}

function dbTable(title: string, p: DbProfile, perMessage: number): string {
  return table([
    [title, 'calls', 'calls/msg', 'total ms', 'avg ms', 'max ms'],
    ...p.top.map((r) => [
      r.op,
      String(r.count),
      String(round(r.count / perMessage, 2)),
      String(r.totalMs),
      String(r.avgMs),
      String(r.maxMs),
    ]),
    [
      'all commands',
      String(p.commands),
      String(round(p.commands / perMessage, 1)),
      String(p.totalMs),
      '',
      '',
    ],
  ]);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = performance.now();
  const run = randomBytes(4).toString('hex');
  const cpus = os.cpus();
  const gcExposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  note(
    `node ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model?.trim() ?? '?'}), gc ${gcExposed ? 'exposed' : 'NOT exposed (run with node --expose-gc)'}`,
  );

  let running: RunningServices | undefined;
  let sink: SmtpSink | undefined;
  let current: AppUnderTest | undefined;
  const emergency = (why: string, code: number) => {
    process.stderr.write(`\n[bench] ${why}: stopping the services\n`);
    running?.stopSync();
    process.exit(code);
  };
  const onSignal = (sig: NodeJS.Signals) => emergency(sig, 130);
  const onFatal = (err: unknown) =>
    emergency(`uncaught: ${(err as Error)?.stack ?? String(err)}`, 1);
  // A job cut short by a forced stop may reject after its connections are gone: log, go on.
  const onRejection = (err: unknown) =>
    note(`unhandled rejection: ${(err as Error)?.message ?? String(err)}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onRejection);

  const timeouts: string[] = [];
  try {
    running = await startServices();
    const s = running.services;
    sink = await startSmtpSink();

    // 3. memory first: a fresh process, so the baseline is not padded by the other phases' garbage
    current = await startAppUnderTest(s, sink, run, 'mem');
    const { config, plan } = current;
    const memory = await memoryPhase(s, current, run);
    if (memory.timedOut) timeouts.push(`memory: ${memory.timedOut}`);
    note(`3. memory: RSS +${memory.rssGrowthMB} MB, heapUsed +${memory.heapGrowthMB} MB`);
    let afterLarge: Awaited<ReturnType<typeof afterLargeProbe>> | undefined;
    if (!memory.timedOut) {
      const large = current;
      await waitUntil(
        "the large message's acknowledgement",
        () => large.acks.has(memory.messageId),
        TIMEOUT.memory,
      ).catch((err: Error) => timeouts.push(`memory: ${err.message}`));
      afterLarge = await afterLargeProbe(s, current, run);
      if (afterLarge.timedOut) timeouts.push(`after the large message: ${afterLarge.timedOut}`);
    }
    await stopAppUnderTest(current, timeouts.length > 0);
    current = undefined;

    // 1. throughput
    current = await startAppUnderTest(s, sink, run, 'tp');
    note(
      `1. throughput: ${N} messages (app concurrency ${config.concurrency}, backend ${s.mongoBackend})`,
    );
    const throughput = await throughputPhase(s, current, run);
    if (throughput.timedOut) timeouts.push(`throughput: ${throughput.timedOut}`);
    note(
      `1. throughput: ${throughput.messagesPerSecond} msg/s${throughput.timedOut ? ' (timed out)' : ''}`,
    );
    await stopAppUnderTest(current, throughput.timedOut !== undefined);
    current = undefined;

    // 2. latency
    current = await startAppUnderTest(s, sink, run, 'lat', true);
    note(`2. latency: ${RATE} msg/s for ${SECONDS} s`);
    const latency = await latencyPhase(s, current, run);
    if (latency.timedOut) timeouts.push(`latency: ${latency.timedOut}`);
    note(`2. latency: p50 ${latency.latencyMs.p50} ms, p95 ${latency.latencyMs.p95} ms`);
    await stopAppUnderTest(current, latency.timedOut !== undefined);
    current = undefined;

    // 4. ceilings
    note('4. ceilings of the parts');
    const ceilings: Ceiling[] = [];
    ceilings.push(...(await ceilingImap(s, run, CEILING_N)));
    ceilings.push(await ceilingParse(run, CEILING_N));
    ceilings.push(...(await ceilingStore(s, run, CEILING_N)));
    ceilings.push(await ceilingQueue(s, config.concurrency, CEILING_N));
    ceilings.push(await ceilingSmtp(config, plan, sink, run, CEILING_N));
    ceilings.push(await ceilingIngest(s, config, plan, run, INGEST_CEILING_N));

    const slowestOf = (names: string[]) =>
      ceilings
        .filter((c) => names.includes(c.part))
        .reduce((a, b) => (b.perSecond < a.perSecond ? b : a));
    const slowest = slowestOf(['IMAP fetch', 'parse', 'store', 'queue hop', 'SMTP send']);
    const slowestAll = slowestOf([
      'IMAP fetch',
      'parse',
      'store',
      'queue hop',
      'SMTP send',
      'ingest',
    ]);
    const ratio = round(throughput.messagesPerSecond / slowest.perSecond, 2);
    const ratioAll = round(throughput.messagesPerSecond / slowestAll.perSecond, 2);
    // The database-bound figure: the commands per second the server answered for the ingest
    // worker's own mix (the ingest ceiling, 8 in flight, nothing else running) over the
    // commands the whole pipeline spends per message (phase 1).
    const ingestCeilingRun = ceilings.find((c) => c.part === 'ingest');
    const dbCommandsPerSecond = ingestCeilingRun?.dbProfile
      ? round(ingestCeilingRun.dbProfile.commands / ingestCeilingRun.seconds)
      : NaN;
    const commandsPerMessage = round(
      throughput.dbProfile.commands / Math.max(1, throughput.acknowledged),
      1,
    );
    const dbBound = round(dbCommandsPerSecond / commandsPerMessage, 1);
    const overDbBound = round(throughput.messagesPerSecond / dbBound, 2);
    // The CPU-bound figure: the rate if every core of the machine were busy with phase 1's
    // work at its measured CPU cost per message (all processes: node, the database server,
    // Dovecot, Redis share these cores). Below 1 the pipeline waits on itself, not on CPU.
    const { cores, wallSeconds, machineBusyPct } = throughput.cpu;
    const cpuSeconds = ((machineBusyPct ?? NaN) / 100) * cores * wallSeconds;
    const cpuPerMessage = round(cpuSeconds / Math.max(1, throughput.acknowledged), 4);
    const cpuBound = round(cores / cpuPerMessage, 1);
    const overCpuBound = round(throughput.messagesPerSecond / cpuBound, 2);
    const totalSeconds = round((performance.now() - started) / 1000, 1);
    const integrity: string[] = [];
    if (!throughput.timedOut && throughput.incidents !== N)
      integrity.push(`phase 1: ${N} customer messages opened ${throughput.incidents} incidents`);
    if (throughput.misdirected > 0)
      integrity.push(`phase 1: ${throughput.misdirected} acks went to another customer`);
    if (latency.misdirected > 0)
      integrity.push(`phase 2: ${latency.misdirected} acks went to another customer`);
    const ingestFailures = ceilings.find((c) => c.part === 'ingest')?.failures ?? {};
    for (const [k, v] of Object.entries(ingestFailures))
      if (k.includes('made')) integrity.push(`ingest ceiling: ${k} (${v} merged)`);

    // ---- the table
    const o: string[] = [''];
    o.push(`incidesk intake benchmark — run ${run}, ${new Date().toISOString()}`);
    o.push(
      `database backend: ${s.mongoBackend}   node ${process.version}   CPUs: ${cpus.length} × ${cpus[0]?.model?.trim() ?? '?'}   total ${totalSeconds} s`,
    );
    o.push(
      `app in-process: INCIDESK_CONCURRENCY=${config.concurrency}, IMAP_POLL_SECONDS=${config.imap.pollSeconds}, LOG_LEVEL=silent; each phase on a fresh database, mailbox and queue prefix after 3 warm-up messages`,
    );
    o.push('');
    const tp = throughput;
    o.push(
      table([
        ['figure', 'value', 'target', 'verdict'],
        [
          `1. throughput: ${tp.messages} msgs APPENDed at once → every ack accepted`,
          `${tp.messagesPerSecond} msg/s`,
          `≥ ${TARGET.throughput} msg/s`,
          verdict(tp.messagesPerSecond >= TARGET.throughput, tp.timedOut),
        ],
        ...(tp.timedOut
          ? [
              [
                `   timed out: acknowledged ${tp.acknowledged}/${tp.messages} in ${tp.elapsedSeconds} s (rate above is over those)`,
                '',
                '',
                '',
              ],
            ]
          : [[`   elapsed`, `${tp.elapsedSeconds} s`, '', '']]),
        [
          '   IMAP APPEND of the batch alone (2 connections)',
          `${tp.appendPerSecond} msg/s`,
          '',
          '',
        ],
        [
          `   incidents opened for the ${tp.messages} messages${tp.timedOut ? ' (so far)' : ''}`,
          String(tp.incidents),
          tp.timedOut ? '' : `= ${tp.messages}`,
          tp.timedOut ? '' : verdict(tp.incidents === tp.messages),
        ],
        [
          '   acks sent to another customer than the sender',
          String(tp.misdirected),
          '= 0',
          verdict(tp.misdirected === 0),
        ],
        [
          `2. latency, ${latency.rate} msg/s × ${SECONDS} s, APPEND done → ack accepted: p50`,
          `${latency.latencyMs.p50} ms`,
          '',
          '',
        ],
        [
          '   p95',
          `${latency.latencyMs.p95} ms`,
          `< ${TARGET.latencyP95Ms} ms`,
          verdict(latency.latencyMs.p95 < TARGET.latencyP95Ms, latency.timedOut),
        ],
        ['   p99', `${latency.latencyMs.p99} ms`, '', ''],
        ['   max', `${latency.latencyMs.max} ms`, '', ''],
        ...(latency.timedOut
          ? [
              [
                `   timed out: ${latency.acknowledged}/${latency.messages} acknowledged; percentiles over those`,
                '',
                '',
                '',
              ],
            ]
          : []),
        [
          '   acks sent to another customer than the sender',
          String(latency.misdirected),
          '= 0',
          verdict(latency.misdirected === 0),
        ],
        [
          `3. ${memory.attachmentBytes}-byte attachment (${round(memory.messageBytes / MB)} MB message): RSS growth`,
          `${memory.rssGrowthMB} MB`,
          `< ${TARGET.rssGrowthMB} MB`,
          verdict(memory.rssGrowthMB < TARGET.rssGrowthMB, memory.timedOut),
        ],
        ['   RSS before → peak', `${memory.rssBeforeMB} → ${memory.rssPeakMB} MB`, '', ''],
        [
          '   heapUsed before → peak',
          `${memory.heapUsedBeforeMB} → ${memory.heapUsedPeakMB} MB (+${memory.heapGrowthMB})`,
          '',
          '',
        ],
        [
          '   external+arrayBuffers before → peak',
          `${memory.externalBeforeMB} → ${memory.externalPeakMB} MB`,
          '',
          '',
        ],
        ['   APPEND done → incident exists', `${memory.appendDoneToIncidentMs} ms`, '', ''],
        ...(afterLarge
          ? [
              [
                `   then ${afterLarge.messages} small msgs, 1 per ${afterLarge.intervalMs} ms: latency p50 / max`,
                `${afterLarge.latencyMs.p50} / ${afterLarge.latencyMs.max} ms`,
                '',
                '',
              ],
            ]
          : []),
      ]),
    );
    o.push('');
    o.push(
      table([
        ['4. ceiling of each part alone', 'msgs', 's', 'msg/s', 'how'],
        ...ceilings.map((c) => [
          c.part + (c === slowest ? ' ← slowest' : c === slowestAll ? ' ← slowest of all' : ''),
          String(c.messages),
          String(c.seconds),
          String(c.perSecond),
          c.how,
        ]),
        [
          'pipeline, end to end (phase 1)',
          String(tp.acknowledged),
          String(tp.elapsedSeconds),
          String(tp.messagesPerSecond),
          `= ${ratio} × the slowest of IMAP fetch, parse, store, queue hop, SMTP (${slowest.part})`,
        ],
        ...(slowestAll !== slowest
          ? [
              [
                '',
                '',
                '',
                '',
                `= ${ratioAll} × the slowest counting the ingest worker (${slowestAll.part})`,
              ],
            ]
          : []),
        [
          'database-bound figure',
          '',
          '',
          String(dbBound),
          `= ${dbCommandsPerSecond} commands/s (the server, ingest ceiling's mix) ÷ ${commandsPerMessage} commands per message (phase 1); the pipeline did ${overDbBound} of it`,
        ],
        [
          'CPU-bound figure',
          '',
          '',
          String(cpuBound),
          `= ${cores} cores ÷ ${round(cpuPerMessage * 1000, 1)} ms of CPU per message (the whole machine, phase 1); the pipeline did ${overCpuBound} of it`,
        ],
      ]),
    );
    o.push('');
    o.push('where the time goes');
    o.push('');
    o.push(
      table([
        ['phase 1 timeline, s after the first APPEND', 'msgs', 'first', 'last', 'msg/s to last'],
        ...Object.entries(tp.stages).map(([k, v]) => [
          k,
          String(v.n),
          String(v.firstS),
          String(v.lastS),
          String(v.perSecond),
        ]),
      ]),
    );
    o.push(cpuLine(tp.cpu));
    o.push(failureLine(tp.jobFailures));
    o.push(
      `  other mail accepted by the sink meanwhile (agent notifications etc.): ${tp.otherMailAccepted}`,
    );
    o.push('');
    o.push(
      dbTable(
        'phase 1 database commands (driver-timed)',
        tp.dbProfile,
        Math.max(1, tp.acknowledged),
      ),
    );
    o.push('');
    o.push(
      stageTable(
        `phase 1 database commands by stage${tp.pipelineDrained ? ', until every queue was empty' : ' (queues NOT drained: an undercount)'}`,
        tp.dbProfile,
        Math.max(1, tp.acknowledged),
      ),
    );
    o.push('');
    o.push(
      table([
        [
          'phase 2 per stage, ms (app timestamps, 1 ms resolution)',
          'n',
          'p50',
          'p95',
          'p99',
          'max',
        ],
        ...Object.entries(latency.stagesMs).map(([k, v]) => [
          k,
          String(v.n),
          String(v.p50),
          String(v.p95),
          String(v.p99),
          String(v.max),
        ]),
        [
          'the APPEND command itself',
          String(latency.appendMs.n),
          String(latency.appendMs.p50),
          String(latency.appendMs.p95),
          String(latency.appendMs.p99),
          String(latency.appendMs.max),
        ],
      ]),
    );
    o.push(cpuLine(latency.cpu));
    o.push(failureLine(latency.jobFailures));
    const ingestCeiling = ceilings.find((c) => c.part === 'ingest');
    if (ingestCeiling?.dbProfile) {
      o.push('');
      o.push(
        dbTable(
          `ingest ceiling database commands (${ingestCeiling.messages} msgs)`,
          ingestCeiling.dbProfile,
          ingestCeiling.messages,
        ),
      );
      if (ingestCeiling.replyProfile)
        o.push(
          '',
          dbTable(
            `ingest ceiling database commands for a customer's follow-up (${ingestCeiling.messages} msgs)`,
            ingestCeiling.replyProfile,
            ingestCeiling.messages,
          ),
        );
      o.push(
        failureLine(ingestCeiling.failures ?? {}).replace(
          'each retried by BullMQ after a backoff of 2 s, 4 s, 8 s, …',
          'retried at once here',
        ),
      );
    }
    o.push('');
    if (!memory.gcForced)
      o.push('note: gc was not exposed; run with node --expose-gc for a clean memory baseline');
    o.push(
      `note: memory peak sampled every 20 ms by a worker thread (RSS) and the main thread (${memory.mainThreadSamples} samples, largest gap ${memory.maxSampleGapMs} ms); the APPEND ran in a child process`,
    );
    if (timeouts.length > 0) o.push(`TIMED OUT: ${timeouts.join('; ')}`);
    if (integrity.length > 0) o.push(`WRONG RESULTS: ${integrity.join('; ')}`);
    o.push('');
    process.stdout.write(o.join('\n') + '\n');

    const json = {
      bench: 'incidesk-intake',
      run,
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model?.trim(),
      dbBackend: s.mongoBackend,
      concurrency: config.concurrency,
      totalSeconds,
      targets: TARGET,
      pass: {
        throughput: !tp.timedOut && tp.messagesPerSecond >= TARGET.throughput,
        latencyP95: !latency.timedOut && latency.latencyMs.p95 < TARGET.latencyP95Ms,
        rssGrowth: !memory.timedOut && memory.rssGrowthMB < TARGET.rssGrowthMB,
      },
      throughput,
      latency,
      memory,
      afterLarge,
      ceilings,
      slowestPart: slowest.part,
      pipelineOverSlowest: ratio,
      slowestPartCountingIngest: slowestAll.part,
      pipelineOverSlowestCountingIngest: ratioAll,
      dbCommandsPerSecond,
      commandsPerMessage,
      dbBoundMessagesPerSecond: dbBound,
      pipelineOverDbBound: overDbBound,
      cpuSecondsPerMessage: cpuPerMessage,
      cpuBoundMessagesPerSecond: cpuBound,
      timeouts,
      integrity,
    };
    process.stdout.write(JSON.stringify(json) + '\n');
    if (integrity.length > 0) {
      process.stderr.write(`[bench] FAILED: wrong results: ${integrity.join('; ')}\n`);
      return 1;
    }
    if (timeouts.length > 0) {
      process.stderr.write(`[bench] FAILED: a phase timed out: ${timeouts.join('; ')}\n`);
      return 2;
    }
    return 0;
  } catch (err) {
    const e = err as Error;
    process.stderr.write(
      `\n[bench] FAILED: ${e instanceof PhaseTimeout ? e.message : (e.stack ?? e.message)}\n`,
    );
    return e instanceof PhaseTimeout ? 2 : 1;
  } finally {
    note('stopping');
    if (current) await stopAppUnderTest(current, true).catch((e: Error) => note(e.message));
    await sink?.close().catch(() => undefined);
    await running?.stop().catch((e: Error) => note(`services stop: ${e.message}`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const code = await main();
// Anything still holding the event loop (a stray socket) must not keep a finished bench alive.
process.exit(code);
