/**
 * Wires one incidesk process: store, queues, workers and (unless told otherwise) the intake.
 * `incidesk start` runs everything; `--only intake|workers` splits the roles across processes.
 */
import { Worker, type Processor } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { checkMailboxGroups, mailboxIdentity, type Config } from './config.js';
import {
  AUDIT_SEAL_EVERY_MS,
  DIGEST_TICK_MS,
  FOLLOW_ON_CONCURRENCY,
  INDEX_BATCH_MAX_DOCUMENTS,
  JOB_LOCK_MS,
  JOB_MAX_STALLED_COUNT,
  JOB_STALLED_INTERVAL_MS,
  STUCK_AFTER_MS,
} from './constants.js';
import type { AppContext } from './context.js';
import type { Logger } from './log.js';
import { ImapIntake } from './mail/intake.js';
import { tokenProviders } from './mail/oauth.js';
import { createMailer } from './mail/outbound.js';
import { localisedNames } from './mail/templates.js';
import { cachingResolver, type DnsResolver } from './mail/sender-auth.js';
import type { Plan } from './plan/schema.js';
import { combineIntakes } from './domain/health.js';
import { HealthMonitor } from './ops/health.js';
import { startHttpEndpoint, type HttpEndpoint } from './ops/http.js';
import { jobIds, openQueues, QUEUES } from './queues.js';
import { planSource } from './plan/load.js';
import { planReviewState, planReviewWarning } from './domain/plan-review.js';
import { protocolGaps } from './domain/protocols.js';
import { recordPlanVersion, startAuditSealer, withActor } from './store/audit.js';
import { dueProtocolChecks } from './store/protocols.js';
import { connectStore, disconnectStore, hasTransactions, sharedRounds } from './store/db.js';
import { dueSlaChecks } from './store/incidents.js';
import { ingestProcessor } from '../workers/ingest.js';
import { notifyProcessor } from '../workers/notify.js';
import { notifyGaveUp } from './actions/notify.js';
import { announceProcessor } from '../workers/announce.js';
import { assignProcessor } from '../workers/assign.js';
import { slaProcessor, SWEEP_JOB } from '../workers/sla.js';
import { triageProcessor } from '../workers/triage.js';
import { digestProcessor } from '../workers/digest.js';
import { indexProcessor } from '../workers/index.js';
import { maintenanceProcessor } from '../workers/maintenance.js';
import { maintenanceDayDue } from './domain/retention.js';

export type Role = 'all' | 'intake' | 'workers';

export interface RunningApp {
  ctx: AppContext;
  /** The first mailbox's intake (the only one with a single mailbox). */
  intake?: ImapIntake;
  /** Every mailbox's intake, in the configuration's order. */
  intakes: ImapIntake[];
  workers: Worker[];
  /** `GET /healthz` and `GET /metrics`, unless INCIDESK_HTTP_PORT is 0. */
  http?: HttpEndpoint;
  health: HealthMonitor;
  stop(): Promise<void>;
}

export interface StartOptions {
  role?: Role;
  now?: () => Date;
  /** DNS for sender authentication; default: the system's, cached, with a short timeout. */
  resolver?: DnsResolver;
}

/** What one mailbox's intake tells the health check. */
const intakeHealth = (i: ImapIntake) => ({
  address: i.address,
  mailboxes: [i.key],
  connected: i.status.connected,
  idling: i.idling,
  lastHeartbeatAt: i.status.lastHeartbeatAt ?? null,
  reconnects: i.status.reconnects,
  stored: i.status.stored,
  lastError: i.status.lastError,
  lease: i.status.lease,
});

/** The process's Redis connection, from the options REDIS_URL stands for (src/domain/redis-url.ts). */
export function redisConnection(options: RedisOptions): Redis {
  // BullMQ workers block on Redis; they need unlimited retries per request.
  return new Redis({ ...options, maxRetriesPerRequest: null });
}

