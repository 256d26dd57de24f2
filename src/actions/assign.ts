/** Putting an incident in an agent's hands, by the group's strategy or by name. */
import type { AppContext } from '../context.js';
import { candidatesOf, chooseAssignee } from '../domain/assignment.js';
import { transition } from '../domain/lifecycle.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent, findGroup, groupMembers } from '../plan/load.js';
import type { PlanGroup } from '../plan/schema.js';
import { jobIds, requeue } from '../queues.js';
import type { IncidentStep } from '../domain/playbook.js';
import {
  AssignmentRaced,
  appendTimeline,
  appendTimelineEntries,
  claimAssignment,
  findIncident,
  groupStates,
  hasTimelineEntry,
  openingMessage,
  openLoads,
  updateIncident,
  type GroupStates,
} from '../store/incidents.js';
import { afterCommit } from '../store/db.js';
import type { IncidentDoc, NewTimelineEntry } from '../store/models.js';
import type { OutboxClaim } from '../store/outbox.js';
import { filesForStaffMail } from './attachments.js';
import { queueMail } from './mail.js';
import type { MailSpec } from '../mail/compose.js';
import { playbookSection } from './playbook.js';
import { changedMeanwhile, type Refusal } from './outcome.js';
import { dueAt } from '../domain/sla.js';
import { calendarOf } from './clocks.js';
import { queueIndex, similarTo, type Similar } from './search.js';

/** Resolved incidents and known errors like this one, for the assignment mail (never fatal). */
export async function similarSection(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'number' | 'subject'>,
  firstMessage: string,
) {
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

/** The agent chosen (or nobody, and why) and the groups' state it was chosen from. */
export interface Choice {
  agent: string | null;
  reason: string;
  strategy: string;
  seen: GroupStates;
}

/**
 * What this process knows of groups' assignment state without reading it, per app: what it
 * read, and what its own claims wrote, learnt only once they committed. So it is never ahead of
 * the database, only behind it when another process claimed meanwhile; the next claim's
 * compare-and-set then fails and the groups are read again. Correctness rests on the
 * compare-and-set alone: this memory only saves the read before each choice.
 */
const known = new WeakMap<AppContext, GroupStates>();

function memoryOf(ctx: AppContext): GroupStates {
  let memory = known.get(ctx);
  if (!memory) known.set(ctx, (memory = new Map()));
  return memory;
}

/** Forget `groups`: their state is read again when next needed. */
function forget(ctx: AppContext, groups: Iterable<string>) {
  const memory = memoryOf(ctx);
  for (const g of groups) memory.delete(g);
}

/** Remember `states`; never move a group back (a read that ends after a later claim commits). */
function learn(ctx: AppContext, states: GroupStates) {
  const memory = memoryOf(ctx);
  for (const [g, state] of states) if ((memory.get(g)?.v ?? -1) < state.v) memory.set(g, state);
}

/** The state of `groups`: from memory where known, one read for the others. */
async function statesOf(ctx: AppContext, groups: readonly string[]): Promise<GroupStates> {
  const memory = memoryOf(ctx);
  const seen: GroupStates = new Map();
  for (const g of groups) {
    const state = memory.get(g);
    if (state) seen.set(g, state);
  }
  const unknown = groups.filter((g) => !seen.has(g));
  if (unknown.length > 0) {
    const read = await groupStates(unknown);
    // A group never assigned to has no document: version 0.
    const fresh: GroupStates = new Map(unknown.map((g) => [g, read.get(g) ?? { v: 0 }]));
    learn(ctx, fresh);
    for (const [g, state] of fresh) seen.set(g, state);
  }
  return seen;
}

/**
 * Choose an agent in `group` by its strategy, or check `requested`. Takes the state of every
 * group the candidates are in (statesOf) before their loads: an assignment that lands after
 * that state moves a version there, so the claim of one chosen from stale loads fails and is
 * chosen again (see claimAssignment). No lock: any number of processes assign at once.
 */
export async function chooseAgent(
  ctx: AppContext,
  group: PlanGroup,
  skills: readonly string[],
  requested?: string,
): Promise<Choice | Refusal> {
  if (requested) {
    const named = findAgent(ctx.plan, requested);
    if (!named) return { ok: false, reason: `no agent "${requested}" in the plan` };
    if (!named.groups.includes(group.id))
      return { ok: false, reason: `${named.id} is not in group ${group.id}; use #transfer first` };
    const seen = await statesOf(ctx, named.groups);
    return { agent: named.id, reason: 'assigned by name', strategy: 'by name', seen };
  }
  const members = groupMembers(ctx.plan, group.id);
  const seen = await statesOf(ctx, [...new Set([group.id, ...members.flatMap((a) => a.groups)])]);
  // Loads cost a scan of open incidents; round-robin needs them only to respect maxOpen.
  const needLoads =
    group.assignment !== 'round-robin' || members.some((a) => a.maxOpen !== undefined);
  const loads = needLoads ? await openLoads(members.map((a) => a.id)) : new Map<string, number>();
  const choice = chooseAssignee({
    strategy: group.assignment,
    candidates: candidatesOf(members, (a) => loads.get(a) ?? 0),
    lastAssigned: seen.get(group.id)?.lastAssigned,
    requiredSkills: skills,
  });
  return { ...choice, strategy: group.assignment, seen };
}

/**
 * What assigning `agent` writes besides the incident's own fields: its `assigned` timeline
 * entry and the claim on the groups' state, both for the change's transaction (a claim that
 * lost its race throws AssignmentRaced and undoes the change).
 */
export function assignmentWrites(
  ctx: AppContext,
  number: number,
  group: string,
  choice: Choice & { agent: string },
  cause: string,
  at: Date,
) {
  const agentGroups = findAgent(ctx.plan, choice.agent)?.groups ?? [];
  return {
    entry: assignedEntry(ctx, number, at, choice.agent, group, choice, cause),
    claim: async () => {
      const claimed = await claimAssignment(choice.seen, agentGroups, group, choice.agent);
      // The next choice in these groups needs no read, unless the transaction aborts.
      afterCommit(() => learn(ctx, claimed));
    },
  };
}

/** The timeline's record of an assignment (keyed by its cause: a retry adds nothing). */
function assignedEntry(
  ctx: AppContext,
  number: number,
  at: Date,
  agent: string | null | undefined,
  group: string | null | undefined,
  why: { strategy: string; reason: string },
  cause: string,
): NewTimelineEntry {
  return {
    _id: `assigned-${number}-${cause}`,
    at,
    type: 'event',
    event: 'assigned',
    detail: {
      agent,
      group,
      strategy: why.strategy,
      reason: why.reason,
      cause,
      plan: ctx.plan.fingerprint,
    },
  };
}

/**
 * The timeline's record that nobody could take the incident. Keyed apart from the assignment:
 * the recovery sweep tries again while nobody is available, and the first agent who is gets it.
 */
export function unassignedEntry(
  number: number,
  at: Date,
  group: string,
  reason: string,
  cause: string,
): NewTimelineEntry {
  return {
    _id: `unassigned-${number}-${cause}`,
    at,
    type: 'event',
    event: 'unassigned',
    detail: { group, reason },
  };
}

/** Claims tried before giving up (the job is retried later); each lost one means another won. */
const CLAIM_ATTEMPTS = 5;

/** The tail of each group's chain of assignments in this process (see `inTurn`). */
const turns = new Map<string, Promise<unknown>>();

/** Run `fn` after every earlier call for the same `key` in this process has finished. */
function inTurn<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (turns.get(key) ?? Promise.resolve()).then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  turns.set(key, tail);
  void tail.then(() => turns.get(key) === tail && turns.delete(key));
  return run;
}

