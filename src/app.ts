/**
 * Wires one incidesk process: store, queues, workers and (unless told otherwise) the intake.
 * `incidesk start` runs everything; `--only intake|workers` splits the roles across processes.
 */
import { Worker, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from './config.js';
import {
  DIGEST_TICK_MS,
  JOB_LOCK_MS,
  JOB_MAX_STALLED_COUNT,
  JOB_STALLED_INTERVAL_MS,
} from './constants.js';
import type { AppContext } from './context.js';
import type { Logger } from './log.js';
import { ImapIntake } from './mail/intake.js';
import { createMailer } from './mail/outbound.js';
import { cachingResolver, type DnsResolver } from './mail/sender-auth.js';
import type { Plan } from './plan/schema.js';
import { HealthMonitor } from './ops/health.js';
import { startHttpEndpoint, type HttpEndpoint } from './ops/http.js';
import { jobIds, openQueues, QUEUES } from './queues.js';
import { planSource } from './plan/load.js';
import { planReviewState, planReviewWarning } from './domain/plan-review.js';
import { recordPlanVersion, withActor } from './store/audit.js';
import { connectStore, disconnectStore } from './store/db.js';
import { ingestProcessor } from '../workers/ingest.js';
import { notifyGaveUp, notifyProcessor } from '../workers/notify.js';
import { announceProcessor } from '../workers/announce.js';
import { assignProcessor } from '../workers/assign.js';
import { slaProcessor, SWEEP_JOB } from '../workers/sla.js';
import { triageProcessor } from '../workers/triage.js';
import { digestProcessor } from '../workers/digest.js';
import { indexProcessor } from '../workers/index.js';

export type Role = 'all' | 'intake' | 'workers';

export interface RunningApp {
  ctx: AppContext;
  intake?: ImapIntake;
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

export function redisConnection(url: string): Redis {
  // BullMQ workers block on Redis; they need unlimited retries per request.
  return new Redis(url, { maxRetriesPerRequest: null });
}

export async function startApp(
  config: Config,
  plan: Plan,
  log: Logger,
  options: StartOptions = {},
): Promise<RunningApp> {
  const role = options.role ?? 'all';
  await connectStore(config.mongoUri);
  const planText = planSource(plan);
  if (planText) await recordPlanVersion({ ...plan, text: planText });
  warnOfPlanReview(plan, log, options.now?.() ?? new Date());
  const redis = redisConnection(config.redisUrl);
  const queues = openQueues(redis, config.queuePrefix);
  const mailer = createMailer(config);
  const ctx: AppContext = {
    config,
    plan,
    queues,
    mailer,
    log,
    now: options.now ?? (() => new Date()),
    resolver: options.resolver ?? cachingResolver(),
  };
  if (plan.access.agentMail === 'token-only')
    log.warn(
      { component: 'access', agentMail: 'token-only' },
      'access.agentMail is token-only: mail claiming to be from an agent is not authenticated; anyone who can read an agent’s mail from incidesk can act as that agent (see docs/security.md)',
    );

  const workers: Worker[] = [];
  if (role !== 'intake') {
    const worker = <T>(name: string, processor: Processor<T>, concurrency: number) => {
      // Whatever a job changes is attributed to its worker, unless it knows better (an agent).
      const attributed: Processor<T> = (job, token) =>
        withActor({ kind: 'worker', id: name }, `job ${job.name} ${job.id ?? ''}`.trim(), () =>
          processor(job, token),
        );
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
      workers.push(w as Worker);
      return w;
    };
    worker(QUEUES.ingest, ingestProcessor(ctx), config.concurrency);
    worker(QUEUES.triage, triageProcessor(ctx), config.concurrency);
    worker(QUEUES.assign, assignProcessor(ctx), 1); // one at a time: round-robin and loads stay exact
    worker(QUEUES.announce, announceProcessor(ctx), config.concurrency);
    worker(QUEUES.sla, slaProcessor(ctx), config.concurrency);
    worker(QUEUES.digest, digestProcessor(ctx), 1);
    // Index writes are read-modify-write: one job at a time across all processes.
    worker(QUEUES.index, indexProcessor(ctx), 1);
    await queues.index.setGlobalConcurrency(1);
    const notify = worker(QUEUES.notify, notifyProcessor(ctx), config.concurrency);
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
  const digestTick = () =>
    queues.digest
      .add('tick', {}, { jobId: jobIds.digestTick(ctx.now(), DIGEST_TICK_MS) })
      .catch((err: Error) =>
        log.warn({ component: 'digest', err: err.message }, 'could not enqueue the digest tick'),
      );
  const digestTimer = role !== 'intake' ? setInterval(digestTick, DIGEST_TICK_MS) : undefined;
  if (digestTimer) void digestTick();

  const intake = role !== 'workers' ? new ImapIntake(ctx) : undefined;
  intake?.start();

  const health = new HealthMonitor({
    redis,
    queues,
    pollSeconds: config.imap.pollSeconds,
    intake: intake
      ? () => ({
          connected: intake.status.connected,
          idling: intake.idling,
          lastHeartbeatAt: intake.status.lastHeartbeatAt ?? null,
          reconnects: intake.status.reconnects,
          stored: intake.status.stored,
          lastError: intake.status.lastError,
          lease: intake.status.lease,
        })
      : undefined,
  });
  log.info({ role, plan: plan.fingerprint, workers: workers.length }, 'incidesk started');

  let http: HttpEndpoint | undefined;
  const app: RunningApp = {
    ctx,
    intake,
    workers,
    health,
    async stop() {
      clearInterval(sweepTimer);
      await http?.close();
      clearInterval(digestTimer);
      await intake?.stop();
      await Promise.all(workers.map((w) => w.close()));
      await queues.close();
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
