/** assign: pick an agent in the incident's group and notify them. */
import type { Job } from 'bullmq';
import { assignIncident } from '../src/actions/assign.js';
import type { AppContext } from '../src/context.js';
import { retryIfRaced } from '../src/actions/outcome.js';
import type { AssignJob } from '../src/queues.js';

export function assignProcessor(ctx: AppContext) {
  return async (job: Job<AssignJob>) =>
    retryIfRaced(await assignIncident(ctx, job.data.incident, job.data.cause));
}
