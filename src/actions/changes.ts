/**
 * Changes to an incident that agents make (by email command) and the system makes (escalation,
 * customer replies). Each checks the lifecycle, updates atomically, records itself on the
 * timeline with who and why, and tells whoever needs to know.
 */
import type { AppContext } from '../context.js';
import { priorityConfirmation, priorityFor } from '../domain/classify.js';
import { resolutionProblems, transition, type LifecycleAction } from '../domain/lifecycle.js';
import { mergeReviewProblem, reportersToNotify } from '../domain/links.js';
import { formatKnownErrorId } from '../domain/known-errors.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findGroup } from '../plan/load.js';
import type { Level, Priority } from '../plan/schema.js';
import { jobIds } from '../queues.js';
import {
  appendTimeline,
  countEvents,
  findIncident,
  getTimelineEntry,
  hasTimelineEntry,
  updateIncident,
} from '../store/incidents.js';
import { atomically } from '../store/db.js';
import { linkIncidentToKnownError } from '../store/known-errors.js';
import { childIncidents, isMergedFrom } from '../store/review.js';
import type { IncidentDoc } from '../store/models.js';
import { handOverChildren } from './links.js';
import { queueMail } from './mail.js';
import { changedMeanwhile, refused, type Actor, type ChangeResult } from './outcome.js';
import { playbookGate } from './playbook.js';
import { announce } from './protocols.js';
import { closeProblems } from './review.js';
import { queueIndex } from './search.js';
import { clockChanges, updateClocks } from './clocks.js';

/** Move the incident to another group; assignment then happens in that group. */
export async function transferIncident(
  ctx: AppContext,
  incident: IncidentDoc,
  groupId: string,
  actor: Actor,
): Promise<ChangeResult> {
  const group = findGroup(ctx.plan, groupId);
  if (!group) return refused(`no group "${groupId}" in the plan`);
  if (incident.group === group.id) return refused(`already in group ${group.id}`);
  if (['resolved', 'closed'].includes(incident.status))
    return refused(`the incident is ${incident.status}`);
  // The cause goes with the move, so the recovery sweep can finish an assignment cut off here.
  const updated = await updateIncident(
    incident.number,
    { group: group.id, assignee: null, assignCause: actor.cause },
    { onlyIf: [incident.status], where: { group: incident.group ?? null } },
  );
  if (!updated) return changedMeanwhile();
  await appendTimeline(incident.number, {
    _id: `transferred-${incident.number}-${actor.cause}`,
    at: ctx.now(),
    type: 'event',
    event: 'transferred',
    detail: { from: incident.group, to: group.id, by: actor.by },
  });
  // The SLA calendar may differ between groups: recompute the next check under the new one.
  await updateClocks(ctx, updated, {});
  await ctx.queues.assign.add(
    'assign',
    { incident: incident.number, cause: actor.cause },
    { jobId: jobIds.assign(incident.number, actor.cause) },
  );
  return { ok: true, done: `transferred to ${group.id}` };
}

/** Change impact, urgency or priority; SLA targets follow the new priority. */
export async function reprioritise(
  ctx: AppContext,
  incident: IncidentDoc,
  change: { priority?: Priority; impact?: Level; urgency?: Level },
  actor: Actor,
): Promise<ChangeResult> {
  const impact =
    change.impact ??
    (incident.impact as Level | undefined) ??
    ctx.plan.classification.defaults.impact;
  const urgency =
    change.urgency ??
    (incident.urgency as Level | undefined) ??
    ctx.plan.classification.defaults.urgency;
  const priority = change.priority ?? priorityFor(ctx.plan.matrix, impact, urgency);
  await updateClocks(ctx, incident, { retarget: priority }, { impact, urgency, priority });
  const entryId = `reprioritised-${incident.number}-${actor.cause}`;
  await appendTimeline(incident.number, {
    _id: entryId,
    at: ctx.now(),
    type: 'event',
    event: 'reprioritised',
    detail: { from: incident.priority, to: priority, impact, urgency, by: actor.by },
  });
  // From the entry, not the incident: a retry finds the priority already changed.
  const entry = await getTimelineEntry(entryId);
  const from = (entry?.detail as { from?: string | null } | undefined)?.from ?? null;
  const updated = await findIncident(incident.number);
  if (entry && updated && from !== priority)
    await announce(ctx, updated, {
      kind: 'priority-changed',
      from,
      occurrence: await countEvents(incident.number, 'reprioritised', entry.at),
    });
  return { ok: true, done: priorityConfirmation(ctx.plan.matrix, priority, impact, urgency) };
}

