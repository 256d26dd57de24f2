/**
 * Playbooks: an incident gets its category's steps at triage; steps are ticked off by email
 * (#done, #skip) and the CLI (`incidesk playbook …`); owners of overdue steps are chased; the
 * resolve gate keeps a P1/P2 open while a mandatory step is. Email and CLI both come here.
 */
import type { AppContext } from '../context.js';
import { OPEN_STATUSES } from '../domain/lifecycle.js';
import { parseDuration } from '../domain/duration.js';
import {
  playbookFor,
  playbookProblems,
  stepOwnerId,
  stepReminderDue,
  type IncidentStep,
  type StepOwner,
} from '../domain/playbook.js';
import type { MailSpec } from '../mail/compose.js';
import { findAgent } from '../plan/load.js';
import { findIncident } from '../store/incidents.js';
import type { IncidentDoc, PlaybookStepDoc } from '../store/models.js';
import {
  addPlaybookSteps,
  closeStep,
  endChase,
  findStep,
  markStepReminded,
  overdueSteps,
  stepId,
  stepsOf,
} from '../store/playbook.js';
import { queueMail } from './mail.js';
import { refused, type Actor, type ChangeResult } from './outcome.js';

const OPEN = new Set<string>(OPEN_STATUSES);

/**
 * What giving a triaged incident its category's playbook writes: the steps, their timeline
 * entry and their audit entry (null when the plan has none for the category). The triage
 * decision writes them in its own transaction (src/actions/triage.ts). Deadlines count from
 * triage, where the SLA clocks start too (moments after the mail came).
 */
export function playbookAtTriage(
  ctx: AppContext,
  number: number,
  category: string | null | undefined,
  at: Date,
  plan: string,
) {
  const steps = playbookFor(ctx.plan.playbooks.categories, category, at);
  if (!category || steps.length === 0) return null;
  const detail = {
    category,
    steps: steps.length,
    mandatory: steps.filter((s) => s.mandatory).length,
    plan,
  };
  return {
    steps,
    entry: {
      _id: `playbook-${number}`,
      at,
      type: 'event' as const,
      event: 'playbook-attached',
      detail,
    },
    audit: {
      action: 'playbook-attached',
      subject: { type: 'incident' as const, id: String(number) },
      changes: [],
      detail,
    },
    write: () => addPlaybookSteps(number, { category, plan, at, steps }),
  };
}

/** What keeps this incident from resolving, as far as its playbook goes (empty: nothing). */
export async function playbookGate(ctx: AppContext, incident: IncidentDoc): Promise<string[]> {
  const requiredFor = ctx.plan.playbooks.requiredFor;
  if (!incident.priority || !requiredFor.includes(incident.priority)) return [];
  return playbookProblems({
    priority: incident.priority,
    requiredFor,
    steps: (await stepsOf(incident.number)).map((s) => ({
      step: s.step,
      title: s.title,
      mandatory: s.mandatory,
      state: s.state,
    })),
  });
}

/** Tick off step `step` of the incident as done, or skip it with a reason. */
export async function closePlaybookStep(
  ctx: AppContext,
  incident: IncidentDoc,
  close: { step: number; state: 'done' | 'skipped'; reason?: string },
  actor: Actor,
): Promise<ChangeResult> {
  if (close.state === 'skipped' && !close.reason?.trim())
    return refused(`skipping step ${close.step} needs a reason: #skip ${close.step} <reason>`);
  const id = stepId(incident.number, close.step);
  const step = await findStep(id);
  if (!step) {
    const count = (await stepsOf(incident.number)).length;
    return refused(
      count
        ? `the playbook has steps 1 to ${count}, no step ${close.step}`
        : 'this incident has no playbook',
    );
  }
  const verb = close.state === 'done' ? 'done' : 'skipped';
  if (step.state !== 'open')
    return { ok: true, done: `step ${close.step} was already ${step.state}` };
  const closed = await closeStep(id, {
    state: close.state,
    by: actor.by,
    reason: close.reason?.trim(),
    at: ctx.now(),
  });
  // Closed meanwhile by someone else: the step is closed either way.
  if (!closed) return { ok: true, done: `step ${close.step} was already closed` };
  return { ok: true, done: `step ${close.step} "${closed.title}" ${verb}` };
}

/**
 * The assignment mail's playbook section: each step with its phase, owner and due time. The
 * triage job passes the steps it has just written; others read them.
 */
export async function playbookSection(incident: IncidentDoc, known?: readonly IncidentStep[]) {
  const steps = known ?? (await stepsOf(incident.number));
  return {
    playbook: steps.map((s) => ({
      step: s.step,
      phase: s.phase,
      title: s.title,
      owner: s.owner,
      mandatory: s.mandatory,
      due: s.dueAt ?? null,
      state: s.state === 'open' ? '' : s.state,
    })),
  };
}

/** "12 min", "3 h 5 min": how late a step is, for people. */
function lateBy(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  const h = Math.floor(minutes / 60);
  return h ? `${h} h${minutes % 60 ? ` ${minutes % 60} min` : ''}` : `${minutes} min`;
}

/**
 * Chase the owners of overdue steps: once when a step falls overdue, then every
 * `playbooks.remindEvery` while it stays open. The outbox id carries the reminder's number, so
 * a repeated or concurrent sweep sends each reminder once. Steps a resolved incident left open
 * are no longer chased.
 */
export async function chasePlaybookSteps(ctx: AppContext): Promise<number> {
  const now = ctx.now();
  const everyMs = parseDuration(ctx.plan.playbooks.remindEvery);
  let sent = 0;
  for (const step of await overdueSteps(now)) {
    const slot = stepReminderDue(
      { state: step.state, dueAt: step.dueAt ?? null, remindedSlot: step.remindedSlot },
      now,
      everyMs,
    );
    if (slot === null) continue;
    const incident = await findIncident(step.incidentNumber);
    if (!incident || !OPEN.has(incident.status)) {
      await endChase(step.incidentNumber, now);
      continue;
    }
    const ownerId = stepOwnerId(step.owner as StepOwner, incident, ctx.plan.groups);
    const owner = ownerId ? findAgent(ctx.plan, ownerId) : undefined;
    if (owner) {
      await queueMail(ctx, reminderMail(incident, step, owner, slot, now));
      sent++;
    } else {
      ctx.log.warn(
        { component: 'playbook', incident: incident.number, step: step.step },
        'overdue playbook step has nobody to chase: no assignee, lead or manager',
      );
    }
    await markStepReminded(step._id, slot);
  }
  if (sent) ctx.log.info({ component: 'playbook', chased: sent }, 'overdue playbook steps');
  return sent;
}

function reminderMail(
  incident: IncidentDoc,
  step: PlaybookStepDoc,
  owner: { name: string; email: string },
  slot: number,
  now: Date,
): MailSpec {
  const dueAt = step.dueAt as Date;
  return {
    id: `playbook-reminder-${step._id}-${slot}`,
    kind: 'playbook-reminder',
    incident,
    to: owner.email,
    audience: 'staff',
    template: 'playbook-reminder',
    data: {
      name: owner.name,
      step: step.step,
      phase: step.phase,
      title: step.title,
      ownerRole: step.owner,
      mandatory: step.mandatory,
      priority: incident.priority ?? '-',
      dueAt,
      lateBy: lateBy(now.getTime() - dueAt.getTime()),
    },
    autoSubmitted: 'auto-generated' as const,
  };
}
