/**
 * Communication protocols: at each moment of an incident (opened at triage, every `every`
 * from the SLA sweep, a priority change, resolved) the messages its protocols owe are recorded
 * once by key (src/store/protocols.ts), then mailed, or held for approval and the approver
 * asked. Replaying a moment (a retried job, the next sweep, a restart after kill -9) records
 * nothing twice and sends nothing twice: the record and each outbox id derive from the key.
 */
import type { AppContext } from '../context.js';
import { PROTOCOL_REPLAY_GRACE_MS } from '../constants.js';
import {
  protocolOutboxId,
  protocolMessagesDue,
  recipientAddresses,
  recipientFromKey,
  type Moment,
  type ProtocolIncident,
} from '../domain/protocols.js';
import { composeMail, type MailSpec } from '../mail/compose.js';
import { findAgent, findGroup } from '../plan/load.js';
import { countEvents, findIncident, getTimelineEntry } from '../store/incidents.js';
import type { IncidentDoc, ProtocolMessageDoc } from '../store/models.js';
import {
  decideHeld,
  heldMessages,
  incidentsDueForProtocolCheck,
  markReleased,
  moveProtocolCheck,
  protocolMessagesByKey,
  recordDue,
  unreleasedMessages,
} from '../store/protocols.js';
import { childIncidents } from '../store/review.js';
import { nextProtocolCheck } from './clocks.js';
import { queueMail } from './mail.js';
import { refused, type ChangeResult } from './outcome.js';

const SWEEP_BATCH = 500;

/**
 * The incident as protocols see it: its reporters are its customer and its grouped reports',
 * as of `asOf` when given (the opening goes to those who had reported when it opened, however
 * late it is replayed; later reporters hear the next update).
 */
async function protocolIncident(incident: IncidentDoc, asOf?: Date): Promise<ProtocolIncident> {
  const children = incident.children?.length ? await childIncidents(incident.number) : [];
  const reports = [incident, ...children.filter((child) => !asOf || child.createdAt <= asOf)];
  return {
    number: incident.number,
    priority: incident.priority,
    category: incident.category,
    status: incident.status,
    openedAt: incident.triagedAt ?? incident.createdAt,
    parent: incident.parent,
    reporters: reports.map((r) => ({
      number: r.number,
      address: r.customer.address,
      locale: r.locale,
    })),
    locale: incident.locale,
  };
}

/**
 * Record and send (or hold) what the incident's protocols owe at `moment`. Messages already
 * released or rejected are skipped without a write, so the sweep's replays cost one read.
 */
export async function announce(
  ctx: AppContext,
  incident: IncidentDoc,
  moment: Moment,
): Promise<number> {
  const due = protocolMessagesDue(
    ctx.plan.communication,
    await protocolIncident(
      incident,
      moment.kind === 'opened' ? (incident.triagedAt ?? incident.createdAt) : undefined,
    ),
    moment,
    ctx.plan.locale,
  );
  if (due.length === 0) return 0;
  const known = await protocolMessagesByKey(due.map((m) => m.key));
  const held = new Map<string, ProtocolMessageDoc[]>();
  let released = 0;
  for (const m of due) {
    let doc = known.get(m.key);
    if (doc?.state === 'released' || doc?.state === 'rejected') continue;
    const about = m.recipient.kind === 'customer' ? m.recipient.incident : incident.number;
    doc ??= (await recordDue(m, about, ctx.now())).doc;
    if (doc.state === 'pending') released += await release(ctx, doc, incident);
    else if (doc.state === 'held') held.set(doc.ref, [...(held.get(doc.ref) ?? []), doc]);
  }
  for (const docs of held.values()) await askApproval(ctx, incident, docs);
  return released;
}

