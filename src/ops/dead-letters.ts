/**
 * Dead letters: jobs that failed for good (retries used up, or an unrecoverable error) stay in
 * their queue's failed set, with the reason, until an operator replays them. A replay retries
 * the same job, same deterministic id, so it cannot duplicate work: every processor is
 * idempotent and reads the current state from MongoDB.
 */
import type { Job } from 'bullmq';
import { formatIncidentId } from '../domain/tokens.js';
import { QUEUES, type QueueName, type Queues } from '../queues.js';
import { reopenFailedOutbox } from '../store/replay.js';

export interface DeadLetter {
  queue: QueueName;
  id: string;
  name: string;
  failedReason: string;
  attemptsMade: number;
  attempts: number;
  failedAt: Date | null;
  /** What the job is about: `INC-000123`, `raw <sha256>`, `outbox <id>`, or `sweep`. */
  concerns: string;
  data: unknown;
}

export const QUEUE_NAMES = Object.values(QUEUES) as QueueName[];

/** The incident, raw message or outbox message a job's payload names. */
export function concernsOf(data: unknown): string {
  const d = (data ?? {}) as { rawId?: unknown; incident?: unknown; outboxId?: unknown };
  if (typeof d.rawId === 'string') return `raw ${d.rawId}`;
  if (typeof d.outboxId === 'string') return `outbox ${d.outboxId}`;
  if (typeof d.incident === 'number')
    return d.incident === 0 ? 'sweep' : safeIncidentId(d.incident);
  return '-';
}

function safeIncidentId(n: number): string {
  try {
    return formatIncidentId(n);
  } catch {
    return `incident ${n}`;
  }
}

function toDeadLetter(queue: QueueName, job: Job): DeadLetter {
  return {
    queue,
    id: String(job.id),
    name: job.name,
    failedReason: job.failedReason ?? '',
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
    failedAt: job.finishedOn ? new Date(job.finishedOn) : null,
    concerns: concernsOf(job.data),
    data: job.data,
  };
}

const selected = (queue?: QueueName) => (queue ? [queue] : QUEUE_NAMES);

/** Dead letters of one queue or all, newest first within each queue. */
export async function listDeadLetters(
  queues: Queues,
  options: { queue?: QueueName; limit?: number } = {},
): Promise<DeadLetter[]> {
  const limit = options.limit ?? 1000;
  const out: DeadLetter[] = [];
  for (const q of selected(options.queue)) {
    const jobs = (await queues[q].getFailed(0, limit - 1)) as Job[];
    out.push(...jobs.filter(Boolean).map((j) => toDeadLetter(q, j)));
  }
  return out;
}

export interface ReplayResult {
  replayed: { queue: QueueName; id: string }[];
  /** Jobs that were no longer dead letters when their turn came (replayed or removed meanwhile). */
  skipped: { queue: QueueName; id: string; why: string }[];
}

/**
 * Retry dead letters: one by id (searched in every queue unless one is named) or all of them.
 * A replayed `notify` job first makes its failed outbox message sendable again.
 */
export async function replayDeadLetters(
  queues: Queues,
  target: { queue?: QueueName; id?: string; all?: boolean },
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], skipped: [] };
  const candidates: { queue: QueueName; job: Job }[] = [];
  for (const q of selected(target.queue)) {
    if (target.id !== undefined) {
      const job = (await queues[q].getJob(target.id)) as Job | undefined;
      if (job) candidates.push({ queue: q, job });
    } else if (target.all) {
      for (const job of (await queues[q].getFailed(0, -1)) as Job[])
        if (job) candidates.push({ queue: q, job });
    }
  }
  for (const { queue, job } of candidates) {
    const id = String(job.id);
    const state = await job.getState();
    if (state !== 'failed') {
      result.skipped.push({ queue, id, why: `it is ${state}, not failed` });
      continue;
    }
    if (queue === QUEUES.notify) {
      const outboxId = (job.data as { outboxId?: unknown }).outboxId;
      if (typeof outboxId === 'string') await reopenFailedOutbox(outboxId);
    }
    try {
      // A fresh set of attempts: the cause was fixed, so the backoff starts over.
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      result.replayed.push({ queue, id });
    } catch (err) {
      result.skipped.push({ queue, id, why: (err as Error).message });
    }
  }
  return result;
}
