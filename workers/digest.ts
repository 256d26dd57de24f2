/** digest: the periodic tick that builds and queues every manager digest now due. */
import type { Job } from 'bullmq';
import { produceDueDigests } from '../src/actions/digest.js';
import type { AppContext } from '../src/context.js';
import type { DigestJob } from '../src/queues.js';

export function digestProcessor(ctx: AppContext) {
  return async (_job: Job<DigestJob>) => ({ queued: await produceDueDigests(ctx) });
}