/** What protocol templates can show: the incident's state at the moment. */
function templateData(ctx: AppContext, incident: IncidentDoc, doc: ProtocolMessageDoc) {
  const group = incident.group ? findGroup(ctx.plan, incident.group) : undefined;
  const assignee = incident.assignee ? findAgent(ctx.plan, incident.assignee) : undefined;
  return {
    locale: doc.locale,
    priority: incident.priority ?? '-',
    category: incident.category ?? '-',
    status: incident.status,
    group: group?.name ?? '-',
    assignee: assignee?.name ?? '-',
    reports: 1 + (incident.children?.length ?? 0),
    openedAt: incident.triagedAt ?? incident.createdAt,
    resolvedAt: incident.resolvedAt ?? null,
    fix: incident.resolution?.fix ?? '',
    workaround: incident.resolution?.workaround ?? '',
    opened: doc.moment === 'opened',
    update: doc.moment === 'interval' || doc.moment === 'priority-changed',
    resolved: doc.moment === 'resolved',
    updateNumber: doc.moment === 'interval' ? doc.occurrence : 0,
    protocol: doc.protocol,
  };
}

/** The mail of a message to one address. */
function messageMail(
  ctx: AppContext,
  incident: IncidentDoc,
  about: IncidentDoc,
  doc: ProtocolMessageDoc,
  to: string,
): MailSpec {
  const base = {
    id: protocolOutboxId(doc._id, to),
    kind: 'protocol',
    incident: { ...about, locale: doc.locale },
    to,
    template: doc.template,
    data: templateData(ctx, incident, doc),
    autoSubmitted: 'auto-generated' as const,
  };
  return doc.audience === 'external'
    ? {
        ...base,
        audience: 'customer',
        subjectPrefix: doc.moment === 'resolved' ? 'Resolved' : 'Re',
        inReplyTo: about.lastCustomerMessageId ?? undefined,
      }
    : { ...base, audience: 'staff' };
}

/** Mail a pending message to each of its addresses, then mark it released (timeline, audit). */
async function release(
  ctx: AppContext,
  doc: ProtocolMessageDoc,
  incident: IncidentDoc,
): Promise<number> {
  const about =
    doc.about === incident.number ? incident : ((await findIncident(doc.about)) ?? incident);
  const recipient = recipientFromKey(doc.recipient, doc.about);
  const to = recipient ? recipientAddresses(recipient, incident, ctx.plan) : [];
  if (to.length === 0)
    ctx.log.warn(
      { component: 'protocols', incident: incident.number, recipient: doc.recipient },
      'protocol message has nobody to go to: the role is empty',
    );
  for (const address of to) await queueMail(ctx, messageMail(ctx, incident, about, doc, address));
  await markReleased(doc, { to, at: ctx.now() });
  return to.length;
}

/** Who is asked to approve a held message: the group's lead, else its manager. */
function approverOf(ctx: AppContext, incident: IncidentDoc, approval: string) {
  const group = incident.group ? findGroup(ctx.plan, incident.group) : undefined;
  const id = approval === 'manager' ? group?.manager : (group?.lead ?? group?.manager);
  return id ? findAgent(ctx.plan, id) : undefined;
}

/** Ask for approval of one held message (its recipients together), once per ref. */
async function askApproval(
  ctx: AppContext,
  incident: IncidentDoc,
  docs: readonly ProtocolMessageDoc[],
): Promise<void> {
  const first = docs[0]!;
  const approver = approverOf(ctx, incident, first.approval ?? 'lead');
  if (!approver) {
    ctx.log.warn(
      { component: 'protocols', incident: incident.number, ref: first.ref },
      'held protocol message has nobody to approve it: the group has no lead or manager',
    );
    return;
  }
  // The text as its first recipient will read it (composed as the real mail is).
  const preview = composeMail(ctx, messageMail(ctx, incident, incident, first, '-')).text;
  await queueMail(ctx, {
    id: `protocol-approval-${incident.number}-${first.ref}`,
    kind: 'protocol-approval',
    incident,
    to: approver.email,
    audience: 'staff',
    template: 'protocol-approval',
    data: {
      name: approver.name,
      ref: first.ref,
      protocol: first.protocol,
      template: first.template,
      moment: first.moment,
      audience: first.audience,
      recipients: docs.map((d) => d.recipient.replace(/^[a-z]+:/, '')),
      preview,
    },
    autoSubmitted: 'auto-generated',
  });
}

/**
 * Approve (or reject) an incident's held messages: those with `ref`, or all. `may` says
 * whether the one deciding may release a message needing this approval (lead or manager).
 * Approved messages go out at once.
 */