/**
 * Choose an agent in `group` (or check `requested`) and store the choice with `write`, which
 * claims it (claimAssignment) in its transaction. In one process the assignments to a group
 * take turns, so they never lose a claim to each other (many jobs run at once, and a burst
 * for one group would otherwise spend its commands on lost claims), and each starts from the
 * state the one before it committed, without reading it (statesOf); across processes the
 * claim's compare-and-set decides, and the loser reads the state again and chooses again.
 */
export async function assignInTurn<T>(
  ctx: AppContext,
  group: PlanGroup,
  skills: readonly string[],
  requested: string | undefined,
  write: (choice: Choice) => Promise<T>,
): Promise<T | Refusal> {
  return inTurn(group.id, async () => {
    for (let attempt = 1; ; attempt++) {
      const choice = await chooseAgent(ctx, group, skills, requested);
      if ('ok' in choice) return choice;
      try {
        return await write(choice);
      } catch (err) {
        if (!(err instanceof AssignmentRaced)) throw err;
        // Another process moved a group's state since this one learnt it: read it again.
        forget(ctx, choice.seen.keys());
        if (attempt >= CLAIM_ATTEMPTS) throw err;
      }
    }
  });
}

/**
 * Assign incident `number` within its group, by strategy or to `requested`. `cause` names the
 * occasion (a transfer, a command, recovery) and makes a retried assignment a no-op. A new
 * incident's first assignment is made by its triage (src/actions/triage.ts) the same way.
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

  let outcome: AssignOutcome;
  try {
    outcome = await assignInTurn(ctx, group, incident.skills ?? [], requested, async (choice) => {
      const { agent, reason } = choice;
      const now = ctx.now();
      if (!agent) {
        await appendTimeline(number, unassignedEntry(number, now, group.id, reason, cause));
        await tellLeadNobodyIsAvailable(ctx, incident, group, reason, cause);
        return { ok: false as const, reason };
      }
      // The decision, its cause, its timeline entry and the claim on the groups' state are
      // stored together; `assignNotified` stays false until the agent's notification is
      // queued, so the recovery sweep can finish a cut-off announcement.
      const updated = await updateIncident(
        number,
        {
          assignee: agent,
          assignedAt: now,
          status: step.to,
          assignCause: cause,
          assignNotified: false,
        },
        {
          // Not if another assignment or a transfer got there first.
          onlyIf: [incident.status],
          where: { group: group.id, assignee: incident.assignee ?? null },
          together: async () => {
            const writes = assignmentWrites(
              ctx,
              number,
              group.id,
              { ...choice, agent },
              cause,
              now,
            );
            await writes.claim();
            await appendTimelineEntries(number, [writes.entry]);
          },
        },
      );
      return updated ? { ok: true as const, agent, reason } : changedMeanwhile();
    });
  } catch (err) {
    if (err instanceof AssignmentRaced) return changedMeanwhile();
    throw err;
  }
  if (outcome.ok) await announceLater(ctx, number, cause);
  return outcome;
}

/** After a stored assignment: re-index the incident and have the agent told (both keyed). */
async function announceLater(ctx: AppContext, number: number, cause: string) {
  await queueIndex(ctx, { kind: 'incident', id: number }, `assigned-${cause}`);
  // A rerun (recovery found it unannounced) runs the announcement again if it completed.
  await requeue(
    ctx.queues.announce,
    'announce',
    { incident: number, cause },
    jobIds.announce(number, cause),
  );
}

