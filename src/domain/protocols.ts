/**
 * Communication protocols: per priority and category, who is told what, when, inside and
 * outside the company. Pure: which messages an incident owes at a moment of its life (opened,
 * an interval tick, a priority change, resolved), each with a key that names it for good, so
 * the sender stores it once however often a moment is replayed; to whom a recipient resolves;
 * and where a plan's protocols have gaps. Used by src/actions/protocols.ts and by drills.
 */
import {
  RECIPIENT_ROLES,
  type Approver,
  type Audience,
  type Communication,
  type EventMoment,
  type Protocol,
  type ProtocolMessage,
  type ProtocolRecipient,
  type RecipientRole,
} from '../plan/schema.js';
import { createHash } from 'node:crypto';
import { atLeast, type Role } from './access.js';
import { parseDuration } from './duration.js';
import { OPEN_STATUSES } from './lifecycle.js';
import { reportersToNotify } from './links.js';
import { formatIncidentId } from './tokens.js';

export type MomentKind = EventMoment | 'interval';

/**
 * A moment of an incident's life. `occurrence` numbers repeats of the same kind (the 2nd
 * priority change, the resolution after a reopen): the caller counts them from its store, so
 * replaying the same moment yields the same keys. An interval tick carries the time instead;
 * its occurrence is the number of whole periods since the incident opened.
 */
export type Moment =
  | { kind: 'opened' }
  | { kind: 'interval'; at: Date }
  | { kind: 'priority-changed'; from: string | null; occurrence: number }
  | { kind: 'resolved'; occurrence?: number };

/** Who reported (part of) an incident: its customer, or each report's under an outage parent. */
export interface Reporter {
  /** The incident this reporter wrote in (the parent or one of its grouped children). */
  number: number;
  address: string;
  locale?: string | null;
}

/** What the protocols need to know of an incident. */
export interface ProtocolIncident {
  number: number;
  priority: string | null | undefined;
  category: string | null | undefined;
  status: string;
  openedAt: Date;
  /** Set on a report grouped under an outage: the parent speaks for it, it sends nothing. */
  parent?: number | null;
  /** The incident's customer first, then those of its grouped reports (any order, repeats fine). */
  reporters: readonly Reporter[];
  /** The incident's own (its customer's) locale. */
  locale?: string | null;
}

/** A message's recipient as the protocol names it; `customer` is one reporter. */
export type Recipient =
  | { kind: 'role'; role: RecipientRole }
  | { kind: 'address'; address: string }
  | { kind: 'list'; list: string }
  | { kind: 'customer'; address: string; incident: number };

/** One message an incident owes. */
export interface DueMessage {
  /** Names this message for good: incident, protocol, template, moment, occurrence, recipient. */
  key: string;
  incident: number;
  protocol: string;
  moment: MomentKind;
  occurrence: number;
  recipient: Recipient;
  audience: Audience;
  template: string;
  /** The language the template is rendered in: the reporter's for customers, else the plan's. */
  locale: string;
  /** Who must approve it before it goes out; null: it goes out at once. */
  approval: Approver | null;
}

const isOpen = (status: string) => (OPEN_STATUSES as readonly string[]).includes(status);

/** Whether `protocol` covers an incident of this priority and category. */
export function protocolMatches(
  protocol: Pick<Protocol, 'when'>,
  priority: string | null | undefined,
  category: string | null | undefined,
): boolean {
  const { priority: p, category: c } = protocol.when;
  const has = (list: readonly string[] | undefined, v: string | null | undefined) =>
    !list || (!!v && list.includes(v));
  return has(p, priority) && has(c, category);
}

/** The recipient key inside a message key: `role:lead`, `address:a@b`, `list:x`, `customer:a@b`. */
export function recipientKey(r: Recipient): string {
  switch (r.kind) {
    case 'role':
      return `role:${r.role}`;
    case 'address':
      return `address:${r.address.toLowerCase()}`;
    case 'list':
      return `list:${r.list}`;
    case 'customer':
      return `customer:${r.address.toLowerCase()}`;
  }
}

/** The key of one message: the same incident, protocol, template, moment and recipient give the same key. */
export function messageKey(
  m: Pick<DueMessage, 'incident' | 'protocol' | 'template' | 'moment' | 'occurrence' | 'recipient'>,
): string {
  return [
    formatIncidentId(m.incident),
    m.protocol,
    m.template,
    `${m.moment}#${m.occurrence}`,
    recipientKey(m.recipient),
  ].join('/');
}

/**
 * Which occurrence of `message` the moment is, or null when the message does not go out at
 * it. An interval tick is occurrence n ≥ 1 for the n-th whole `every` since the incident
 * opened (the opening itself is the `opened` moment), and only while the incident is open.
 */