export async function decideProtocolMessages(
  ctx: AppContext,
  incident: IncidentDoc,
  decision: { ref?: string; approve: boolean; by: string; may: (approval: string) => boolean },
): Promise<ChangeResult> {
  const held = await heldMessages(incident.number);
  const matching = held.filter((m) => !decision.ref || m.ref === decision.ref);
  if (matching.length === 0)
    return refused(
      held.length
        ? `no held message has the id ${decision.ref}; held: ${[...new Set(held.map((m) => m.ref))].join(', ')}`
        : 'no protocol message is waiting for approval',
    );
  if (!matching.some((m) => decision.may(m.approval ?? 'lead')))
    return refused('these messages need a manager’s approval');
  const decided = await decideHeld(incident.number, decision.ref, {
    approve: decision.approve,
    by: decision.by,
    at: ctx.now(),
    allowed: decision.may,
  });
  let sent = 0;
  if (decision.approve) for (const doc of decided) sent += await release(ctx, doc, incident);
  const refs = [...new Set(decided.map((d) => d.ref))].join(', ');
  return {
    ok: true,
    done: decision.approve
      ? `approved ${refs}: ${sent} message(s) sent`
      : `rejected ${refs}: ${decided.length} message(s) not sent`,
  };
}

/**
 * Replay the opening and the resolution that a due incident's check looks after (a process
 * killed between the change and its messages, whose job then found nothing left to do,
 * recorded none): the change set the check to the grace after the moment, so each moment is
 * looked at once, not at every sweep. Keyed: what went out costs only the lookup of its keys.
 * The opening is replayed only on the look no later than its grace (the triage's, or the one
 * start-up makes due), not at every period.
 */
async function replayMoments(ctx: AppContext, incident: IncidentDoc): Promise<number> {
  let sent = 0;
  const { triagedAt, protocolCheckAt } = incident;
  if (
    triagedAt &&
    protocolCheckAt &&
    protocolCheckAt.getTime() <= triagedAt.getTime() + PROTOCOL_REPLAY_GRACE_MS
  ) {
    // As it was opened: a priority changed since is its own moment, not a late opening.
    const triaged = (await getTimelineEntry(`triaged-${incident.number}`))?.detail as
      { priority?: IncidentDoc['priority']; category?: string } | undefined;
    if (triaged)
      sent += await announce(
        ctx,
        { ...incident, priority: triaged.priority, category: triaged.category },
        { kind: 'opened' },
      );
  }
  // A resolved incident is looked at only after its resolution: its periods are over.
  if (incident.status === 'resolved' && incident.resolvedAt)
    sent += await announce(ctx, incident, {
      kind: 'resolved',
      occurrence: await countEvents(incident.number, 'resolved', incident.resolvedAt),
    });
  return sent;
}

/**
 * The sweep's part: the incidents whose protocol check is due (one indexed query; an
 * incident is due at its next period, and once the grace after an opening or resolution),
 * each one's moments replayed and interval messages sent, then its check moved on to the
 * next period; and pending messages a crash left unreleased (approved, or recorded, but not
 * yet mailed). So a sweep with nothing due reads nothing per incident, however many opened
 * or resolved lately.
 */
export async function sweepProtocols(ctx: AppContext): Promise<number> {
  const { communication } = ctx.plan;
  if (communication.protocols.length === 0) return 0;
  const now = ctx.now();
  const settled = new Date(now.getTime() - PROTOCOL_REPLAY_GRACE_MS);
  let sent = 0;
  for (const doc of await unreleasedMessages(settled, SWEEP_BATCH)) {
    const incident = await findIncident(doc.incidentNumber);
    if (incident) sent += await release(ctx, doc, incident);
  }
  // Announced before the check moves on: a crash in between repeats the look, and the
  // message keys make the repeat send nothing twice. (A priority change is still not replayed
  // here, only by its job's retry: replaying it would need its `reprioritised` entry.)
  for (const incident of await incidentsDueForProtocolCheck(now, SWEEP_BATCH)) {
    sent += await replayMoments(ctx, incident);
    sent += await announce(ctx, incident, { kind: 'interval', at: now });
    await moveProtocolCheck(incident, nextProtocolCheck(ctx, incident, now));
  }
  if (sent) ctx.log.info({ component: 'protocols', sent }, 'protocol messages sent');
  return sent;
}
