/** index: bring the search index up to date for one incident or known error. */
import type { Job } from 'bullmq';
import { indexDocument } from '../src/actions/search.js';
import type { AppContext } from '../src/context.js';
import type { IndexJob } from '../src/queues.js';

export function indexProcessor(ctx: AppContext) {
  return (job: Job<IndexJob>) => indexDocument(ctx, job.data);
}
