/**
 * Re-enqueue work whose job may have been lost (Redis restarted without persistence, flushed,
 * or a producer died between its database write and its enqueue). MongoDB says what is
 * unfinished; deterministic job ids make re-adding a job that still exists a no-op.
 */
import type { AppContext } from '../context.js';
import { jobIds } from '../queues.js';
import { unfinishedWork } from '../store/recovery.js';

/** Work younger than this is left to its producer, which is probably still on it. */
const GRACE_MS = 10_000;
const BATCH = 500;

export async function requeueUnfinished(ctx: AppContext): Promise<number> {
  const work = await unfinishedWork(new Date(ctx.now().getTime() - GRACE_MS), BATCH);
  const { queues } = ctx;
  await Promise.all([
    queues.ingest.addBulk(
      work.raw.map((rawId) => ({
        name: 'ingest',
        data: { rawId },
        opts: { jobId: jobIds.ingest(rawId) },
      })),
    ),
    queues.triage.addBulk(
      work.untriaged.map((incident) => ({
        name: 'triage',
        data: { incident },
        opts: { jobId: jobIds.triage(incident) },
      })),
    ),
    queues.assign.addBulk(
      work.unassigned.map(({ incident, cause }) => ({
        name: 'assign',
        data: { incident, cause },
        opts: { jobId: jobIds.assign(incident, cause) },
      })),
    ),
    queues.notify.addBulk(
      work.unsent.map((outboxId) => ({
        name: 'recover',
        data: { outboxId },
        opts: { jobId: jobIds.notify(outboxId) },
      })),
    ),
  ]);
  return work.raw.length + work.untriaged.length + work.unassigned.length + work.unsent.length;
}
