/**
 * Re-enqueue work whose job may have been lost (Redis restarted without persistence, flushed,
 * or a producer died between its database write and its enqueue), or whose job finished
 * without finishing the work. MongoDB says what is unfinished.
 */
import type { AppContext } from '../context.js';
import { jobIds, requeue } from '../queues.js';
import { unfinishedWork } from '../store/recovery.js';

/** Work younger than this is left to its producer, which is probably still on it. */
const GRACE_MS = 10_000;
const BATCH = 500;

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
