/**
 * Wires one incidesk process: store, queues, workers and (unless told otherwise) the intake.
 * `incidesk start` runs everything; `--only intake|workers` splits the roles across processes.
 */
import { Worker, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from './config.js';
import { JOB_LOCK_MS, JOB_MAX_STALLED_COUNT, JOB_STALLED_INTERVAL_MS } from './constants.js';
import type { AppContext } from './context.js';
import type { Logger } from './log.js';
import { ImapIntake } from './mail/intake.js';
import { createMailer } from './mail/outbound.js';
import type { Plan } from './plan/schema.js';
import { openQueues, QUEUES } from './queues.js';
import { connectStore, disconnectStore } from './store/db.js';
import { ingestProcessor } from '../workers/ingest.js';
import { notifyGaveUp, notifyProcessor } from '../workers/notify.js';
import { assignProcessor } from '../workers/assign.js';
import { slaProcessor, SWEEP_JOB } from '../workers/sla.js';
import { triageProcessor } from '../workers/triage.js';
import { indexProcessor } from '../workers/index.js';

export type Role = 'all' | 'intake' | 'workers';

export interface RunningApp {
  ctx: AppContext;
  intake?: ImapIntake;
  workers: Worker[];
  stop(): Promise<void>;
}

export interface StartOptions {
  role?: Role;
  now?: () => Date;
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
  };

  const workers: Worker[] = [];
  if (role !== 'intake') {
    const worker = <T>(name: string, processor: Processor<T>, concurrency: number) => {
      const w = new Worker<T>(name, processor, {
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
    worker(QUEUES.sla, slaProcessor(ctx), config.concurrency);
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

  const intake = role !== 'workers' ? new ImapIntake(ctx) : undefined;
  intake?.start();
  log.info({ role, plan: plan.fingerprint, workers: workers.length }, 'incidesk started');

  return {
    ctx,
    intake,
    workers,
    async stop() {
      clearInterval(sweepTimer);
      await intake?.stop();
      await Promise.all(workers.map((w) => w.close()));
      await queues.close();
      mailer.close();
      redis.disconnect();
      await disconnectStore();
      log.info('incidesk stopped');
    },
  };
}