export async function startApp(
  config: Config,
  plan: Plan,
  log: Logger,
  options: StartOptions = {},
): Promise<RunningApp> {
  const role = options.role ?? 'all';
  checkMailboxGroups(
    config,
    plan.groups.map((g) => g.id),
  );
  await connectStore(config.mongoUri);
  const planText = planSource(plan);
  const planChanged = planText ? await recordPlanVersion({ ...plan, text: planText }) : false;
  // Incidents stored before protocol checks existed (or all, under a changed plan) are due
  // now: the next sweep looks at each once and schedules its interval messages. Under a
  // changed plan their SLA checks too: business hours may make a clock due sooner.
  const startedAt = options.now?.() ?? new Date();
  await dueProtocolChecks(startedAt, planChanged);
  if (planChanged) await dueSlaChecks(startedAt);
  warnOfPlanReview(plan, log, startedAt);
  const redis = redisConnection(config.redis);
  const queues = openQueues(redis, config.queuePrefix);
  // Redis errors while a connection is down (a Sentinel fail-over in progress) go to the log;
  // without a listener BullMQ prints them to stderr as bare stacks.
  for (const name of Object.values(QUEUES))
    queues[name].on('error', (err: Error) =>
      log.warn({ component: 'queue', queue: name, err: err.message }, 'queue connection error'),
    );
  const tokens = tokenProviders(config);
  const mailer = createMailer(config, tokens);
  const ctx: AppContext = {
    config,
    plan,
    queues,
    mailer,
    tokens,
    log,
    now: options.now ?? (() => new Date()),
    resolver: options.resolver ?? cachingResolver(),
  };
  // A protocol that names a missing template or an empty role tells nobody: say so at start.
  for (const gap of protocolGaps(plan, localisedNames(plan.locale)))
    log.warn({ component: 'protocols' }, gap);
  if (plan.access.agentMail === 'token-only')
    log.warn(
      { component: 'access', agentMail: 'token-only' },
      'access.agentMail is token-only: mail claiming to be from an agent is not authenticated; anyone who can read an agent’s mail from incidesk can act as that agent (see docs/security.md)',
    );

  const workers: Worker[] = [];
  /** The jobs this process runs now, with when each began, for the watchdog below. */
  const running = new Set<{ queue: string; job?: string; since: number }>();
  if (role !== 'intake') {
    const worker = <T>(name: string, processor: Processor<T>, concurrency: number) => {
      // Whatever a job changes is attributed to its worker, unless it knows better (an agent).
      const attributed: Processor<T> = async (job, token) => {
        const run = { queue: name, job: job.id, since: Date.now() };
        running.add(run);
        try {
          return await withActor(
            { kind: 'worker', id: name },
            `job ${job.name} ${job.id ?? ''}`.trim(),
            () => processor(job, token),
          );
        } finally {
          running.delete(run);
        }
      };
      const w = new Worker<T>(name, attributed, {
        connection: redis,
        prefix: config.queuePrefix,
        concurrency,
        lockDuration: JOB_LOCK_MS,
        stalledInterval: JOB_STALLED_INTERVAL_MS,
        maxStalledCount: JOB_MAX_STALLED_COUNT,
      });
      w.on('error', (err) =>
        log.error({ component: 'worker', queue: name, err: err.message }, 'worker error'),
      );
      w.on('failed', (job, err) =>
        log.warn(
          {
            component: 'worker',
            queue: name,
            job: job?.id,
            attempt: job?.attemptsMade,
            err: err.message,
          },
          job && job.attemptsMade < (job.opts.attempts ?? 1)
            ? 'job failed; it runs again'
            : 'job failed for good',
        ),
      );
      workers.push(w as Worker);
      return w;
    };
    worker(QUEUES.ingest, ingestProcessor(ctx), config.concurrency);
    // After the acknowledgement: fewer at once, so the acknowledgement path goes first.
    const followOn = Math.min(config.concurrency, FOLLOW_ON_CONCURRENCY);
    worker(QUEUES.triage, triageProcessor(ctx), followOn);
    // Any number at once: a compare-and-set on the groups' state keeps round-robin and loads exact.
    worker(QUEUES.assign, assignProcessor(ctx), config.concurrency);
    worker(QUEUES.announce, announceProcessor(ctx), followOn);
    worker(QUEUES.sla, slaProcessor(ctx), config.concurrency);
    worker(QUEUES.digest, digestProcessor(ctx), 1);
    // Index jobs join batches, each one transaction; while one batch is applied the next
    // gathers. Without transactions, chunk writes (read-modify-write) are protected only by
    // running one job at a time across all processes: batches of one, no wait.
    const indexBatch = hasTransactions() ? INDEX_BATCH_MAX_DOCUMENTS : 1;
    const indexing = hasTransactions() ? 2 * indexBatch : 1;
    worker(QUEUES.index, indexProcessor(ctx, indexBatch), indexing);
    await queues.index.setGlobalConcurrency(indexing);
    // Maintenance scans whole collections: never two runs at once, whichever process asks.
    worker(QUEUES.maintenance, maintenanceProcessor(ctx), 1);
    await queues.maintenance.setGlobalConcurrency(1);
    const notify = worker(QUEUES.notify, notifyProcessor(ctx), followOn);
    notify.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        void notifyGaveUp(ctx, job.data.outboxId, err.message).catch((e: Error) =>
          log.error({ err: e.message }, 'could not record the failed delivery'),
        );
      }
    });
  }

  // The SLA sweep is driven by a timer in every worker process, not by a Redis-side schedule,
  // so it comes back by itself after Redis loses its data. One job id per interval window
  // keeps several processes from sweeping the same window twice.
  const sweepEveryMs = config.slaSweepSeconds * 1000;
  const sweep = () =>
    queues.sla
      .add(SWEEP_JOB, { incident: 0 }, { jobId: `sweep-${Math.floor(Date.now() / sweepEveryMs)}` })
      .catch((err: Error) =>
        log.warn({ component: 'sla', err: err.message }, 'could not enqueue the SLA sweep'),
      );
  const sweepTimer = role !== 'intake' ? setInterval(sweep, sweepEveryMs) : undefined;
  if (sweepTimer) void sweep();
  // Digests the same way: a tick per window finds what is due; the outbox id makes it once.
  // The tick also asks for the day's maintenance run (when built in), whose job id is the day.
  const maintenanceHour = config.maintenanceHourUtc;
  const scheduleTick = () => {
    const now = ctx.now();
    void queues.digest
      .add('tick', {}, { jobId: jobIds.digestTick(now, DIGEST_TICK_MS) })
      .catch((err: Error) =>
        log.warn({ component: 'digest', err: err.message }, 'could not enqueue the digest tick'),
      );
    const day = maintenanceHour === undefined ? null : maintenanceDayDue(now, maintenanceHour);
    if (day)
      void queues.maintenance
        .add('run', {}, { jobId: jobIds.maintenance(day) })
        .catch((err: Error) =>
          log.warn({ component: 'maintenance', err: err.message }, 'could not enqueue maintenance'),
        );
  };
  const scheduleTimer = role !== 'intake' ? setInterval(scheduleTick, DIGEST_TICK_MS) : undefined;
  if (scheduleTimer) scheduleTick();

  // A job is never timed out (a rerun beside a run that may still finish would do its work
  // twice over), so one that hangs would hang unseen: name it, and any shared store round
  // that has run as long, since every job needing that call waits behind it.
  const watchdog = setInterval(() => {
    const now = Date.now();
    const stuck = [...running.values()].filter(
      (j) => j.queue !== QUEUES.maintenance && now - j.since >= STUCK_AFTER_MS,
    );
    const rounds = sharedRounds(STUCK_AFTER_MS);
    if (stuck.length > 0 || rounds.length > 0)
      log.warn(
        {
          component: 'watchdog',
          jobs: stuck.map(({ since, ...j }) => ({
            ...j,
            seconds: Math.round((now - since) / 1000),
          })),
          rounds,
        },
        `running for over ${STUCK_AFTER_MS / 1000} s`,
      );
  }, STUCK_AFTER_MS / 2);

  const sealer = startAuditSealer(AUDIT_SEAL_EVERY_MS, (err) =>
    log.warn({ component: 'audit', err: err.message }, 'could not seal audit entries'),
  );

  // One intake per mailbox, each with its own lease, checkpoint and sign-in.
  const intakes = role !== 'workers' ? config.mailboxes.map((box) => new ImapIntake(ctx, box)) : [];
  for (const i of intakes) i.start();
  const intake = intakes[0];

  const health = new HealthMonitor({
    redis,
    queues,
    pollSeconds: config.imap.pollSeconds,
    mailboxes: config.mailboxes.map(mailboxIdentity),
    intake: intake
      ? () => combineIntakes([intakeHealth(intake), ...intakes.slice(1).map(intakeHealth)])
      : undefined,
  });
  log.info({ role, plan: plan.fingerprint, workers: workers.length }, 'incidesk started');

  let http: HttpEndpoint | undefined;
  const app: RunningApp = {
    ctx,
    intake,
    intakes,
    workers,
    health,
    async stop() {
      clearInterval(sweepTimer);
      clearInterval(watchdog);
      await http?.close();
      clearInterval(scheduleTimer);
      await Promise.all(intakes.map((i) => i.stop()));
      // Jobs that are running finish first (they may still enqueue the next step).
      const graceMs = config.stopGraceSeconds * 1000;
      const late = await closeWithin(
        graceMs,
        workers.map((w) => ({ name: `worker ${w.name}`, close: () => w.close() })),
      );
      await sealer.stop();
      late.push(
        ...(await closeWithin(graceMs, [{ name: 'queue clients', close: () => queues.close() }])),
      );
      if (late.length > 0)
        log.warn(
          { component: 'stop', notClosed: late, graceSeconds: config.stopGraceSeconds },
          'stopped without waiting longer for these: a job still running goes back to its queue when its lock lapses, and runs again',
        );
      mailer.close();
      redis.disconnect();
      await disconnectStore();
      log.info('incidesk stopped');
    },
  };
  if (config.http.port > 0) {
    try {
      app.http = http = await startHttpEndpoint(health, config.http, log);
    } catch (err) {
      // A taken port is a deployment error: stop rather than run without health checks.
      await app.stop();
      throw new Error(
        `cannot listen on ${config.http.host}:${config.http.port} (INCIDESK_HTTP_PORT): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return app;
}

/** An overdue annual review (or none ever) is a warning at every start; one due soon is noted. */
function warnOfPlanReview(plan: Plan, log: Logger, now: Date) {
  const warning = planReviewWarning(plan, now);
  if (!warning) return;
  const { state } = planReviewState(plan, now);
  log[state === 'due-soon' ? 'info' : 'warn']({ component: 'plan', review: state }, warning);
}

/**
 * Close every part within `ms`; the names of those still closing then. A worker's close
 * waits for its running jobs, and for its Redis connections to end, which never happens to
 * one caught between two reconnection attempts (ioredis emits no `end` for a disconnect while
 * reconnecting): a stop must not wait for that forever.
 */
async function closeWithin(
  ms: number,
  parts: { name: string; close: () => Promise<unknown> }[],
): Promise<string[]> {
  const open = new Set(parts.map((p) => p.name));
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  const closing = parts.map((p) =>
    p.close().then(
      () => open.delete(p.name),
      () => open.delete(p.name), // a close that fails has still let go
    ),
  );
  await Promise.race([Promise.all(closing), graceOver]);
  clearTimeout(timer);
  return [...open];
}
