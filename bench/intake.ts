/**
 * End-to-end benchmark of the intake pipeline on real services:
 *
 *   IMAP APPEND (Dovecot) → intake (IDLE, fetch, GridFS) → BullMQ ingest → MongoDB protocol
 *   (FerretDB) → BullMQ notify → SMTP (an smtp-server sink in this process)
 *
 * Phases: warm-up, memory with a 25 MB attachment, throughput (1000 messages appended at once),
 * latency at a steady 10 msg/s, then the raw ceilings of each part on its own. Progress goes
 * to stderr, the results table and one JSON line to stdout.
 *
 *   npm run bench            (node --expose-gc --import tsx bench/intake.ts)
 *
 * Environment: BENCH_N (default 1000), BENCH_RATE (10), BENCH_SECONDS (30),
 * BENCH_ATTACHMENT_BYTES (26214400), BENCH_CEILING_N (1000). MONGODB_URI / REDIS_URL select
 * external servers as in the tests (see test/support/services.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker as Thread } from 'node:worker_threads';
import { Worker } from 'bullmq';
import cliProgress from 'cli-progress';
import { ImapFlow } from 'imapflow';
import { redisConnection, startApp, type RunningApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { IMAP_SYNC_BATCH_SIZE, JOB_MAX_STALLED_COUNT, JOB_STALLED_INTERVAL_MS } from '../src/constants.js';
import { createLogger } from '../src/log.js';
import { composeAcknowledgement } from '../src/mail/compose.js';
import { createMailer } from '../src/mail/outbound.js';
import { parseMessage } from '../src/mail/parse.js';
import { loadPlan } from '../src/plan/load.js';
import type { Plan } from '../src/plan/schema.js';
import { openQueues, QUEUES } from '../src/queues.js';
import { connectStore, disconnectStore } from '../src/store/db.js';
import { Incident, Outbox, RawMessage, type OutboxDoc } from '../src/store/models.js';
import { storeRaw } from '../src/store/raw-messages.js';
import { PROJECT_ROOT, startServices, uniqueName, type RunningServices, type TestServices } from '../test/support/services.js';
import { customerMessage, SUPPORT, type BenchMessage } from './messages.js';
import { cpuBetween, cpuSnapshot, type CpuSnapshot } from './procstat.js';
import { startSmtpSink, type Accepted, type SmtpSink } from './smtp-sink.js';

// ---------------------------------------------------------------------------------------------
// Parameters and targets

const num = (name: string, dflt: number) => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number(v);
};
const N = num('BENCH_N', 1000);
const RATE = num('BENCH_RATE', 10);
const SECONDS = num('BENCH_SECONDS', 30);
const ATTACHMENT_BYTES = num('BENCH_ATTACHMENT_BYTES', 26_214_400);
const CEILING_N = num('BENCH_CEILING_N', 1000);

const TARGET = { throughput: 100, latencyP95Ms: 2000, rssGrowthMB: 64 };
const TIMEOUT = {
  warmup: 30_000,
  throughput: 120_000,
  latencyDrain: 30_000,
  memory: 90_000,
  ceiling: 60_000,
};
const MB = 1024 * 1024;

class PhaseTimeout extends Error {
  override readonly name = 'PhaseTimeout';
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const note = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: round(percentile(s, 50)),
    p95: round(percentile(s, 95)),
    p99: round(percentile(s, 99)),
    max: round(s[s.length - 1] ?? NaN),
  };
}

async function waitUntil(what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20) {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new PhaseTimeout(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

function bar(label: string, total: number): cliProgress.SingleBar {
  const b = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(28)} {bar} {value}/{total} {percentage}% | {duration_formatted}{extra}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  b.start(total, 0, { extra: '' });
  return b;
}

function withDatabase(uri: string, dbName: string): string {
  const url = new URL(uri);
  url.pathname = `/${dbName}`;
  return url.toString();
}

async function imapClient(s: TestServices, user: string): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: s.imapHost,
    port: s.imapPort,
    secure: false,
    auth: { user, pass: s.dovecotPassword },
    logger: false,
  });
  await client.connect();
  return client;
}

/** APPEND every message, spread over the given connections (imapflow keeps one command in flight per connection). */
async function appendAll(clients: ImapFlow[], mailbox: string, messages: BenchMessage[], onDone?: (i: number) => void) {
  const done: number[] = new Array<number>(messages.length);
  await Promise.all(
    messages.map(async (m, i) => {
      await clients[i % clients.length]!.append(mailbox, m.raw);
      done[i] = performance.now();
      onDone?.(i);
    }),
  );
  return done;
}

