/** Putting an incident in an agent's hands, by the group's strategy or by name. */
import type { AppContext } from '../context.js';
import { candidatesOf, chooseAssignee } from '../domain/assignment.js';
import { transition } from '../domain/lifecycle.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent, findGroup, groupMembers } from '../plan/load.js';
import type { PlanGroup } from '../plan/schema.js';
import { jobIds, requeue } from '../queues.js';
import {
  appendTimeline,
  findIncident,
  hasTimelineEntry,
  lastAssignedIn,
  openingMessage,
  openLoads,
  rememberAssignment,
  updateIncident,
} from '../store/incidents.js';
import type { IncidentDoc } from '../store/models.js';
import { filesForStaffMail } from './attachments.js';
import { queueMail } from './mail.js';
import { playbookSection } from './playbook.js';
import { changedMeanwhile, type Refusal } from './outcome.js';
import { dueAt } from '../domain/sla.js';
import { calendarOf } from './clocks.js';
import { queueIndex, similarTo, type Similar } from './search.js';

/** Resolved incidents and known errors like this one, for the assignment mail (never fatal). */
async function similarSection(ctx: AppContext, incident: IncidentDoc, firstMessage: string) {
  let similar: Similar = { incidents: [], knownErrors: [] };
  try {
    similar = await similarTo(incident, firstMessage);
  } catch (err) {
    ctx.log.warn(
      { component: 'assign', incident: incident.number, err: (err as Error).message },
      'similar incidents lookup failed; the notification goes without them',
    );
  }
  return {
    hasSimilar: similar.incidents.length + similar.knownErrors.length > 0,
    similarIncidents: similar.incidents,
    similarKnownErrors: similar.knownErrors,
  };
}

export type AssignOutcome = { ok: true; agent: string; reason: string } | Refusal;

/**
 * Assign incident `number` within its group, by strategy or to `requested`. `cause` names the
 * occasion (triage, a transfer, a command) and makes a retried assignment a no-op.
 */
export async function assignIncident(
  ctx: AppContext,
  number: number,
  cause: string,
  requested?: string,
): Promise<AssignOutcome> {
  const incident = await findIncident(number);
  if (!incident) return { ok: false, reason: `no incident ${formatIncidentId(number)}` };
  const eventId = `assigned-${number}-${cause}`;
  if (incident.assignCause === cause && incident.assignee) {
    // A retry: the decision is stored; finish what follows it.
    await completeAssignment(ctx, incident, cause);
    return { ok: true, agent: incident.assignee, reason: 'already assigned' };
  }
  if (await hasTimelineEntry(eventId)) return { ok: false, reason: 'already decided' };
  const step = transition(incident.status, 'assign');
  if (!step.ok) return { ok: false, reason: step.reason };
  const group = incident.group ? findGroup(ctx.plan, incident.group) : undefined;
  if (!group) return { ok: false, reason: 'the incident has no group yet' };

  let agent: string | null;
  let reason: string;
  if (requested) {
    const named = findAgent(ctx.plan, requested);
    if (!named) return { ok: false, reason: `no agent "${requested}" in the plan` };
    if (!named.groups.includes(group.id))
      return { ok: false, reason: `${named.id} is not in group ${group.id}; use #transfer first` };
    agent = named.id;
    reason = 'assigned by name';
  } else {
    const members = groupMembers(ctx.plan, group.id);
    // Loads cost a scan of open incidents; round-robin needs them only to respect maxOpen.
    const needLoads =
      group.assignment !== 'round-robin' || members.some((a) => a.maxOpen !== undefined);
    const loads = needLoads ? await openLoads(members.map((a) => a.id)) : new Map<string, number>();
    const choice = chooseAssignee({
      strategy: group.assignment,
      candidates: candidatesOf(members, (a) => loads.get(a) ?? 0),
      lastAssigned: await lastAssignedIn(group.id),
      requiredSkills: incident.skills ?? [],
    });
    agent = choice.agent;
    reason = choice.reason;
  }
  const now = ctx.now();
  if (!agent) {
    // Keyed apart from the assignment: the recovery sweep tries again while nobody is
    // available, and the first agent who is gets it; the lead is told once.
    await appendTimeline(number, {
      _id: `unassigned-${number}-${cause}`,
      at: now,
      type: 'event',
      event: 'unassigned',
      detail: { group: group.id, reason },
    });
    await tellLeadNobodyIsAvailable(ctx, incident, group, reason, cause);
    return { ok: false, reason };
  }
  // The decision and its cause are stored together; `assignNotified` stays false until the
  // agent's notification is queued, so the recovery sweep can finish a cut-off announcement.
  const updated = await updateIncident(
    number,
    {
      assignee: agent,
      assignedAt: now,
      status: step.to,
      assignCause: cause,
      assignNotified: false,
    },
    // Not if another assignment or a transfer got there first.
    { onlyIf: [incident.status], where: { group: group.id, assignee: incident.assignee ?? null } },
  );
  if (!updated) return changedMeanwhile();
  await rememberAssignment(group.id, agent);
  await completeAssignment(ctx, updated, cause, {
    strategy: requested ? 'by name' : group.assignment,
    reason,
  });
  return { ok: true, agent, reason };
}