/**
 * A lifecycle step, with the SLA clock consequences the state machine implies: waiting for
 * the customer pauses the resolution clock, work resuming restarts it.
 */
export async function moveStatus(
  ctx: AppContext,
  incident: IncidentDoc,
  action: LifecycleAction,
  actor: Actor,
): Promise<ChangeResult> {
  const step = transition(incident.status, action);
  if (!step.ok) return refused(step.reason);
  if (step.to === incident.status) return { ok: true, done: `status stays ${step.to}` };
  if (step.to === 'closed') {
    const missing = await closeProblems(ctx, incident);
    if (missing.length)
      return refused(`cannot close before the review is done: ${missing.join('; ')}`);
  }
  const now = ctx.now();
  const extra: Record<string, unknown> = { status: step.to };
  if (step.to === 'closed') extra.closedAt = now;
  const resolution =
    step.to === 'pending-customer'
      ? clockChanges.pause
      : incident.status === 'pending-customer' || action === 'reopen'
        ? clockChanges.resume
        : undefined;
  const updated = await updateClocksGuarded(ctx, incident, { resolution }, extra);
  if (!updated) return changedMeanwhile();
  await appendTimeline(incident.number, {
    _id: `status-${incident.number}-${actor.cause}`,
    at: now,
    type: 'event',
    event: action === 'reopen' ? 'reopened' : 'status-changed',
    detail: { from: incident.status, to: step.to, by: actor.by },
  });
  await queueIndex(ctx, { kind: 'incident', id: incident.number }, `status-${actor.cause}`);
  return { ok: true, done: `status ${step.to}` };
}

/**
 * Clock update only while the incident is still in the status the decision was made on: the
 * clocks are computed from the incident as it is now, and the status is the update's guard,
 * so a transition that raced another one is refused, never applied twice.
 */
async function updateClocksGuarded(
  ctx: AppContext,
  incident: IncidentDoc,
  change: Parameters<typeof updateClocks>[2],
  extra: Record<string, unknown>,
) {
  const current = await findIncident(incident.number);
  if (!current || current.status !== incident.status) return null;
  return updateClocks(ctx, current, change, extra, [incident.status]);
}

/** The first reply from our side stops the first-response clock. */
export async function recordFirstResponse(ctx: AppContext, incident: IncidentDoc): Promise<void> {
  if (incident.firstRespondedAt) return;
  await updateClocks(
    ctx,
    incident,
    { firstResponse: clockChanges.stop },
    { firstRespondedAt: ctx.now() },
  );
}

/**
 * Resolve with a cause and a fix or workaround; the customer is told how to reopen. An outage
 * parent resolves its open children with it, and every reporter is told once (one mail per
 * distinct address, about the first of their incidents: the parent, then children by number).
 */
