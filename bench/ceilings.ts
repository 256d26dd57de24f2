/**
 * Raw ceilings: each part of the pipeline alone, on the same services, each on its own
 * database / mailbox / queue prefix, with the app stopped.
 */
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Worker } from 'bullmq';
import { redisConnection } from '../src/app.js';
import { parseRedisUrl } from '../src/domain/redis-url.js';
import type { Config } from '../src/config.js';
import {
  IMAP_SYNC_BATCH_SIZE,
  JOB_MAX_STALLED_COUNT,
  JOB_STALLED_INTERVAL_MS,
} from '../src/constants.js';
import type { AppContext } from '../src/context.js';
import { createLogger } from '../src/log.js';
import { composeAcknowledgement } from '../src/mail/compose.js';
import { createMailer } from '../src/mail/outbound.js';
import { parseMessage } from '../src/mail/parse.js';
import type { Plan } from '../src/plan/schema.js';
import { openQueues, QUEUES } from '../src/queues.js';
import { connectStore, disconnectStore } from '../src/store/db.js';
import { Incident, type OutboxDoc } from '../src/store/models.js';
import { storeRaw } from '../src/store/raw-messages.js';
import { uniqueName, type TestServices } from '../test/support/services.js';
import { ingest } from '../src/actions/ingest.js';
import { startDbProfile, type DbProfile } from './db-profile.js';
import { customerMessage, customerReply } from './messages.js';
import type { SmtpSink } from './smtp-sink.js';
import { appendAll, bar, closeImap, imapClient, round, waitUntil, withDatabase } from './util.js';

export interface Ceiling {
  part: string;
  how: string;
  messages: number;
  seconds: number;
  perSecond: number;
  dbProfile?: DbProfile;
  /** The ingest ceiling's second pass: one follow-up per incident from its customer. */
  replyProfile?: DbProfile;
  /** Failed attempts (retried at once), by error. */
  failures?: Record<string, number>;
}

const TIMEOUT_MS = 120_000;

function ceiling(part: string, how: string, messages: number, ms: number): Ceiling {
  return {
    part,
    how,
    messages,
    seconds: round(ms / 1000, 2),
    perSecond: round(messages / (ms / 1000)),
  };
}