/** Peak RSS from a worker thread (keeps sampling while the main thread is busy) plus main-thread samples of RSS and heap. */
function startMemorySampler(intervalMs: number) {
  const shared = new SharedArrayBuffer(16);
  const cells = new BigInt64Array(shared); // [0] peak rss, [1] stop
  const thread = new Thread(
    `const { workerData } = require('node:worker_threads');
     const cells = new BigInt64Array(workerData.shared);
     const tick = () => {
       const rss = BigInt(process.memoryUsage.rss());
       if (rss > Atomics.load(cells, 0)) Atomics.store(cells, 0, rss);
       if (Atomics.load(cells, 1) === 1n) { clearInterval(timer); }
     };
     const timer = setInterval(tick, workerData.intervalMs);
     tick();`,
    { eval: true, workerData: { shared, intervalMs } },
  );
  const main = { rss: 0, heapUsed: 0, external: 0, samples: 0, maxGapMs: 0 };
  let last = performance.now();
  const sample = () => {
    const now = performance.now();
    main.maxGapMs = Math.max(main.maxGapMs, now - last);
    last = now;
    const m = process.memoryUsage();
    main.rss = Math.max(main.rss, m.rss);
    main.heapUsed = Math.max(main.heapUsed, m.heapUsed);
    main.external = Math.max(main.external, m.external + m.arrayBuffers);
    main.samples++;
  };
  const timer = setInterval(sample, intervalMs);
  sample();
  return {
    async stop() {
      clearInterval(timer);
      sample();
      Atomics.store(cells, 1, 1n);
      await thread.terminate();
      return { ...main, rssThreadPeak: Number(Atomics.load(cells, 0)) };
    },
  };
}

function forceGc() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

// ---------------------------------------------------------------------------------------------
// The app under test

interface AppUnderTest {
  app: RunningApp;
  config: Config;
  plan: Plan;
  mailboxUser: string;
  /** In-Reply-To → acceptance, for every message the sink accepted. */
  acks: Map<string, Accepted>;
}

async function startAppUnderTest(s: TestServices, sink: SmtpSink, run: string): Promise<AppUnderTest> {
  const mailboxUser = `${uniqueName('support')}@example.test`;
  const env: Record<string, string> = {
    MONGODB_URI: withDatabase(s.mongoUri, `bench_${run}`),
    REDIS_URL: s.redisUrl,
    IMAP_HOST: s.imapHost,
    IMAP_PORT: String(s.imapPort),
    IMAP_SECURE: 'false',
    IMAP_USER: mailboxUser,
    IMAP_PASS: s.dovecotPassword,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(sink.port),
    SMTP_SECURE: 'false',
    SUPPORT_ADDRESS: SUPPORT,
    SUPPORT_NAME: 'Example Support',
    INCIDESK_SECRET: `bench-secret-${run}-0123456789`,
    INCIDESK_PLAN: path.join(PROJECT_ROOT, 'plan.example.yaml'),
    INCIDESK_QUEUE_PREFIX: uniqueName('q'),
    LOG_LEVEL: 'silent',
  };
  const config = loadConfig(env);
  const plan = await loadPlan(config.planPath);
  const app = await startApp(config, plan, createLogger(config.logLevel));
  const acks = new Map<string, Accepted>();
  sink.onAccept = (a) => {
    if (a.inReplyTo) acks.set(a.inReplyTo, a);
  };
  await app.intake!.synced();
  return { app, config, plan, mailboxUser, acks };
}

