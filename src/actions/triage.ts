/**
 * A new incident's triage, one job: classification and routing, SLA clocks, playbook, likely
 * duplicates and possible outages, the first assignment, and the agent's notification.
 */
import { domainOf } from '../domain/address.js';
import type { AppContext } from '../context.js';
import { classify, customerTier } from '../domain/classify.js';
import { transition } from '../domain/lifecycle.js';
import { mailboxFor } from '../config.js';
import { route } from '../domain/routing.js';
import { findGroup } from '../plan/load.js';
import { jobIds, type BornFacts, type OpeningFacts, type TriageJob } from '../queues.js';
import { attachmentsOf } from '../store/attachments.js';
import {
  appendTimelineEntries,
  findIncident,
  openingMessage,
  updateIncident,
} from '../store/incidents.js';
import { hasTransactions } from '../store/db.js';
import type { IncidentDoc, NewTimelineEntry, OutboxDoc } from '../store/models.js';
import { enqueueAtCommit, getOutbox, type OutboxClaim } from '../store/outbox.js';
import { decideMail } from './mail.js';
import { sendOrHandOver } from './notify.js';
import {
  assigneeMail,
  assignmentMailId,
  assignInTurn,
  similarSection,
  assignmentWrites,
  type Choice,
  tellAssignee,
  tellLeadNobodyIsAvailable,
  unassignedEntry,
  type Known,
} from './assign.js';
import { findRelated, outageMail, relatedEntries, suggestOutage, type Related } from './links.js';
import { queueIndex } from './search.js';
import { playbookAtTriage } from './playbook.js';
import { announce } from './protocols.js';
import { firstSlaCheck, protocolCheckAfter, scheduleSlaCheck, startClocks } from './clocks.js';

/** The cause of a new incident's first assignment (its timeline entry's and job's key). */
export const TRIAGE_CAUSE = 'triage';

/**
 * Triage incident `job.incident`. The whole decision (classification, route, clocks,
 * duplicates, playbook, assignee) is one guarded write on status `new`, with its timeline and
 * audit entries and the claim on the group's assignment state, in one transaction; what
 * follows it (timer, index, mail, protocol messages) is keyed, so a retry, or recovery's
 * assign and announce jobs, complete what a crash cut off.
 */
export async function triageIncident(ctx: AppContext, job: TriageJob): Promise<void> {
  // Decided from the incident as ingest inserted it, without reading it: the decision's guard
  // says whether that still holds (a rerun, or grouped meanwhile), and if not, it is read.
  if (job.born && (await triageNew(ctx, asBorn(job.incident, job.born), job))) return;
  const incident = await findIncident(job.incident);
  if (!incident) return;
  if (incident.status === 'new' && (await triageNew(ctx, incident, job))) return;
  // A rerun, or triaged meanwhile by another run: finish what was decided.
  const stored = incident.status === 'new' ? await findIncident(job.incident) : incident;
  if (stored) await finishTriage(ctx, stored, {});
}

/** What the decision reads of the incident. */
type Untriaged = Pick<
  IncidentDoc,
  'number' | 'subject' | 'customer' | 'mailbox' | 'openedBy' | 'createdAt' | 'parent'
>;

/** The incident as it was born, from its triage job. */
const asBorn = (number: number, born: BornFacts): Untriaged => ({
  ...born,
  number,
  createdAt: new Date(born.createdAt),
  parent: null,
});

/** Decide a `new` incident's triage and finish it; false when the decision's guard failed. */
async function triageNew(ctx: AppContext, incident: Untriaged, job: TriageJob) {
  const decided = await decide(ctx, incident, job.opening ?? (await readOpening(incident)));
  if (decided) await finishTriage(ctx, decided.incident, decided.known);
  return decided !== null;
}

/** The opening message's facts, read back (a job without them). */
async function readOpening(incident: Pick<IncidentDoc, 'openedBy'>): Promise<OpeningFacts> {
  const opening = await openingMessage(incident);
  return { text: opening?.text ?? '', attachmentIds: opening?.attachmentIds ?? [] };
}

/** What the decision knew, for what follows it. */
interface Decided {
  incident: IncidentDoc;
  known: Known & {
    related?: Related;
    unassigned?: string;
    /** The agent's mail, stored with the decision (undefined: not stored with it). */
    mail?: OutboxDoc | null;
    /** The lead's possible-outage mail, likewise. */
    outageMail?: OutboxDoc | null;
    /** This job's claim on the mail it stored with the decision: it sends that mail itself. */
    claim?: OutboxClaim;
  };
}

