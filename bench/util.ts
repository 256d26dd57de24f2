/** Helpers shared by the benchmark's phases: timing, statistics, progress, IMAP, memory sampling. */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker as Thread } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { ImapFlow } from 'imapflow';
import path from 'node:path';
import { PROJECT_ROOT, uniqueName, type TestServices } from '../test/support/services.js';
import { SUPPORT, type BenchMessage } from './messages.js';

export const MB = 1024 * 1024;

export class PhaseTimeout extends Error {
  override readonly name = 'PhaseTimeout';
}

export const note = (line: string) => process.stderr.write(`[bench] ${line}\n`);
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export function num(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
  return n;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summary(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: round(percentile(s, 50)),
    p95: round(percentile(s, 95)),
    p99: round(percentile(s, 99)),
    max: round(s[s.length - 1] ?? NaN),
  };
}

export async function waitUntil(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 20,
) {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline)
      throw new PhaseTimeout(`timed out after ${round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A progress bar on stderr; when stderr is not a terminal, a line every few seconds. */
export function bar(label: string, total: number): cliProgress.SingleBar {
  const b = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(30)} {bar} {value}/{total} {percentage}% | {duration_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  b.start(total, 0);
  return b;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) =>
        c === 0 || c === r.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!),
      )
      .join('  ')
      .trimEnd();
  return [
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ].join('\n');
}

/** The same server URI with another database (and extra URI options). */
export function withDatabase(
  uri: string,
  dbName: string,
  options: Record<string, string> = {},
): string {
  const url = new URL(uri);
  url.pathname = `/${dbName}`;
  for (const [k, v] of Object.entries(options)) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * The environment of an incidesk under benchmark: the run's services, its own database
 * (`dbName`), mailbox and queue prefix, the example plan, no HTTP endpoint (it could collide
 * with a running incidesk).
 */
export function benchAppEnv(
  s: TestServices,
  smtpPort: number,
  run: string,
  dbName: string,
  mailboxUser: string,
  mongoOptions: Record<string, string> = {},
): Record<string, string> {
  return {
    MONGODB_URI: withDatabase(s.mongoUri, dbName, mongoOptions),
    REDIS_URL: s.redisUrl,
    IMAP_HOST: s.imapHost,
    IMAP_PORT: String(s.imapPort),
    IMAP_SECURE: 'false',
    IMAP_USER: mailboxUser,
    IMAP_PASS: s.dovecotPassword,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURE: 'false',
    SUPPORT_ADDRESS: SUPPORT,
    SUPPORT_NAME: 'Example Support',
    INCIDESK_SECRET: `bench-secret-${run}-0123456789`,
    INCIDESK_PLAN: path.join(PROJECT_ROOT, 'plan.example.yaml'),
    INCIDESK_QUEUE_PREFIX: uniqueName('q'),
    INCIDESK_HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
  };
}

export async function imapClient(s: TestServices, user: string): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: s.imapHost,
    port: s.imapPort,
    secure: false,
    auth: { user, pass: s.dovecotPassword },
    logger: false,
  });
  // An idle appender can time out while the bench waits for the pipeline: never fatal.
  client.on('error', (err: Error) => note(`IMAP client (${user}): ${err.message}`));
  await client.connect();
  return client;
}

export async function closeImap(client: ImapFlow): Promise<void> {
  await client.logout().catch(() => client.close());
}

/** APPEND every message, spread over the given connections (imapflow keeps one command in flight per connection). */
export async function appendAll(
  clients: ImapFlow[],
  mailbox: string,
  messages: BenchMessage[],
  onDone?: (i: number) => void,
) {
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

export function forceGc(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

/**
 * Peak memory while it runs: RSS from a worker thread (which keeps sampling while the main
 * thread is busy parsing) and RSS, heapUsed and external+arrayBuffers from the main thread.
 */
export function startMemorySampler(intervalMs: number) {
  const shared = new SharedArrayBuffer(16);
  const cells = new BigInt64Array(shared); // [0] peak rss, [1] stop flag
  const thread = new Thread(
    `const { workerData } = require('node:worker_threads');
     const cells = new BigInt64Array(workerData.shared);
     const tick = () => {
       const rss = BigInt(process.memoryUsage.rss());
       if (rss > Atomics.load(cells, 0)) Atomics.store(cells, 0, rss);
       if (Atomics.load(cells, 1) === 1n) clearInterval(timer);
     };
     const timer = setInterval(tick, workerData.intervalMs);
     tick();`,
    { eval: true, workerData: { shared, intervalMs } },
  );
  const main = { rss: 0, heapUsed: 0, external: 0, samples: 0, maxGapMs: 0, rssAt: 0 };
  const t0 = performance.now();
  let last = t0;
  const sample = () => {
    const now = performance.now();
    main.maxGapMs = Math.max(main.maxGapMs, now - last);
    last = now;
    const m = process.memoryUsage();
    if (m.rss > main.rss) {
      main.rss = m.rss;
      main.rssAt = now - t0;
    }
    main.heapUsed = Math.max(main.heapUsed, m.heapUsed);
    main.external = Math.max(main.external, m.external + m.arrayBuffers);
    main.samples++;
  };
  const timer = setInterval(sample, intervalMs);
  sample();
  return {
    /** Forget the peaks so far: measure from here (the sampler's own thread is then running). */
    reset() {
      Object.assign(main, { rss: 0, heapUsed: 0, external: 0, samples: 0, maxGapMs: 0, rssAt: 0 });
      last = performance.now();
      Atomics.store(cells, 0, 0n);
    },
    async stop() {
      clearInterval(timer);
      sample();
      Atomics.store(cells, 1, 1n);
      await thread.terminate();
      return { ...main, rssThreadPeak: Number(Atomics.load(cells, 0)) };
    },
  };
}