/** Per-message timestamps the app wrote (Date.now() clock), joined through the ack's In-Reply-To. */
async function storeTimes(messageIds: string[]) {
  const outbox = await Outbox.find(
    { inReplyTo: { $in: messageIds } },
    { _id: 1, inReplyTo: 1, createdAt: 1, sentAt: 1 },
  ).lean<{ _id: string; inReplyTo: string; createdAt: Date; sentAt?: Date }[]>();
  const rawIds = outbox.map((o) => o._id.replace(/^ack-/, ''));
  const raws = await RawMessage.find({ _id: { $in: rawIds } }, { _id: 1, receivedAt: 1, processedAt: 1 }).lean<
    { _id: string; receivedAt: Date; processedAt?: Date }[]
  >();
  const rawById = new Map(raws.map((r) => [r._id, r]));
  const out = new Map<string, { stored: number; ackCreated: number; ingested?: number; sent?: number }>();
  for (const o of outbox) {
    const r = rawById.get(o._id.replace(/^ack-/, ''));
    if (!r) continue;
    out.set(o.inReplyTo, {
      stored: r.receivedAt.getTime(),
      ackCreated: o.createdAt.getTime(),
      ingested: r.processedAt?.getTime(),
      sent: o.sentAt?.getTime(),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Phases

async function warmUp(s: TestServices, t: AppUnderTest, run: string) {
  const client = await imapClient(s, t.mailboxUser);
  try {
    const msgs = [0, 1, 2].map((i) => customerMessage(run, 'warm', i));
    await appendAll([client], 'INBOX', msgs);
    await waitUntil('the warm-up acknowledgements', () => msgs.every((m) => t.acks.has(m.messageId)), TIMEOUT.warmup);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

async function memoryPhase(s: TestServices, t: AppUnderTest, run: string) {
  note(`memory: appending a message with a ${ATTACHMENT_BYTES}-byte attachment from a child process`);
  const child: ChildProcess = fork(path.join(PROJECT_ROOT, 'bench/append-large.ts'), [
    JSON.stringify({
      host: s.imapHost,
      port: s.imapPort,
      user: t.mailboxUser,
      pass: s.dovecotPassword,
      mailbox: 'INBOX',
      run,
      attachmentBytes: ATTACHMENT_BYTES,
    }),
  ], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  type ChildMsg =
    | { type: 'ready'; size: number; messageId: string }
    | { type: 'appended'; size: number; appendMs: number; wallAt: number }
    | { type: 'error'; message: string };
  const messages: ChildMsg[] = [];
  let exited = false;
  child.on('message', (m) => messages.push(m as ChildMsg));
  child.on('exit', () => (exited = true));
  const next = async (type: ChildMsg['type']) => {
    await waitUntil(`the append child to report '${type}'`, () => {
      const err = messages.find((m) => m.type === 'error');
      if (err && err.type === 'error') throw new Error(`append child: ${err.message}`);
      if (exited && !messages.some((m) => m.type === type)) throw new Error('append child exited early');
      return messages.some((m) => m.type === type);
    }, TIMEOUT.memory, 5);
    return messages.find((m) => m.type === type)!;
  };
  try {
    const ready = (await next('ready')) as Extract<ChildMsg, { type: 'ready' }>;
    const gcAvailable = forceGc();
    await sleep(300);
    forceGc();
    const before = process.memoryUsage();
    const sampler = startMemorySampler(20);
    const t0 = performance.now();
    child.send('go');
    const appended = (await next('appended')) as Extract<ChildMsg, { type: 'appended' }>;
    const tAppended = performance.now();
    let incidentAt = 0;
    await waitUntil(
      'the incident of the large message',
      async () => {
        const found = await Incident.exists({ 'customer.address': `large@customer-${run}.example` });
        if (found) incidentAt = performance.now();
        return found !== null;
      },
      TIMEOUT.memory,
      50,
    );
    const peak = await sampler.stop();
    const ackAt = t.acks.get(ready.messageId);
    const peakRss = Math.max(peak.rss, peak.rssThreadPeak);
    return {
      messageBytes: ready.size,
      attachmentBytes: ATTACHMENT_BYTES,
      gcForced: gcAvailable,
      appendMs: round(appended.appendMs),
      appendToIncidentMs: round(incidentAt - tAppended),
      totalMs: round(incidentAt - t0),
      rssBeforeMB: round(before.rss / MB),
      rssPeakMB: round(peakRss / MB),
      rssGrowthMB: round((peakRss - before.rss) / MB),
      heapUsedBeforeMB: round(before.heapUsed / MB),
      heapUsedPeakMB: round(peak.heapUsed / MB),
      heapGrowthMB: round((peak.heapUsed - before.heapUsed) / MB),
      externalBeforeMB: round((before.external + before.arrayBuffers) / MB),
      externalPeakMB: round(peak.external / MB),
      samples: peak.samples,
      maxSampleGapMs: round(peak.maxGapMs),
      ackAlreadyAccepted: ackAt !== undefined,
      _messageId: ready.messageId,
    };
  } finally {
    if (!exited) child.kill('SIGTERM');
  }
}

async function throughputPhase(s: TestServices, t: AppUnderTest, run: string, roots: () => number[]) {
  const msgs = Array.from({ length: N }, (_, i) => customerMessage(run, 'p1', i));
  const clients = [await imapClient(s, t.mailboxUser), await imapClient(s, t.mailboxUser)];
  const incidentsBefore = await Incident.countDocuments();
  const progress = bar('throughput: acks received', N);
  const ids = new Set(msgs.map((m) => m.messageId));
  const tick = setInterval(() => progress.update(msgs.reduce((n, m) => n + (t.acks.has(m.messageId) ? 1 : 0), 0)), 250);
  try {
    const cpu0: CpuSnapshot = cpuSnapshot(roots());
    const wall0 = Date.now();
    const t0 = performance.now();
    const appendDone = await appendAll(clients, 'INBOX', msgs);
    const appendEnd = Math.max(...appendDone);
    await waitUntil(`${N} acknowledgements`, () => msgs.every((m) => t.acks.has(m.messageId)), TIMEOUT.throughput, 20);
    const lastAck = Math.max(...msgs.map((m) => t.acks.get(m.messageId)!.at));
    // Every ack implies its incident; check anyway that the incidents exist.
    const incidents = (await Incident.countDocuments()) - incidentsBefore;
    const cpu1 = cpuSnapshot(roots());
    if (incidents < N) throw new Error(`expected ${N} new incidents, found ${incidents}`);
    progress.update(N);
    const elapsed = (lastAck - t0) / 1000;

    // Where the time went: when each stage finished its last message (app's own timestamps).
    const times = await storeTimes([...ids]);
    const col = (k: 'stored' | 'ackCreated' | 'ingested' | 'sent') =>
      [...times.values()].map((v) => v[k]).filter((x): x is number => typeof x === 'number');
    const span = (xs: number[]) => ({
      firstS: round((Math.min(...xs) - wall0) / 1000, 2),
      lastS: round((Math.max(...xs) - wall0) / 1000, 2),
      perSecond: round(xs.length / ((Math.max(...xs) - wall0) / 1000)),
    });
    const ackTimes = msgs.map((m) => t.acks.get(m.messageId)!.wallAt);
    return {
      messages: N,
      incidents,
      appendSeconds: round((appendEnd - t0) / 1000, 2),
      appendPerSecond: round(N / ((appendEnd - t0) / 1000)),
      elapsedSeconds: round(elapsed, 2),
      messagesPerSecond: round(N / elapsed),
      stages: {
        'appended (IMAP)': { firstS: round((Math.min(...appendDone) - t0) / 1000, 2), lastS: round((appendEnd - t0) / 1000, 2), perSecond: round(N / ((appendEnd - t0) / 1000)) },
        'raw stored (intake)': span(col('stored')),
        'ack created (ingest)': span(col('ackCreated')),
        'raw ingested (ingest end)': span(col('ingested')),
        'ack sent (notify)': span(col('sent')),
        'ack accepted (SMTP sink)': span(ackTimes),
      },
      cpu: cpuBetween(cpu0, cpu1, process.pid),
    };
  } finally {
    clearInterval(tick);
    progress.stop();
    for (const c of clients) await c.logout().catch(() => c.close());
  }
}

async function latencyPhase(s: TestServices, t: AppUnderTest, run: string, roots: () => number[]) {
  const count = Math.round(RATE * SECONDS);
  const msgs = Array.from({ length: count }, (_, i) => customerMessage(run, 'p2', i));
  const client = await imapClient(s, t.mailboxUser);
  const appended = new Array<number>(count);
  const appendedWall = new Array<number>(count);
  const appendStarted = new Array<number>(count);
  const progress = bar(`latency: ${RATE} msg/s, acks`, count);
  const tick = setInterval(() => progress.update(msgs.reduce((n, m) => n + (t.acks.has(m.messageId) ? 1 : 0), 0)), 250);
  try {
    const cpu0 = cpuSnapshot(roots());
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    let behind = 0;
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -50) behind++;
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
      () => msgs.every((m) => t.acks.has(m.messageId)),
      TIMEOUT.latencyDrain,
      20,
    );
    const cpu1 = cpuSnapshot(roots());
    const latency = msgs.map((m, i) => t.acks.get(m.messageId)!.at - appended[i]!);
    const appendMs = msgs.map((_, i) => appended[i]! - appendStarted[i]!);

    // Decomposition with the app's timestamps (Date.now(), millisecond resolution).
    const times = await storeTimes(msgs.map((m) => m.messageId));
    const stage = { intake: [] as number[], ingest: [] as number[], notify: [] as number[], sinkAfterSent: [] as number[] };
    msgs.forEach((m, i) => {
      const x = times.get(m.messageId);
      if (!x) return;
      stage.intake.push(x.stored - appendedWall[i]!);
      stage.ingest.push(x.ackCreated - x.stored);
      if (x.sent !== undefined) stage.notify.push(x.sent - x.ackCreated);
    });
    return {
      messages: count,
      rate: RATE,
      offeredSeconds: round(offeredSeconds, 2),
      appendsBehindSchedule: behind,
      latencyMs: summary(latency),
      appendMs: summary(appendMs),
      stagesMs: {
        'APPEND done → raw stored (IMAP notice, fetch, GridFS, enqueue)': summary(stage.intake),
        'raw stored → ack in outbox (ingest queue wait + ingest)': summary(stage.ingest),
        'ack in outbox → marked sent (notify queue wait + SMTP + DB)': summary(stage.notify),
      },
      cpu: cpuBetween(cpu0, cpu1, process.pid),
    };
  } finally {
    clearInterval(tick);
    progress.stop();
    await client.logout().catch(() => client.close());
  }
}

// ---------------------------------------------------------------------------------------------
// Raw ceilings of the parts, each on its own

interface Ceiling {
  part: string;
  how: string;
  messages: number;
  seconds: number;
  perSecond: number;
}

function ceiling(part: string, how: string, messages: number, ms: number): Ceiling {
  return { part, how, messages, seconds: round(ms / 1000, 2), perSecond: round(messages / (ms / 1000)) };
}

async function ceilingImap(s: TestServices, run: string): Promise<Ceiling[]> {
  const user = `${uniqueName('ceiling')}@example.test`;
  const msgs = Array.from({ length: CEILING_N }, (_, i) => customerMessage(run, 'cf', i));
  const appenders = [await imapClient(s, user), await imapClient(s, user)];
  const progress = bar('ceiling: IMAP pre-fill', CEILING_N);
  let done = 0;
  const t0 = performance.now();
  try {
    await appendAll(appenders, 'INBOX', msgs, () => progress.update(++done));
  } finally {
    progress.stop();
    for (const c of appenders) await c.logout().catch(() => c.close());
  }
  const appendMs = performance.now() - t0;

  const client = await imapClient(s, user);
  try {
    await client.mailboxOpen('INBOX');
    // As the intake does it: list UIDs and sizes, then FETCH the sources in batches.
    const t1 = performance.now();
    const listed = await client.fetchAll('1:*', { uid: true, size: true }, { uid: true });
    const uids = listed.map((m) => m.uid).sort((a, b) => a - b);
    let bytes = 0;
    for (let i = 0; i < uids.length; i += IMAP_SYNC_BATCH_SIZE) {
      const batch = uids.slice(i, i + IMAP_SYNC_BATCH_SIZE);
      for (const m of await client.fetchAll(batch, { uid: true, source: true }, { uid: true })) bytes += m.source?.length ?? 0;
    }
    const fetchMs = performance.now() - t1;
    if (uids.length !== CEILING_N) throw new Error(`IMAP ceiling: expected ${CEILING_N} messages, listed ${uids.length}`);
    void bytes;
    return [
      ceiling('IMAP append', '2 connections, imapflow queues 1 command in flight each', CEILING_N, appendMs),
      ceiling('IMAP fetch', `list + FETCH BODY[] in batches of ${IMAP_SYNC_BATCH_SIZE}, 1 connection`, CEILING_N, fetchMs),
    ];
  } finally {
    await client.logout().catch(() => client.close());
  }
}

async function ceilingParse(run: string): Promise<Ceiling> {
  const raws = Array.from({ length: CEILING_N }, (_, i) => customerMessage(run, 'cp', i).raw);
  const t0 = performance.now();
  for (const raw of raws) {
    await parseMessage(Readable.from([raw]), async (_info, content) => {
      content.resume();
      await new Promise((r) => content.once('end', r));
    });
  }
  return ceiling('parse', 'parseMessage (mailparser) over in-memory buffers, sequential', CEILING_N, performance.now() - t0);
}

async function ceilingStore(s: TestServices, run: string): Promise<Ceiling[]> {
  await connectStore(withDatabase(s.mongoUri, `bench_ceiling_${run}`));
  try {
    const source = (uid: number) => ({ mailbox: 'INBOX', uidValidity: '1', uid });
    const seq = Array.from({ length: CEILING_N }, (_, i) => customerMessage(run, 'cs', i).raw);
    const progress = bar('ceiling: storeRaw sequential', CEILING_N);
    const t0 = performance.now();
    for (let i = 0; i < seq.length; i++) {
      await storeRaw(seq[i]!, source(i + 1));
      if (i % 20 === 0) progress.update(i);
    }
    const seqMs = performance.now() - t0;
    progress.update(CEILING_N);
    progress.stop();

    const par = Array.from({ length: CEILING_N }, (_, i) => customerMessage(run, 'cc', i).raw);
    const progress2 = bar('ceiling: storeRaw 8 at a time', CEILING_N);
    let next = 0;
    let done = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < par.length) {
          const i = next++;
          await storeRaw(par[i]!, source(CEILING_N + i + 1));
          if (++done % 20 === 0) progress2.update(done);
        }
      }),
    );
    const parMs = performance.now() - t1;
    progress2.update(CEILING_N);
    progress2.stop();
    return [
      ceiling('store', 'storeRaw into GridFS + raw_messages, one at a time (as the intake calls it)', CEILING_N, seqMs),
      ceiling('store ×8', 'storeRaw, 8 in flight', CEILING_N, parMs),
    ];
  } finally {
    await disconnectStore();
  }
}

async function ceilingQueue(s: TestServices, concurrency: number): Promise<Ceiling> {
  const redis = redisConnection(s.redisUrl);
  const prefix = uniqueName('q');
  const queues = openQueues(redis, prefix);
  let completed = 0;
  const worker = new Worker(QUEUES.ingest, async () => undefined, {
    connection: redis,
    prefix,
    concurrency,
    stalledInterval: JOB_STALLED_INTERVAL_MS,
    maxStalledCount: JOB_MAX_STALLED_COUNT,
  });
  worker.on('completed', () => completed++);
  try {
    await worker.waitUntilReady();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CEILING_N }, (_, i) =>
        queues.ingest.add('ingest', { rawId: `bench-${i}` }, { jobId: `ingest-bench-${i}` }),
      ),
    );
    await waitUntil('the queue-hop jobs', () => completed >= CEILING_N, TIMEOUT.ceiling, 5);
    const ms = performance.now() - t0;
    return ceiling('queue hop', `BullMQ add (one by one) → worker (concurrency ${concurrency}) completes an empty job`, CEILING_N, ms);
  } finally {
    await worker.close();
    await queues.close();
    redis.disconnect();
  }
}

