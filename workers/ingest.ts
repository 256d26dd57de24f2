/** ingest: a stored raw message becomes part of an incident (new or existing), exactly once. */
import type { Job } from 'bullmq';
import { ingest } from '../src/actions/ingest.js';
import type { AppContext } from '../src/context.js';
import type { IngestJob } from '../src/queues.js';

export function ingestProcessor(ctx: AppContext) {
  return (job: Job<IngestJob>) => ingest(ctx, job.data.rawId);
}