/** Run `work(i)` for i in [0, n) with `width` in flight. */
async function pool(n: number, width: number, work: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

export async function ceilingImap(s: TestServices, run: string, n: number): Promise<Ceiling[]> {
  const user = `${uniqueName('ceiling')}@example.test`;
  const msgs = Array.from({ length: n }, (_, i) => customerMessage(run, 'cf', i));
  const appenders = [await imapClient(s, user), await imapClient(s, user)];
  const progress = bar('ceiling: IMAP append (fill)', n);
  let done = 0;
  const t0 = performance.now();
  try {
    await appendAll(appenders, 'INBOX', msgs, () => progress.update(++done));
  } finally {
    progress.stop();
    for (const c of appenders) await closeImap(c);
  }
  const appendMs = performance.now() - t0;

  const client = await imapClient(s, user);
  try {
    await client.mailboxOpen('INBOX');
    // As the intake does it: list UIDs and sizes, then FETCH the sources in batches.
    const t1 = performance.now();
    const listed = await client.fetchAll('1:*', { uid: true, size: true }, { uid: true });
    const uids = listed.map((m) => m.uid).sort((a, b) => a - b);
    let fetched = 0;
    for (let i = 0; i < uids.length; i += IMAP_SYNC_BATCH_SIZE) {
      const batch = uids.slice(i, i + IMAP_SYNC_BATCH_SIZE);
      for (const m of await client.fetchAll(batch, { uid: true, source: true }, { uid: true }))
        if (m.source) fetched++;
    }
    const fetchMs = performance.now() - t1;
    if (fetched !== n) throw new Error(`IMAP ceiling: expected ${n} sources, fetched ${fetched}`);
    return [
      ceiling(
        'IMAP append',
        '2 connections; imapflow keeps 1 command in flight per connection',
        n,
        appendMs,
      ),
      ceiling(
        'IMAP fetch',
        `list UIDs + FETCH BODY[] in batches of ${IMAP_SYNC_BATCH_SIZE}, 1 connection (as the intake)`,
        n,
        fetchMs,
      ),
    ];
  } finally {
    await closeImap(client);
  }
}

export async function ceilingParse(run: string, n: number): Promise<Ceiling> {
  const raws = Array.from({ length: n }, (_, i) => customerMessage(run, 'cp', i).raw);
  const t0 = performance.now();
  for (const raw of raws) {
    await parseMessage(Readable.from([raw]), async (_info, content) => {
      content.resume();
      await new Promise((r) => content.once('end', r));
    });
  }
  return ceiling(
    'parse',
    'parseMessage (src/mail/parse.ts) over in-memory buffers, one at a time',
    n,
    performance.now() - t0,
  );
}

export async function ceilingStore(s: TestServices, run: string, n: number): Promise<Ceiling[]> {
  await connectStore(
    withDatabase(s.mongoUri, `bench_ceiling_store_${run}`, { monitorCommands: 'true' }),
  );
  try {
    const source = (uid: number) => ({ mailbox: 'INBOX', uidValidity: '1', uid });
    const seq = Array.from({ length: n }, (_, i) => customerMessage(run, 'cs', i).raw);
    const progress = bar('ceiling: storeRaw, sequential', n);
    const profile = startDbProfile();
    const t0 = performance.now();
    for (let i = 0; i < seq.length; i++) {
      await storeRaw(seq[i]!, source(i + 1));
      if (i % 10 === 0) progress.update(i);
    }
    const seqMs = performance.now() - t0;
    const seqProfile = profile.stop(6);
    progress.update(n);
    progress.stop();

    const par = Array.from({ length: n }, (_, i) => customerMessage(run, 'cc', i).raw);
    const progress2 = bar('ceiling: storeRaw, 8 in flight', n);
    let done = 0;
    const t1 = performance.now();
    await pool(n, 8, async (i) => {
      await storeRaw(par[i]!, source(n + i + 1));
      if (++done % 10 === 0) progress2.update(done);
    });
    const parMs = performance.now() - t1;
    progress2.update(n);
    progress2.stop();
    return [
      {
        ...ceiling(
          'store',
          'storeRaw (GridFS + raw_messages), one at a time, as the intake calls it',
          n,
          seqMs,
        ),
        dbProfile: seqProfile,
      },
      ceiling('store ×8', 'storeRaw, 8 in flight', n, parMs),
    ];
  } finally {
    await disconnectStore();
  }
}

/** The ingest worker's function alone (load, parse, every store round trip), on messages already stored. */
export async function ceilingIngest(
  s: TestServices,
  config: Config,
  plan: Plan,
  run: string,
  n: number,
): Promise<Ceiling> {
  await connectStore(
    withDatabase(s.mongoUri, `bench_ceiling_ingest_${run}`, { monitorCommands: 'true' }),
  );
  const redis = redisConnection(parseRedisUrl(s.redisUrl));
  const queues = openQueues(redis, uniqueName('q')); // its notify jobs land here; nothing consumes them
  const mailer = createMailer(config); // never used: ingest only enqueues
  const ctx: AppContext = {
    config,
    plan,
    queues,
    mailer,
    tokens: new Map(),
    log: createLogger('silent'),
    now: () => new Date(),
  };
  try {
    const raws = Array.from({ length: n }, (_, i) => customerMessage(run, 'ci', i).raw);
    const rawIds = new Array<string>(n);
    await pool(n, 8, async (i) => {
      rawIds[i] = (
        await storeRaw(raws[i]!, { mailbox: 'INBOX', uidValidity: '1', uid: i + 1 })
      ).rawId;
    });
    const progress = bar(`ceiling: ingest, ${config.concurrency} in flight`, n);
    let done = 0;
    const profile = startDbProfile();
    const t0 = performance.now();
    // A failed attempt is retried at once (BullMQ would wait 2 s, 4 s, … first) and counted.
    const failures: Record<string, number> = {};
    await pool(n, config.concurrency, async (i) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await ingest(ctx, rawIds[i]!);
          if (result.outcome !== 'new-incident')
            throw new Error(`ingest ceiling: unexpected outcome ${result.outcome}`);
          break;
        } catch (err) {
          const key = (err as Error).message.replace(/dup key: .*/, 'dup key: …').slice(0, 110);
          failures[key] = (failures[key] ?? 0) + 1;
          if (attempt >= 8) throw err;
        }
      }
      if (++done % 10 === 0) progress.update(done);
    });
    const ms = performance.now() - t0;
    const dbProfile = profile.stop(12);
    progress.update(n);
    progress.stop();
    // Every message opened an incident of its own (a lost counter update must not merge two).
    const incidents = await Incident.countDocuments();
    if (incidents !== n)
      failures[`${n} new-incident messages made ${incidents} incidents`] = n - incidents;

    // Then each customer follows up on their incident: the reply path's commands.
    const numbers = await Promise.all(
      rawIds.map(
        async (id) =>
          (await Incident.findOne({ openedBy: id }, { _id: 1 }).lean<{ _id: number }>())!._id,
      ),
    );
    const replyIds = await Promise.all(
      numbers.map(
        async (number, i) =>
          (
            await storeRaw(customerReply(run, 'ci', i, number).raw, {
              mailbox: 'INBOX',
              uidValidity: '1',
              uid: n + i + 1,
            })
          ).rawId,
      ),
    );
    const replyProfile = startDbProfile();
    await pool(n, config.concurrency, async (i) => {
      const result = await ingest(ctx, replyIds[i]!);
      if (result.outcome !== 'follow-up')
        failures[`reply ingested as ${result.outcome}`] =
          (failures[`reply ingested as ${result.outcome}`] ?? 0) + 1;
    });
    return {
      replyProfile: replyProfile.stop(12),
      ...ceiling(
        'ingest',
        `src/actions/ingest.ts ingest() alone, ${config.concurrency} in flight, database growing 0 → ${n} incidents`,
        n,
        ms,
      ),
      dbProfile,
      failures,
    };
  } finally {
    mailer.close();
    await queues.close();
    redis.disconnect();
    await disconnectStore();
  }
}