/** Record a stored assignment decision and have it announced; both steps are idempotent. */
async function completeAssignment(
  ctx: AppContext,
  incident: IncidentDoc,
  cause: string,
  why: { strategy: string; reason: string } = {
    strategy: 'recovered',
    reason: 'completed after a restart',
  },
) {
  await appendTimeline(incident.number, {
    _id: `assigned-${incident.number}-${cause}`,
    at: incident.assignedAt ?? ctx.now(),
    type: 'event',
    event: 'assigned',
    detail: {
      agent: incident.assignee,
      group: incident.group,
      ...why,
      cause,
      plan: ctx.plan.fingerprint,
    },
  });
  await queueIndex(ctx, { kind: 'incident', id: incident.number }, `assigned-${cause}`);
  // A rerun (recovery found it unannounced) runs the announcement again if it completed.
  await requeue(
    ctx.queues.announce,
    'announce',
    { incident: incident.number, cause },
    jobIds.announce(incident.number, cause),
  );
}

/** The announce job: tell the agent of the assignment made for `cause`, once. */
export async function announceAssignment(ctx: AppContext, number: number, cause: string) {
  const incident = await findIncident(number);
  // Superseded (reassigned, transferred) before it was announced: the newer one is announced.
  if (!incident?.assignee || incident.assignCause !== cause) return 'superseded';
  await notifyAssignee(ctx, incident, cause);
  await updateIncident(number, { assignNotified: true }, { where: { assignCause: cause } });
  return 'announced';
}

/** Nobody could take the incident: its group's lead (or manager) decides, by replying. */
async function tellLeadNobodyIsAvailable(
  ctx: AppContext,
  incident: IncidentDoc,
  group: PlanGroup,
  reason: string,
  cause: string,
) {
  const leadId = group.lead ?? group.manager;
  const lead = leadId ? findAgent(ctx.plan, leadId) : undefined;
  if (!lead) return;
  await queueMail(ctx, {
    id: `unassigned-${incident.number}-${cause}`,
    kind: 'unassigned',
    incident,
    to: lead.email,
    audience: 'staff',
    template: 'unassigned',
    data: {
      name: lead.name,
      group: group.name,
      reason,
      priority: incident.priority ?? '-',
      customer: incident.customer.address,
    },
    autoSubmitted: 'auto-generated',
  });
}

/** The assignment notification: everything needed to act, and how to act by replying. */
async function notifyAssignee(ctx: AppContext, incident: IncidentDoc, cause: string) {
  const agent = incident.assignee ? findAgent(ctx.plan, incident.assignee) : undefined;
  if (!agent) return;
  const opening = await openingMessage(incident);
  const files = await filesForStaffMail(ctx, incident.number, opening?.attachmentIds ?? []);
  const cal = calendarOf(ctx, incident);
  // Dates: the template writes them in the agent's zone ({{time}}).
  const due = (clock?: { runningSince?: Date | null } | null) =>
    clock && clock.runningSince ? (dueAt(clock as Parameters<typeof dueAt>[0], cal) ?? null) : null;
  await queueMail(ctx, {
    id: `assignment-${incident.number}-${cause}`,
    kind: 'assignment',
    incident,
    to: agent.email,
    audience: 'staff',
    template: 'assignment',
    data: {
      name: agent.name,
      priority: incident.priority ?? '-',
      category: incident.category ?? '-',
      impact: incident.impact ?? '-',
      urgency: incident.urgency ?? '-',
      group: incident.group ?? '-',
      customer: incident.customer.name
        ? `${incident.customer.name} <${incident.customer.address}>`
        : incident.customer.address,
      firstResponseDue: due(incident.sla?.firstResponse),
      resolutionDue: due(incident.sla?.resolution),
      message: opening?.text ?? '',
      duplicates: (incident.duplicateOf ?? []).map(formatIncidentId),
      ...(await similarSection(ctx, incident, opening?.text ?? '')),
      files: files.files,
      ...(await playbookSection(incident)),
    },
    attachmentIds: files.attachmentIds,
    autoSubmitted: 'auto-generated',
  });
}
