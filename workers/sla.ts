/**
 * sla: one incident's timer fired (review it), or the periodic sweep runs (review every
 * incident whose check is due, whether or not its timer survived).
 */
import type { Job } from 'bullmq';
import { reviewIncidentSla, sweepSla } from '../src/actions/sla.js';
import type { AppContext } from '../src/context.js';
import type { SlaJob } from '../src/queues.js';

export const SWEEP_JOB = 'sweep';

export function slaProcessor(ctx: AppContext) {
  return async (job: Job<SlaJob>) => {
    if (job.name === SWEEP_JOB) return { reviewed: await sweepSla(ctx) };
    await reviewIncidentSla(ctx, job.data.incident);
    return { reviewed: 1 };
  };
}
