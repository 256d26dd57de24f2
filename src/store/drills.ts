/**
 * Drill runs (`drill_runs`) and what a drill reads to start from: the agents' open incidents
 * and the groups' round-robin pointers, read only. A drill never writes an incident, a
 * timeline entry, a counter or the outbox.
 */
import type { DrillRun, Staffing } from '../domain/drill.js';
import { appendAudit } from './audit.js';
import { atomically } from './db.js';
import { groupStates, openLoads } from './incidents.js';
import { DrillRunModel, type DrillRunDoc } from './models.js';

/** Who is busy now, for the drill to start from the real situation. */
export async function currentStaffing(agents: readonly string[], groups: readonly string[]) {
  const open = await openLoads(agents);
  const lastAssigned: Record<string, string> = {};
  for (const [g, state] of await groupStates(groups))
    if (state.lastAssigned) lastAssigned[g] = state.lastAssigned;
  return { open: Object.fromEntries(open), lastAssigned } satisfies Staffing;
}

/** Store a run with its findings, and its audit entry, together. */
export async function recordDrillRun(
  run: DrillRun & {
    _id: string;
    ranAt: Date;
    by: string;
    scenarioFile: string;
    scenarioSha256: string;
    mailedTo?: string;
  },
): Promise<void> {
  await atomically(async () => {
    await DrillRunModel.create([{ ...run, ...(run.mailedTo ? { mailed: 0 } : {}) }]);
    await appendAudit({
      action: 'drill-run',
      subject: { type: 'plan', id: run.plan },
      changes: [],
      detail: {
        run: run._id,
        scenario: run.scenario,
        findings: run.findings.length,
        ...(run.mailedTo ? { mailedTo: run.mailedTo } : {}),
      },
    });
  });
}

export async function markDrillMailed(id: string, mailed: number): Promise<void> {
  await DrillRunModel.updateOne({ _id: id }, { $set: { mailed } });
}

export async function listDrillRuns(limit: number): Promise<DrillRunDoc[]> {
  return DrillRunModel.find({}, { entries: 0 })
    .sort({ ranAt: -1 })
    .limit(limit)
    .lean<DrillRunDoc[]>();
}

export async function findDrillRun(id: string): Promise<DrillRunDoc | null> {
  return DrillRunModel.findById(id).lean<DrillRunDoc>();
}

/** Runs made in [from, to), oldest first: the evidence pack's drills.json. */
export async function drillRunsBetween(from: Date, to: Date): Promise<DrillRunDoc[]> {
  return DrillRunModel.find({ ranAt: { $gte: from, $lt: to } })
    .sort({ ranAt: 1 })
    .lean<DrillRunDoc[]>();
}