export async function ceilingQueue(
  s: TestServices,
  concurrency: number,
  n: number,
): Promise<Ceiling> {
  const redis = redisConnection(parseRedisUrl(s.redisUrl));
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
      Array.from({ length: n }, (_, i) =>
        queues.ingest.add('ingest', { rawId: `bench-${i}` }, { jobId: `ingest-bench-${i}` }),
      ),
    );
    await waitUntil('the queue-hop jobs', () => completed >= n, TIMEOUT_MS, 5);
    return ceiling(
      'queue hop',
      `BullMQ add, one call per job → worker (concurrency ${concurrency}) completes an empty job`,
      n,
      performance.now() - t0,
    );
  } finally {
    await worker.close();
    await queues.close();
    redis.disconnect();
  }
}

export async function ceilingSmtp(
  config: Config,
  plan: Plan,
  sink: SmtpSink,
  run: string,
  n: number,
): Promise<Ceiling> {
  sink.onAccept = undefined;
  const before = sink.accepted.length;
  const mailer = createMailer(config);
  try {
    const docs = Array.from(
      { length: n },
      (_, i) =>
        composeAcknowledgement(
          { config, plan },
          {
            number: 900_000 + i,
            subject: `Invoice portal returns 500 (#${i})`,
            customer: { address: `cm-${i}@customer.example`, name: 'Customer' },
            lastMessageAt: new Date(),
          },
          { messageId: `<cm-${i}.${run}@customer.example>`, references: [] },
          `ceiling-smtp-${run}-${i}`,
        ) as unknown as OutboxDoc,
    );
    const t0 = performance.now();
    await Promise.all(docs.map((d) => mailer.send(d)));
    const ms = performance.now() - t0;
    if (sink.accepted.length - before < n)
      throw new Error('SMTP ceiling: the sink did not accept every message');
    return ceiling(
      'SMTP send',
      "createMailer (nodemailer pool, the app's settings) → the sink, all handed over at once",
      n,
      ms,
    );
  } finally {
    mailer.close();
  }
}
