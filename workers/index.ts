/**
 * index: bring the search index up to date for incidents and known errors. Each job is one
 * document; the jobs this process runs at the same moment join one batch (one transaction,
 * its reads and writes shared), and each job ends when its batch does.
 */
import type { Job } from 'bullmq';
import { indexDocuments } from '../src/actions/search.js';
import { INDEX_BATCH_WAIT_MS } from '../src/constants.js';
import type { AppContext } from '../src/context.js';
import { MicroBatcher } from '../src/micro-batch.js';
import type { IndexJob } from '../src/queues.js';

/** `maxDocuments`: the largest batch (1 where there are no transactions: each job alone). */
export function indexProcessor(ctx: AppContext, maxDocuments: number) {
  const batcher = new MicroBatcher((jobs: IndexJob[]) => indexDocuments(ctx, jobs), {
    maxItems: maxDocuments,
    waitMs: INDEX_BATCH_WAIT_MS,
  });
  return (job: Job<IndexJob>) => batcher.add(job.data);
}
