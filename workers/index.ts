/** index: bring the search index up to date for one incident or known error. */
import type { Job } from 'bullmq';
import { ensureIndexesOnce, indexDocument } from '../src/actions/search.js';
import type { AppContext } from '../src/context.js';
import type { IndexJob } from '../src/queues.js';

export function indexProcessor(ctx: AppContext) {
  return async (job: Job<IndexJob>) => {
    await ensureIndexesOnce();
    return indexDocument(ctx, job.data);
  };
}
