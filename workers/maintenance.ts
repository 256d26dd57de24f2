/** maintenance: the built-in nightly retention run (src/store/maintenance.ts), once per day. */
import type { Job } from 'bullmq';
import type { AppContext } from '../src/context.js';
import type { MaintenanceJob } from '../src/queues.js';
import { runMaintenance } from '../src/store/maintenance.js';

export function maintenanceProcessor(ctx: AppContext) {
  return async (_job: Job<MaintenanceJob>) => {
    const report = await runMaintenance({
      policy: ctx.plan.retention,
      now: ctx.now(),
      dryRun: false,
      log: ctx.log.child({ component: 'maintenance' }),
    });
    return { runId: report.runId, counts: report.counts };
  };
}