export async function resolveIncident(
  ctx: AppContext,
  incident: IncidentDoc,
  resolution: { cause?: string; fix?: string; workaround?: string },
  actor: Actor,
): Promise<ChangeResult> {
  const problems = resolutionProblems(resolution);
  if (problems.length) return refused(problems.join('; '));
  // A retry of this very resolution (its job was cut off): finish the children and the mail.
  const resolvedBy = (n: number) => hasTimelineEntry(`resolved-${n}-${actor.cause}`);
  const retry = incident.status === 'resolved' && (await resolvedBy(incident.number));
  if (!retry) {
    const step = transition(incident.status, 'resolve');
    if (!step.ok) return refused(step.reason);
    const open = await playbookGate(ctx, incident);
    if (open.length)
      return refused(`cannot resolve before the playbook is done: ${open.join('; ')}`);
    if (!(await applyResolution(ctx, incident, resolution, actor))) return changedMeanwhile();
  }
  const resolved: IncidentDoc[] = [incident];
  for (const child of await childIncidents(incident.number)) {
    if (transition(child.status, 'resolve').ok) {
      if (await applyResolution(ctx, child, resolution, actor, incident.number))
        resolved.push(child);
    } else if (retry && (await resolvedBy(child.number))) {
      resolved.push(child);
    } // else resolved or closed before: its reporter was told then
  }
  const told = reportersToNotify(
    resolved.map((i) => ({ number: i.number, address: i.customer.address, i })),
  );
  for (const { i } of told) {
    await queueMail(ctx, {
      id: `resolved-${i.number}-${actor.cause}`,
      kind: 'resolved',
      incident: i,
      to: i.customer.address,
      audience: 'customer',
      subjectPrefix: 'Resolved',
      template: 'resolved',
      data: {
        customerName: i.customer.name ?? '',
        fix: resolution.fix ?? '',
        workaround: resolution.workaround ?? '',
        reopenDays: ctx.plan.lifecycle.reopenWindowDays,
        resolvedAt: ctx.now(),
      },
      inReplyTo: i.lastCustomerMessageId ?? undefined,
    });
  }
  const now = await findIncident(incident.number);
  const entry = await getTimelineEntry(`resolved-${incident.number}-${actor.cause}`);
  if (now && entry)
    await announce(ctx, now, {
      kind: 'resolved',
      occurrence: await countEvents(incident.number, 'resolved', entry.at),
    });
  return resolved.length === 1
    ? { ok: true, done: 'resolved; the customer was told' }
    : {
        ok: true,
        done: `resolved with ${resolved.length - 1} grouped incident(s); ${told.length} reporter(s) told`,
      };
}

/** The resolution itself (status, clocks, timeline), without telling anyone. */
async function applyResolution(
  ctx: AppContext,
  incident: IncidentDoc,
  resolution: { cause?: string; fix?: string; workaround?: string },
  actor: Actor,
  viaParent?: number,
): Promise<boolean> {
  const now = ctx.now();
  const current = await findIncident(incident.number);
  if (!current || current.status !== incident.status) return false;
  const by = { by: actor.by, ...(viaParent ? { viaParent: formatIncidentId(viaParent) } : {}) };
  const updated = await updateClocks(
    ctx,
    current,
    { firstResponse: clockChanges.stop, resolution: clockChanges.stop, moment: 'resolved' },
    { status: 'resolved', resolvedAt: now, resolution: { ...resolution, by: actor.by } },
  );
  if (!updated) return false;
  await appendTimeline(incident.number, {
    _id: `resolved-${incident.number}-${actor.cause}`,
    at: now,
    type: 'event',
    event: 'resolved',
    detail: { ...resolution, ...by },
  });
  await queueIndex(ctx, { kind: 'incident', id: incident.number }, `resolved-${actor.cause}`);
  return true;
}

export async function addNote(
  ctx: AppContext,
  incident: IncidentDoc,
  text: string,
  actor: Actor,
): Promise<ChangeResult> {
  await appendTimeline(incident.number, {
    _id: `note-${incident.number}-${actor.cause}`,
    at: ctx.now(),
    type: 'event',
    event: 'note',
    text,
    detail: { by: actor.by, internal: true },
  });
  return { ok: true, done: 'note added (internal)' };
}

