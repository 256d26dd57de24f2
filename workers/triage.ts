/** triage: classify a new incident, route it to a group, start its SLA clocks. */
import type { Job } from 'bullmq';
import { triageIncident } from '../src/actions/triage.js';
import type { AppContext } from '../src/context.js';
import type { TriageJob } from '../src/queues.js';

export function triageProcessor(ctx: AppContext) {
  return (job: Job<TriageJob>) => triageIncident(ctx, job.data.incident);
}