function occurrenceOf(
  message: Pick<ProtocolMessage, 'at' | 'every'>,
  incident: ProtocolIncident,
  moment: Moment,
): number | null {
  switch (moment.kind) {
    case 'interval': {
      if (!message.every || !isOpen(incident.status)) return null;
      const n = Math.floor(
        (moment.at.getTime() - incident.openedAt.getTime()) / parseDuration(message.every),
      );
      return n >= 1 ? n : null;
    }
    case 'opened':
      return message.at.includes('opened') ? 0 : null;
    case 'priority-changed':
      return message.at.includes('priority-changed') ? moment.occurrence : null;
    case 'resolved':
      return message.at.includes('resolved') ? (moment.occurrence ?? 1) : null;
  }
}

/** The recipients a message's `to` names, reporters one by one (each address once). */
function recipientsOf(to: readonly ProtocolRecipient[], incident: ProtocolIncident): Recipient[] {
  return to.flatMap((r): Recipient[] => {
    if (r === 'customers')
      return reportersToNotify(incident.reporters).map((p) => ({
        kind: 'customer',
        address: p.address.toLowerCase(),
        incident: p.number,
      }));
    if (typeof r === 'string') return [{ kind: 'role', role: r }];
    if ('address' in r) return [{ kind: 'address', address: r.address }];
    return [{ kind: 'list', list: r.list }];
  });
}

/**
 * The messages `incident` owes at `moment` under every protocol that covers it, each
 * recipient once per message. A priority change is judged by the old priority and the new
 * (the incident's): stakeholders told of a P1 hear that it was lowered. A report grouped under
 * an outage parent owes nothing; the parent tells its reporters.
 */
export function protocolMessagesDue(
  communication: Pick<Communication, 'protocols'>,
  incident: ProtocolIncident,
  moment: Moment,
  defaultLocale: string,
): DueMessage[] {
  if (incident.parent) return [];
  const covers = (p: Protocol) =>
    protocolMatches(p, incident.priority, incident.category) ||
    (moment.kind === 'priority-changed' && protocolMatches(p, moment.from, incident.category));
  const reporterLocale = new Map(
    incident.reporters.map((r) => [r.address.toLowerCase(), r.locale] as const),
  );
  const out: DueMessage[] = [];
  const seen = new Set<string>();
  for (const protocol of communication.protocols.filter(covers)) {
    for (const message of protocol.messages) {
      const occurrence = occurrenceOf(message, incident, moment);
      if (occurrence === null) continue;
      for (const recipient of recipientsOf(message.to, incident)) {
        const due = {
          incident: incident.number,
          protocol: protocol.name,
          moment: moment.kind,
          occurrence,
          recipient,
          audience: message.audience,
          template: message.template,
          locale:
            (recipient.kind === 'customer'
              ? (reporterLocale.get(recipient.address) ?? incident.locale)
              : null) ?? defaultLocale,
          approval: message.approval ?? null,
        };
        const key = messageKey(due);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ key, ...due });
      }
    }
  }
  return out;
}

/**
 * The addresses a recipient stands for on this incident: a role's holder in the incident's
 * group (nobody when the role is empty: see `protocolGaps`), a list's members, an address.
 */
export function recipientAddresses(
  recipient: Recipient,
  incident: { assignee?: string | null; group?: string | null },
  plan: {
    agents: readonly { id: string; email: string }[];
    groups: readonly { id: string; lead?: string; manager?: string }[];
    communication: Pick<Communication, 'lists'>;
  },
): string[] {
  switch (recipient.kind) {
    case 'address':
    case 'customer':
      return [recipient.address];
    case 'list':
      return [...(plan.communication.lists[recipient.list] ?? [])];
    case 'role': {
      const group = plan.groups.find((g) => g.id === incident.group);
      const id =
        recipient.role === 'assignee' ? (incident.assignee ?? undefined) : group?.[recipient.role];
      const agent = plan.agents.find((a) => a.id === id);
      return agent ? [agent.email] : [];
    }
  }
}

/**
 * Where the plan's protocols cannot do what they say: a template missing from the default
 * locale's folder (`templates`: the names it has), a lead or manager role (to tell, or to
 * approve) that a group leaves empty. An assignee is known only per incident, so not here.
 */
export function protocolGaps(
  plan: {
    groups: readonly { id: string; lead?: string; manager?: string }[];
    communication: Pick<Communication, 'protocols'>;
  },
  templates: ReadonlySet<string>,
): string[] {
  const gaps: string[] = [];
  for (const p of plan.communication.protocols) {
    const roles = new Set<'lead' | 'manager'>();
    let approval = false;
    for (const m of p.messages) {
      if (!templates.has(m.template))
        gaps.push(`protocol "${p.name}": template "${m.template}" does not exist`);
      for (const r of m.to) if (r === 'lead' || r === 'manager') roles.add(r);
      approval ||= !!m.approval;
    }
    for (const g of plan.groups) {
      for (const role of roles)
        if (!g[role]) gaps.push(`protocol "${p.name}": group "${g.id}" has no ${role} to tell`);
      // A held message is released by the lead, else the manager (or an administrator).
      if (approval && !g.lead && !g.manager)
        gaps.push(`protocol "${p.name}": group "${g.id}" has no lead or manager to approve`);
    }
  }
  return [...new Set(gaps)];
}