/** Finish a stored assignment cut off before its announcement was queued; idempotent. */
async function completeAssignment(ctx: AppContext, incident: IncidentDoc, cause: string) {
  await appendTimeline(
    incident.number,
    assignedEntry(
      ctx,
      incident.number,
      incident.assignedAt ?? ctx.now(),
      incident.assignee,
      incident.group,
      { strategy: 'recovered', reason: 'completed after a restart' },
      cause,
    ),
  );
  await announceLater(ctx, incident.number, cause);
}

/**
 * The announce job: tell the agent of the assignment made for `cause`, once. The job sends
 * the mail itself, born claimed by it, as triage does (no notify job, no claim command).
 */
export async function announceAssignment(ctx: AppContext, number: number, cause: string) {
  const incident = await findIncident(number);
  // Superseded (reassigned, transferred) before it was announced: the newer one is announced.
  if (!incident?.assignee || incident.assignCause !== cause) return 'superseded';
  await tellAssignee(
    ctx,
    incident,
    cause,
    {},
    { by: jobIds.announce(number, cause), at: ctx.now() },
  );
  return 'announced';
}

/** What the triage job already holds, so the agent's mail need not read it again. */
export interface Known {
  opening?: { text: string; attachmentIds: readonly string[] };
  steps?: readonly IncidentStep[];
  similar?: Awaited<ReturnType<typeof similarSection>>;
}

/**
 * Queue the agent's notification of the assignment made for `cause`, and record it queued;
 * with a `claim`, the job telling sends it itself (see queueMail).
 */
export async function tellAssignee(
  ctx: AppContext,
  incident: IncidentDoc,
  cause: string,
  known: Known = {},
  claim?: OutboxClaim,
) {
  await notifyAssignee(ctx, incident, cause, known, claim);
  await updateIncident(
    incident.number,
    { assignNotified: true },
    { where: { assignCause: cause } },
  );
}

/** Nobody could take the incident: its group's lead (or manager) decides, by replying. */
export async function tellLeadNobodyIsAvailable(
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
async function notifyAssignee(
  ctx: AppContext,
  incident: IncidentDoc,
  cause: string,
  known: Known,
  claim?: OutboxClaim,
) {
  const spec = await assigneeMail(ctx, incident, cause, known);
  if (spec) await queueMail(ctx, spec, claim);
}

/** The outbox id of the agent's mail about the assignment made for `cause`. */
export const assignmentMailId = (number: number, cause: string) => `assignment-${number}-${cause}`;

/** The agent's mail about the assignment made for `cause` (null: the assignee is not in the plan). */
export async function assigneeMail(
  ctx: AppContext,
  incident: IncidentDoc,
  cause: string,
  known: Known,
): Promise<MailSpec | null> {
  const agent = incident.assignee ? findAgent(ctx.plan, incident.assignee) : undefined;
  if (!agent) return null;
  const opening = known.opening ?? (await openingMessage(incident));
  const files = await filesForStaffMail(ctx, incident.number, opening?.attachmentIds ?? []);
  const cal = calendarOf(ctx, incident);
  // Dates: the template writes them in the agent's zone ({{time}}).
  const due = (clock?: { runningSince?: Date | null } | null) =>
    clock && clock.runningSince ? (dueAt(clock as Parameters<typeof dueAt>[0], cal) ?? null) : null;
  return {
    id: assignmentMailId(incident.number, cause),
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
      ...(known.similar ?? (await similarSection(ctx, incident, opening?.text ?? ''))),
      files: files.files,
      ...(await playbookSection(incident, known.steps)),
    },
    attachmentIds: files.attachmentIds,
    autoSubmitted: 'auto-generated',
  };
}
