/**
 * Re-enqueue work whose job may have been lost (Redis restarted without persistence, flushed,
 * or a producer died between its database write and its enqueue), or whose job finished
 * without finishing the work. MongoDB says what is unfinished.
 */
import type { Queue } from 'bullmq';
import type { AppContext } from '../context.js';
import { jobIds } from '../queues.js';
import { unfinishedWork } from '../store/recovery.js';

/** Work younger than this is left to its producer, which is probably still on it. */
const GRACE_MS = 10_000;
const BATCH = 500;

/**
 * Add the job unless one with this id is waiting, running or failed (a failed job is a dead
 * letter, kept for inspection and replay). A job that completed while its work is still
 * unfinished is removed first, so the work runs again (every processor is idempotent); a
 * plain re-add would be swallowed by the completed job's id.
 */
async function requeue<T>(queue: Queue<T>, name: string, data: T, jobId: string): Promise<void> {
  const existing = await queue.getJob(jobId);
  if (existing) {
    const state = await existing.getState();
    if (state !== 'completed') return;
    await existing.remove().catch(() => undefined); // another sweep may have removed it
  }
  await (queue as Queue).add(name, data, { jobId });
}

export async function requeueUnfinished(ctx: AppContext): Promise<number> {
  const work = await unfinishedWork(new Date(ctx.now().getTime() - GRACE_MS), BATCH);
  const { queues } = ctx;
  const jobs = [
    ...work.raw.map((rawId) => requeue(queues.ingest, 'ingest', { rawId }, jobIds.ingest(rawId))),
    ...work.untriaged.map((incident) =>
      requeue(queues.triage, 'triage', { incident }, jobIds.triage(incident)),
    ),
    ...work.unsent.map((outboxId) =>
      requeue(queues.notify, 'recover', { outboxId }, jobIds.notify(outboxId)),
    ),
  ];
  // One by one, so the queue takes them most urgent first.
  for (const { incident, cause } of work.unassigned)
    await requeue(queues.assign, 'assign', { incident, cause }, jobIds.assign(incident, cause));
  await Promise.all(jobs);
  return jobs.length + work.unassigned.length;
}