/** What the plan's rules say of the incident: classification, the customer's tier, the route. */
async function classifyAndRoute(ctx: AppContext, incident: Untriaged, opening: OpeningFacts) {
  const sender = incident.customer.address;
  const senderDomain = domainOf(sender);
  const tier = customerTier(ctx.plan, sender);
  const attachments = await attachmentsOf(opening.attachmentIds);
  // The mailbox it came in by: its category when no rule names one, its group always.
  const box = mailboxFor(ctx.config, incident.mailbox);
  const { classification } = ctx.plan;
  const rules = box.category
    ? { ...classification, defaults: { ...classification.defaults, category: box.category } }
    : classification;
  const c = classify(rules, ctx.plan.matrix, {
    subject: incident.subject,
    body: opening.text,
    sender,
    senderDomain,
    tier,
    attachmentNames: attachments.map((a) => a.filename ?? ''),
  });
  const routed = box.group
    ? { group: box.group, rule: `mailbox ${box.supportAddress}` }
    : ctx.plan.routing
      ? route(ctx.plan.routing, { category: c.category, priority: c.priority, tier, senderDomain })
      : null;
  return { c, tier, routed };
}

/** Decide and store the triage of a `new` incident; null when another run stored it first. */
async function decide(
  ctx: AppContext,
  incident: Untriaged,
  opening: OpeningFacts,
): Promise<Decided | null> {
  const number = incident.number;
  const { c, tier, routed } = await classifyAndRoute(ctx, incident, opening);
  const now = ctx.now();
  const clocks = startClocks(ctx, c.priority, now);
  const sla = { ...clocks, escalationLevel: 0 };
  const group = routed?.group;
  const planGroup = group ? findGroup(ctx.plan, group) : undefined;
  const triage = { rules: c.fired, routing: routed?.rule ?? null, plan: ctx.plan.fingerprint };
  const related = await findRelated(ctx, incident);
  const playbook = playbookAtTriage(ctx, number, c.category, now, triage.plan);
  const entries: NewTimelineEntry[] = [
    {
      _id: `triaged-${number}`,
      at: now,
      type: 'event',
      event: 'triaged',
      detail: {
        category: c.category,
        impact: c.impact,
        urgency: c.urgency,
        priority: c.priority,
        rules: triage.rules,
        group: group ?? null,
        routing: triage.routing,
        plan: triage.plan,
      },
    },
    ...(playbook ? [playbook.entry] : []),
    ...relatedEntries(ctx, number, group, related, now),
  ];
  const decision = {
    category: c.category,
    impact: c.impact,
    urgency: c.urgency,
    priority: c.priority,
    skills: c.skills,
    group,
    'customer.tier': tier,
    triagedAt: now,
    triage,
    sla,
    slaCheckAt: firstSlaCheck(ctx, { ...incident, group, sla }, clocks, now),
    protocolCheckAt: protocolCheckAfter(
      ctx,
      { ...incident, ...c, status: 'triaged', triagedAt: now },
      now,
      { moment: 'opened' },
    ),
    duplicateOf: related.duplicateOf,
  };

  // The agent's mail commits with the decision, so no later write need record it queued. On a
  // server without transactions it is queued after, and recorded, as for other assignments.
  const mailWithDecision = hasTransactions();
  // Outside the group's turn: it does not depend on who is chosen.
  const similar =
    planGroup && mailWithDecision ? await similarSection(ctx, incident, opening.text) : undefined;
  const steps = playbook?.steps ?? [];

  /** Store the decision with the assignment `choice` made (none: the incident has no group). */
  const write = async (choice?: Choice): Promise<Decided | null> => {
    const agent = choice?.agent ?? null;
    // The mail is born claimed by this job, which sends it once the decision commits.
    const claim = { by: jobIds.triage(number), at: ctx.now() };
    // The mail stored with the decision, as stored once it committed.
    let stored: (() => Promise<OutboxDoc[]>) | undefined;
    const assign =
      planGroup && choice && agent
        ? assignmentWrites(ctx, number, planGroup.id, { ...choice, agent }, TRIAGE_CAUSE, now)
        : null;
    const all = [
      ...entries,
      ...(assign ? [assign.entry] : []),
      ...(planGroup && !agent
        ? [unassignedEntry(number, now, planGroup.id, choice?.reason ?? '', TRIAGE_CAUSE)]
        : []),
    ];
    const assigned = agent ? transition('triaged', 'assign') : null;
    const decided = await updateIncident(
      number,
      {
        ...decision,
        status: assigned?.ok ? assigned.to : 'triaged',
        ...(agent
          ? {
              assignee: agent,
              assignedAt: now,
              assignCause: TRIAGE_CAUSE,
              assignNotified: mailWithDecision,
            }
          : {}),
      },
      {
        // The decision holds only for the incident it was made from.
        onlyIf: ['new'],
        where: { parent: incident.parent ?? null },
        together: async (after) => {
          await assign?.claim();
          await playbook?.write();
          const spec =
            agent && mailWithDecision
              ? await assigneeMail(ctx, after, TRIAGE_CAUSE, { opening, steps, similar })
              : null;
          const leadSpec =
            mailWithDecision && related.outage ? outageMail(ctx, after, related.outage) : null;
          // The agent's and the lead's mail are on the timeline with the decision, in its write.
          const agentMail = spec ? decideMail(ctx, spec, now) : null;
          const leadMail = leadSpec ? decideMail(ctx, leadSpec, now) : null;
          const mailEntries = [agentMail?.entry, leadMail?.entry].filter((e) => !!e);
          // A millisecond apart, so the timeline reads in the order the decision was made.
          await appendTimelineEntries(
            number,
            [...all, ...mailEntries].map((e, i) => ({ ...e, at: new Date(now.getTime() + i) })),
          );
          stored = await enqueueAtCommit(
            [agentMail, leadMail].flatMap((m) => (m ? [{ message: m.message, claim }] : [])),
          );
          return playbook ? [playbook.audit] : [];
        },
      },
    );
    if (!decided) return null;
    const mails = (await stored?.()) ?? [];
    const find = (kind: string) => mails.find((m) => m.kind === kind) ?? null;
    // Undefined: not decided with the decision (without transactions, after it).
    const mail = agent && mailWithDecision ? find('assignment') : undefined;
    const outage = mailWithDecision && related.outage ? find('possible-outage') : undefined;
    return {
      incident: decided,
      known: {
        opening,
        steps,
        similar,
        mail,
        outageMail: outage,
        claim,
        related,
        unassigned: planGroup && !agent ? choice?.reason : undefined,
      },
    };
  };
  if (!planGroup) return write();
  const done = await assignInTurn(ctx, planGroup, c.skills, undefined, write);
  // Without a requested agent the choice is never refused.
  return done && 'ok' in done ? null : done;
}

