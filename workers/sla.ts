/**
 * sla: one incident's timer fired (review it), or the periodic sweep runs: review every
 * incident whose check is due, whether or not its timer survived, and re-enqueue any other
 * work whose job was lost, remind owners of post-incident action items due soon or overdue, and
 * chase the owners of overdue playbook steps, and send the interval messages of communication
 * protocols (and any a crash left unsent).
 */
import type { Job } from 'bullmq';
import { requeueUnfinished } from '../src/actions/recovery.js';
import { chasePlaybookSteps } from '../src/actions/playbook.js';
import { sweepProtocols } from '../src/actions/protocols.js';
import { sendReviewReminders } from '../src/actions/review.js';
import { reviewIncidentSla, sweepSla } from '../src/actions/sla.js';
import type { AppContext } from '../src/context.js';
import type { SlaJob } from '../src/queues.js';

export const SWEEP_JOB = 'sweep';

export function slaProcessor(ctx: AppContext) {
  return async (job: Job<SlaJob>) => {
    if (job.name === SWEEP_JOB)
      return {
        reviewed: await sweepSla(ctx),
        requeued: await requeueUnfinished(ctx),
        reminded: await sendReviewReminders(ctx),
        chased: await chasePlaybookSteps(ctx),
        communicated: await sweepProtocols(ctx),
      };
    await reviewIncidentSla(ctx, job.data.incident);
    return { reviewed: 1 };
  };
}