/** Merge this incident into another: it closes, pointing at the survivor, which gains its people. */
export async function mergeIncident(
  ctx: AppContext,
  incident: IncidentDoc,
  into: number,
  actor: Actor,
): Promise<ChangeResult> {
  if (into === incident.number) return refused('an incident cannot be merged into itself');
  const target = await findIncident(into);
  if (!target) return refused(`no incident ${formatIncidentId(into)}`);
  if (target.mergedInto)
    return refused(
      `${formatIncidentId(into)} was itself merged into ${formatIncidentId(target.mergedInto)}`,
    );
  const reviewProblem = mergeReviewProblem(incident, target, ctx.plan.review.requiredFor);
  if (reviewProblem) return refused(reviewProblem);
  if (target.parent === incident.number)
    return refused(
      `${formatIncidentId(into)} is grouped under this incident; merge it into this one instead`,
    );
  // All of it or none: the duplicate closed, the survivor's people, the handed-over reports
  // and both timeline entries commit together (on a standalone server, where there are no
  // transactions, a merge cut off half-way is finished by running it again).
  const refusal = await atomically(() => mergeSteps(ctx, incident, into, target, actor));
  if (refusal) return refusal;
  return { ok: true, done: `merged into ${formatIncidentId(into)}` };
}

/** The writes of a merge; a refusal when the incident can no longer be merged. */
async function mergeSteps(
  ctx: AppContext,
  incident: IncidentDoc,
  into: number,
  target: IncidentDoc,
  actor: Actor,
): Promise<ChangeResult | null> {
  const now = ctx.now();
  // Closed and pointing at the target, but the survivor's timeline does not say so yet: a
  // merge cut off half-way; finishing it keeps the duplicate's messages visible there.
  const unfinished = incident.mergedInto === into && !(await isMergedFrom(into, incident.number));
  if (!unfinished) {
    const closed = await updateIncident(
      incident.number,
      {
        status: 'closed',
        closedAt: now,
        mergedInto: into,
        slaCheckAt: null,
        protocolCheckAt: null,
      },
      { onlyIf: ['new', 'triaged', 'assigned', 'in-progress', 'pending-customer', 'resolved'] },
    );
    if (!closed) return refused(`the incident is ${incident.status}`);
  }
  await updateIncident(into, {}, { addParticipants: incident.participants });
  // An outage parent's reports follow it, so resolving the survivor still resolves them.
  await handOverChildren(ctx, incident.number, target.parent ?? into, actor);
  for (const [n, event, other] of [
    [incident.number, 'merged-into', into],
    [into, 'merged-from', incident.number],
  ] as const) {
    await appendTimeline(n, {
      _id: `${event}-${n}-${actor.cause}`,
      at: now,
      type: 'event',
      event,
      // `number` lets the survivor's timeline include the merged one's (timelineWithMerged).
      detail: { incident: formatIncidentId(other), number: other, by: actor.by },
    });
  }
  await queueIndex(ctx, { kind: 'incident', id: incident.number }, `merged-${actor.cause}`);
  return null;
}

/** Record that a known error explains this incident; the agent learns its workaround. */
export async function linkKnownError(
  ctx: AppContext,
  incident: IncidentDoc,
  knownError: number,
  actor: Actor,
): Promise<ChangeResult> {
  const ke = await linkIncidentToKnownError(knownError, incident.number);
  if (!ke) return refused(`no known error ${formatKnownErrorId(knownError)}`);
  await appendTimeline(incident.number, {
    _id: `known-error-${incident.number}-${actor.cause}`,
    at: ctx.now(),
    type: 'event',
    event: 'known-error-linked',
    detail: { knownError: formatKnownErrorId(knownError), by: actor.by },
  });
  const workaround = ke.workaround ? `; workaround: ${ke.workaround}` : '';
  return {
    ok: true,
    done: `linked to ${formatKnownErrorId(knownError)} (${ke.title}, ${ke.status})${workaround}`,
  };
}
