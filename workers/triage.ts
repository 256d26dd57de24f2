/** triage: a new incident classified, routed, clocked, assigned and its agent told (one job). */
import type { Job } from 'bullmq';
import { triageIncident } from '../src/actions/triage.js';
import type { AppContext } from '../src/context.js';
import type { TriageJob } from '../src/queues.js';

export function triageProcessor(ctx: AppContext) {
  return (job: Job<TriageJob>) => triageIncident(ctx, job.data);
}
