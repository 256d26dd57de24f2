/** Store access for incidents' playbook steps (`playbook_steps`). */
import type { IncidentStep } from '../domain/playbook.js';
import { appendAudit } from './audit.js';
import { atomically, writeAtCommit } from './db.js';
import { appendTimeline } from './incidents.js';
import { PlaybookStep, type PlaybookStepDoc } from './models.js';

export const stepId = (incidentNumber: number, step: number) => `${incidentNumber}-${step}`;

/**
 * An incident's playbook steps, each an upsert keyed by its id, so a retry adds only what is
 * missing. Written with the triage decision that gives them (src/actions/triage.ts), its
 * timeline and audit entries, at the end of its transaction (`writeAtCommit`).
 */
export async function addPlaybookSteps(
  incidentNumber: number,
  attached: { category: string; plan: string; at: Date; steps: readonly IncidentStep[] },
): Promise<void> {
  await writeAtCommit({
    into: PlaybookStep,
    ops: attached.steps.map((s) => ({
      updateOne: {
        filter: { _id: stepId(incidentNumber, s.step) },
        update: {
          $setOnInsert: {
            ...s,
            incidentNumber,
            category: attached.category,
            plan: attached.plan,
            createdAt: attached.at,
          },
        },
        upsert: true,
      },
    })),
  });
}

export async function stepsOf(incidentNumber: number): Promise<PlaybookStepDoc[]> {
  return PlaybookStep.find({ incidentNumber }).sort({ step: 1 }).lean<PlaybookStepDoc[]>();
}

export async function findStep(id: string): Promise<PlaybookStepDoc | null> {
  return PlaybookStep.findById(id).lean<PlaybookStepDoc>();
}

/**
 * Close an open step as done or skipped, with its timeline and audit entries, together. The
 * state is the guard: of two concurrent closes exactly one wins; the other gets null.
 */
export async function closeStep(
  id: string,
  close: { state: 'done' | 'skipped'; by: string; reason?: string; at: Date },
): Promise<PlaybookStepDoc | null> {
  return atomically(async () => {
    const closed = await PlaybookStep.findOneAndUpdate(
      { _id: id, state: 'open' },
      {
        $set: {
          state: close.state,
          by: close.by,
          closedAt: close.at,
          ...(close.reason ? { reason: close.reason } : {}),
        },
      },
      { returnDocument: 'after' },
    ).lean<PlaybookStepDoc>();
    if (!closed) return null;
    const detail = {
      step: closed.step,
      phase: closed.phase,
      by: close.by,
      ...(close.reason ? { reason: close.reason } : {}),
    };
    // A step closes once and never reopens, so its id alone keys the entry.
    await appendTimeline(closed.incidentNumber, {
      _id: `playbook-step-${id}`,
      at: close.at,
      type: 'event',
      event: `playbook-step-${close.state}`,
      text: closed.title,
      detail,
    });
    await appendAudit({
      action: 'playbook-step',
      subject: { type: 'incident', id: String(closed.incidentNumber) },
      changes: [{ field: `playbook.${closed.step}`, before: 'open', after: close.state }],
      detail: { title: closed.title, ...detail },
    });
    return closed;
  });
}

/** Open steps past their due date that are still chased: the chase sweep's work list. */
export async function overdueSteps(now: Date): Promise<PlaybookStepDoc[]> {
  return PlaybookStep.find({ state: 'open', dueAt: { $lt: now }, chaseEnded: null })
    .sort({ dueAt: 1, _id: 1 })
    .lean<PlaybookStepDoc[]>();
}

export async function markStepReminded(id: string, slot: number): Promise<void> {
  await PlaybookStep.updateOne({ _id: id }, { $max: { remindedSlot: slot } });
}

/** Nobody is chased any more about the steps an incident left open when it was resolved. */
export async function endChase(incidentNumber: number, at: Date): Promise<void> {
  await PlaybookStep.updateMany(
    { incidentNumber, state: 'open', chaseEnded: null },
    { $set: { chaseEnded: at } },
  );
}