/** The recipient a key names back (`about`: the incident a customer recipient reported in). */
export function recipientFromKey(key: string, about: number): Recipient | null {
  const i = key.indexOf(':');
  const kind = key.slice(0, i);
  const value = key.slice(i + 1);
  if (i < 0 || !value) return null;
  if (kind === 'role' && (RECIPIENT_ROLES as readonly string[]).includes(value))
    return { kind: 'role', role: value as RecipientRole };
  if (kind === 'address') return { kind: 'address', address: value };
  if (kind === 'list') return { kind: 'list', list: value };
  if (kind === 'customer') return { kind: 'customer', address: value, incident: about };
  return null;
}

/**
 * When the sweep must next look at an incident for interval messages: the first period
 * boundary strictly after `after` of any `every` message of a protocol that covers it (periods
 * count from the opening, as `occurrenceOf` does), or null when no interval message can fall
 * due (no such protocol, the incident is not open, or it is a report grouped under an outage).
 */
export function nextIntervalAt(
  communication: Pick<Communication, 'protocols'>,
  incident: Partial<Pick<ProtocolIncident, 'priority' | 'category' | 'parent'>> &
    Pick<ProtocolIncident, 'status' | 'openedAt'>,
  after: Date,
): Date | null {
  if (incident.parent || !isOpen(incident.status)) return null;
  const opened = incident.openedAt.getTime();
  let next: number | null = null;
  for (const p of communication.protocols) {
    if (!protocolMatches(p, incident.priority, incident.category)) continue;
    for (const m of p.messages) {
      if (!m.every) continue;
      const period = parseDuration(m.every);
      const n = Math.max(1, Math.floor((after.getTime() - opened) / period) + 1);
      const at = opened + n * period;
      if (next === null || at < next) next = at;
    }
  }
  return next === null ? null : new Date(next);
}

/**
 * Whether a protocol covering the incident has a message at `moment` (opened, resolved):
 * then the moment owes messages, and the sweep looks once after it to make sure they went out.
 */
export function owesMessagesAt(
  communication: Pick<Communication, 'protocols'>,
  incident: Partial<Pick<ProtocolIncident, 'priority' | 'category' | 'parent'>>,
  moment: EventMoment,
): boolean {
  if (incident.parent) return false;
  return communication.protocols.some(
    (p) =>
      protocolMatches(p, incident.priority, incident.category) &&
      p.messages.some((m) => m.at.includes(moment)),
  );
}

/**
 * The next look after a change of the incident (priority, category, status): the earliest of
 * `next` (`nextIntervalAt` as of the change), `replay` (when the change records a moment that
 * owes messages: the grace after it, when the sweep replays the moment in case a killed
 * process sent none), and the look already scheduled when it is earlier than `next` (a period
 * that fell due and was not yet swept stays due) or, when no period can fall due any more, no
 * later than `keepUntil` (the replay of a moment just past stays due); null when nothing is.
 * An earlier look than needed costs the sweep one read; a later one would lose an update.
 */
export function rescheduledCheckAt(
  scheduled: Date | null | undefined,
  next: Date | null,
  keepUntil: Date,
  replay: Date | null = null,
): Date | null {
  const kept = scheduled && (next ? scheduled < next : scheduled <= keepUntil) ? scheduled : null;
  const looks = [next, replay, kept].filter((d): d is Date => d !== null);
  return looks.length ? new Date(Math.min(...looks.map((d) => d.getTime()))) : null;
}

/** A held message's id as people write it (`3fa9c1`, `#3FA9C1`), or null. */
export function parseApprovalRef(s: string): string | null {
  const m = /^#?([0-9a-f]{6})$/i.exec(s.trim());
  return m ? m[1]!.toLowerCase() : null;
}

/** May someone holding `role` on the incident release a message that needs `approval`? */
export function mayApprove(role: Role | null, approval: string): boolean {
  return role !== null && atLeast(role, approval === 'manager' ? 'manager' : 'lead');
}

/** The outbox id of a message's mail to one address: a hash, so Message-IDs stay distinct. */
export function protocolOutboxId(key: string, address: string): string {
  return `protocol-${createHash('sha256').update(`${key}\n${address}`).digest('hex').slice(0, 24)}`;
}