async function ceilingSmtp(config: Config, plan: Plan, sink: SmtpSink, run: string): Promise<Ceiling> {
  sink.onAccept = undefined;
  const before = sink.accepted.length;
  const mailer = createMailer(config);
  try {
    const docs = Array.from({ length: CEILING_N }, (_, i) => {
      const raw = `ceiling-smtp-${run}-${i}`;
      return composeAcknowledgement(
        { config, plan },
        { number: 900_000 + i, subject: `Invoice portal returns 500 (#${i})`, customer: { address: `cm-${i}@customer.example`, name: 'Customer' } },
        { messageId: `<cm-${i}.${run}@customer.example>`, references: [] },
        raw,
      ) as unknown as OutboxDoc;
    });
    const t0 = performance.now();
    await Promise.all(docs.map((d) => mailer.send(d)));
    const ms = performance.now() - t0;
    if (sink.accepted.length - before < CEILING_N) throw new Error('SMTP ceiling: the sink did not accept every message');
    return ceiling('SMTP send', 'createMailer (nodemailer pool, the app\'s settings) → smtp-server sink, all queued at once', CEILING_N, ms);
  } finally {
    mailer.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = performance.now();
  const run = randomBytes(4).toString('hex');
  const cpus = os.cpus();
  note(`node ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), gc ${typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'exposed' : 'NOT exposed (run with node --expose-gc)'}`);

  let running: RunningServices | undefined;
  let sink: SmtpSink | undefined;
  let t: AppUnderTest | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    note(`${sig}: stopping services`);
    running?.stopSync();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    running = await startServices();
    const s = running.services;
    const dovecotPid = () => {
      try {
        return Number(readFileSync(path.join(s.dovecotDir, 'run', 'master.pid'), 'utf8').trim());
      } catch {
        return 0;
      }
    };
    const roots = () => [process.pid, dovecotPid()].filter((p) => p > 0);
    sink = await startSmtpSink();
    t = await startAppUnderTest(s, sink, run);
    note(`app started (db bench_${run}, mailbox ${t.mailboxUser}, concurrency ${t.config.concurrency})`);

    note('warm-up: 3 messages');
    await warmUp(s, t, run);

    const memory = await memoryPhase(s, t, run);
    note(`memory: RSS +${memory.rssGrowthMB} MB, heapUsed +${memory.heapGrowthMB} MB, ${memory.totalMs} ms`);
    // Its acknowledgement must not land in the throughput window.
    await waitUntil('the large message\'s acknowledgement', () => t!.acks.has(memory._messageId), TIMEOUT.memory);

    const throughput = await throughputPhase(s, t, run, roots);
    note(`throughput: ${throughput.messagesPerSecond} msg/s end to end (${throughput.elapsedSeconds} s)`);
    await sleep(1000);

    const latency = await latencyPhase(s, t, run, roots);
    note(`latency: p50 ${latency.latencyMs.p50} ms, p95 ${latency.latencyMs.p95} ms`);

    await t.app.stop();
    const { config, plan } = t;
    t = undefined;

    note('ceilings');
    const ceilings: Ceiling[] = [];
    ceilings.push(...(await ceilingImap(s, run)));
    ceilings.push(await ceilingParse(run));
    ceilings.push(...(await ceilingStore(s, run)));
    ceilings.push(await ceilingQueue(s, config.concurrency));
    ceilings.push(await ceilingSmtp(config, plan, sink, run));

    // The parts the pipeline is made of, as it uses them (the ×8 store and the append are context).
    const parts = ceilings.filter((c) => ['IMAP fetch', 'parse', 'store', 'queue hop', 'SMTP send'].includes(c.part));
    const slowest = parts.reduce((a, b) => (b.perSecond < a.perSecond ? b : a));
    const ratio = round(throughput.messagesPerSecond / slowest.perSecond, 2);
    const totalSeconds = round((performance.now() - started) / 1000, 1);

    // ---- output
    const out: string[] = [];
    out.push('');
    out.push(`incidesk intake benchmark — run ${run}`);
    out.push(`database backend: ${s.mongoBackend}   node ${process.version}   CPUs: ${cpus.length} × ${cpus[0]?.model?.trim() ?? '?'}   total ${totalSeconds} s`);
    out.push(`app: INCIDESK_CONCURRENCY=${config.concurrency}, IMAP_POLL_SECONDS=${config.imap.pollSeconds}, plan ${plan.fingerprint}`);
    out.push('');
    out.push(
      table([
        ['figure', 'value', 'target', 'verdict'],
        [`1. throughput, ${throughput.messages} msgs appended at once → all acks accepted`, `${throughput.messagesPerSecond} msg/s`, `≥ ${TARGET.throughput} msg/s`, verdict(throughput.messagesPerSecond >= TARGET.throughput)],
        ['   (IMAP APPEND of the batch alone)', `${throughput.appendPerSecond} msg/s`, '', ''],
        [`2. latency at ${latency.rate} msg/s × ${SECONDS} s, APPEND done → ack accepted: p50`, `${latency.latencyMs.p50} ms`, '', ''],
        ['   p95', `${latency.latencyMs.p95} ms`, `< ${TARGET.latencyP95Ms} ms`, verdict(latency.latencyMs.p95 < TARGET.latencyP95Ms)],
        ['   p99', `${latency.latencyMs.p99} ms`, '', ''],
        ['   max', `${latency.latencyMs.max} ms`, '', ''],
        [`3. ${ATTACHMENT_BYTES}-byte attachment (${round(memory.messageBytes / MB)} MB message): RSS growth`, `${memory.rssGrowthMB} MB`, `< ${TARGET.rssGrowthMB} MB`, verdict(memory.rssGrowthMB < TARGET.rssGrowthMB)],
        ['   RSS before → peak', `${memory.rssBeforeMB} → ${memory.rssPeakMB} MB`, '', ''],
        ['   heapUsed before → peak (growth)', `${memory.heapUsedBeforeMB} → ${memory.heapUsedPeakMB} MB (+${memory.heapGrowthMB})`, '', ''],
        ['   external+arrayBuffers before → peak', `${memory.externalBeforeMB} → ${memory.externalPeakMB} MB`, '', ''],
        ['   APPEND done → incident exists', `${memory.appendToIncidentMs} ms`, '', ''],
      ]),
    );
    out.push('');
    out.push(
      table([
        ['4. raw ceiling of each part (alone)', 'msgs', 'seconds', 'msg/s', 'how'],
        ...ceilings.map((c) => [c.part + (c === slowest ? '  ← slowest' : ''), String(c.messages), String(c.seconds), String(c.perSecond), c.how]),
        ['pipeline end to end', String(throughput.messages), String(throughput.elapsedSeconds), String(throughput.messagesPerSecond), `= ${ratio} × the slowest part (${slowest.part})`],
      ]),
    );
    out.push('');
    out.push(
      table([
        ['throughput run: stage timeline (s after the first APPEND)', 'first', 'last', 'msgs/s to last'],
        ...Object.entries(throughput.stages).map(([k, v]) => [k, String(v.firstS), String(v.lastS), String(v.perSecond)]),
      ]),
    );
    out.push(`  CPU seconds in ${round(throughput.cpu.wallSeconds, 1)} s: ${Object.entries(throughput.cpu.cpuSeconds).map(([k, v]) => `${k} ${v}`).join(', ')}; machine busy ${throughput.cpu.machineBusyPct}% of ${throughput.cpu.cores} cores`);
    out.push('');
    out.push(
      table([
        [`latency run: per-stage ms (app timestamps, 1 ms resolution)`, 'p50', 'p95', 'p99', 'max'],
        ...Object.entries(latency.stagesMs).map(([k, v]) => [k, String(v.p50), String(v.p95), String(v.p99), String(v.max)]),
        ['APPEND command itself (start → done)', String(latency.appendMs.p50), String(latency.appendMs.p95), String(latency.appendMs.p99), String(latency.appendMs.max)],
      ]),
    );
    out.push(`  CPU seconds in ${round(latency.cpu.wallSeconds, 1)} s: ${Object.entries(latency.cpu.cpuSeconds).map(([k, v]) => `${k} ${v}`).join(', ')}; machine busy ${latency.cpu.machineBusyPct}% of ${latency.cpu.cores} cores`);
    if (!memory.gcForced) out.push('  note: gc was not exposed; run with node --expose-gc for a clean memory baseline');
    out.push(`  note: memory peak sampled every 20 ms (worker thread for RSS; main thread ${memory.samples} samples, largest gap ${memory.maxSampleGapMs} ms)`);
    out.push('');
    process.stdout.write(out.join('\n') + '\n');

    const { _messageId, ...memoryFigures } = memory;
    void _messageId;
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
      throughput,
      latency,
      memory: memoryFigures,
      ceilings,
      slowestPart: slowest.part,
      pipelineOverSlowest: ratio,
      pass: {
        throughput: throughput.messagesPerSecond >= TARGET.throughput,
        latencyP95: latency.latencyMs.p95 < TARGET.latencyP95Ms,
        rssGrowth: memory.rssGrowthMB < TARGET.rssGrowthMB,
      },
    };
    process.stdout.write(JSON.stringify(json) + '\n');
    return 0;
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`\n[bench] FAILED: ${e instanceof PhaseTimeout ? e.message : (e.stack ?? e.message)}\n`);
    return e instanceof PhaseTimeout ? 2 : 1;
  } finally {
    note('stopping');
    await t?.app.stop().catch((e: Error) => note(`app stop: ${e.message}`));
    await sink?.close().catch(() => undefined);
    await running?.stop().catch((e: Error) => note(`services stop: ${e.message}`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const code = await main();
// Anything still holding the event loop (a stray socket) must not keep a finished bench alive.
process.exit(code);