/**
 * Everything after the stored decision; each step is keyed, so running it again (a retried
 * job) sends and schedules nothing twice. A rerun without the decision's knowledge reads what
 * it needs; an unassigned incident is left to the recovery sweep's assign job, which tells
 * the lead once.
 */
async function finishTriage(ctx: AppContext, incident: IncidentDoc, known: Decided['known']) {
  if (incident.status !== 'triaged' && incident.status !== 'assigned') return;
  const number = incident.number;
  await scheduleSlaCheck(ctx, number, incident.slaCheckAt ?? null);
  await queueIndex(ctx, { kind: 'incident', id: number }, 'triaged');
  const related = known.related ?? (await findRelated(ctx, incident));
  // This job sends the mail it decides (a rerun takes its earlier run's claim again).
  const claim = known.claim ?? { by: jobIds.triage(number), at: ctx.now() };
  if (known.outageMail !== undefined)
    await sendOrHandOver(ctx, 'possible-outage', known.outageMail, claim);
  else if (related.outage) await suggestOutage(ctx, incident, related.outage, claim);
  if (known.mail !== undefined) {
    await sendOrHandOver(ctx, 'assignment', known.mail, claim);
  } else if (incident.assignee && incident.assignCause === TRIAGE_CAUSE) {
    // A rerun finds the mail its earlier run stored with the decision, perhaps not yet sent;
    // without transactions the mail is stored (and sent) only now.
    if (incident.assignNotified) {
      const stored = await getOutbox(assignmentMailId(number, TRIAGE_CAUSE));
      await sendOrHandOver(ctx, 'assignment', stored, claim);
    } else {
      await tellAssignee(ctx, incident, TRIAGE_CAUSE, known, claim);
    }
  } else if (known.unassigned !== undefined && incident.group) {
    const group = findGroup(ctx.plan, incident.group);
    if (group)
      await tellLeadNobodyIsAvailable(ctx, incident, group, known.unassigned, TRIAGE_CAUSE);
  }
  // Last, so no protocol can hold the assignment up. Each message is keyed: a retry sends
  // nothing twice, and the sweep replays the opening if this never got to run (the decision
  // set the protocol check to the grace after it).
  await announce(ctx, incident, { kind: 'opened' });
}
