/** announce: tell the agent of a stored assignment (with similar incidents and known errors). */
import type { Job } from 'bullmq';
import { announceAssignment } from '../src/actions/assign.js';
import type { AppContext } from '../src/context.js';
import type { AnnounceJob } from '../src/queues.js';

export function announceProcessor(ctx: AppContext) {
  return (job: Job<AnnounceJob>) => announceAssignment(ctx, job.data.incident, job.data.cause);
}
