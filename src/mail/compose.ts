/** Builds outbound messages with the headers that make replies thread back to the incident. */
import { createHash } from 'node:crypto';
import { domainOf } from '../domain/address.js';
import { cleanSubject, localPrefix, subjectLine, type SubjectPrefix } from '../domain/subject.js';
import {
  formatIncidentId,
  outboundMessageId,
  plusAddress,
  type TokenRecipient,
} from '../domain/tokens.js';
import { agentByEmail, agentTimeZone, groupTimeZone } from '../plan/load.js';
import { mailboxFor } from '../config.js';
import type { AppContext } from '../context.js';
import type { IncidentDoc } from '../store/models.js';
import type { NewOutboxMessage } from '../store/outbox.js';
import type { ParsedMessage } from './parse.js';
import { render } from './templates.js';

/**
 * Whom a mail is for. The subject is always `[INC-n] ` + the incident's cleaned subject
 * (src/domain/subject.ts): customer mail adds a prefix (`Re`, `Resolved`); staff mail (to
 * agents, leads, managers) has none, so one person's mail about an incident shares one subject,
 * and is threaded under one root for that person and incident (see staffThreadRoot).
 */
export type Audience =
  { audience: 'customer'; subjectPrefix: SubjectPrefix } | { audience: 'staff' };

export type MailSpec = Audience & {
  /** Deterministic outbox id: the same cause must always produce the same id. */
  id: string;
  kind: string;
  /** With its group and locale when known: they set the customer's zone and language; its
   * `mailbox` decides the address the mail goes out from. */
  incident: Pick<IncidentDoc, 'number' | 'subject'> &
    Partial<Pick<IncidentDoc, 'group' | 'locale' | 'mailbox'>>;
  to: string;
  template: string;
  data: Record<string, unknown>;
  inReplyTo?: string;
  references?: readonly string[];
  /** RFC 3834 Auto-Submitted value for mail no person wrote. */
  autoSubmitted?: 'auto-replied' | 'auto-generated';
  attachmentIds?: readonly string[];
};

/** Whom a token is issued to: a plan agent's address as agent, anyone else as customer. */
export function tokenRecipient(plan: AppContext['plan'], to: string): TokenRecipient {
  return { address: to, role: agentByEmail(plan, to) ? 'agent' : 'customer' };
}

/** Staff mail (templates/*.hbs) is written in English. */
const STAFF_LOCALE = 'en';

/**
 * How the recipient reads: an agent in English and their own zone; a customer in the
 * incident's language and the zone of its group's calendar (the plan's before triage).
 */
export function readerOf(
  plan: AppContext['plan'],
  to: string,
  incident: MailSpec['incident'],
): { locale: string; timeZone: string } {
  const agent = agentByEmail(plan, to);
  return agent
    ? { locale: STAFF_LOCALE, timeZone: agentTimeZone(plan, agent) }
    : { locale: incident.locale ?? plan.locale, timeZone: groupTimeZone(plan, incident.group) };
}

/**
 * Every message we send carries the incident's signed token twice: in its Message-ID and in
 * the plus-addressed Reply-To. Whatever a mail client keeps when replying, the reply threads.
 * The token is issued to this message's recipient (src/domain/tokens.ts): it threads anyone's
 * reply, but authorises commands only when the recipient, an agent, writes back.
 */
export function composeMail(
  ctx: Pick<AppContext, 'config' | 'plan'>,
  spec: MailSpec,
): NewOutboxMessage {
  const { config, plan } = ctx;
  // Always from the address the customer wrote to: that is where replies must come back.
  const box = mailboxFor(config, spec.incident.mailbox);
  const recipient = tokenRecipient(plan, spec.to);
  const domain = domainOf(box.supportAddress);
  const incidentId = formatIncidentId(spec.incident.number);
  const body = render(
    spec.template,
    {
      incidentId,
      incidentSubject: cleanSubject(spec.incident.subject) || '(no subject)',
      organisation: plan.organisation,
      supportName: box.supportName,
      ...readerOf(plan, spec.to, spec.incident),
      ...spec.data,
    },
    // A template its locale lacks comes in the mailbox's locale, else the plan's.
    box.locale ? [box.locale, plan.locale] : plan.locale,
    box.templates,
  );
  const uniquePart = spec.id
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40);
  // For mail filters (and tests): what this message is and which incident it is about.
  const headers: Record<string, string> = {
    'X-Incidesk-Kind': spec.kind,
    'X-Incidesk-Incident': incidentId,
  };
  if (spec.autoSubmitted) {
    headers['Auto-Submitted'] = spec.autoSubmitted;
    // Exchange ignores Auto-Submitted but honours this: no out-of-office replies to us.
    headers['X-Auto-Response-Suppress'] = 'All';
  }
  const message: NewOutboxMessage = {
    _id: spec.id,
    kind: spec.kind,
    incidentNumber: spec.incident.number,
    to: spec.to,
    from: box.supportAddress,
    messageId: outboundMessageId(
      config.secret,
      spec.incident.number,
      uniquePart,
      domain,
      recipient,
    ),
    inReplyTo: spec.inReplyTo,
    references: [
      ...(spec.references ?? []),
      ...(spec.inReplyTo && !spec.references?.includes(spec.inReplyTo) ? [spec.inReplyTo] : []),
    ],
    replyTo: plusAddress(box.supportAddress, config.secret, spec.incident.number, recipient),
    subject: subjectLine(
      spec.incident.number,
      spec.incident.subject,
      spec.audience === 'customer'
        ? localPrefix(spec.subjectPrefix, spec.incident.locale ?? plan.locale)
        : undefined,
    ),
    text: body.text,
    html: body.html,
    headers,
    attachmentIds: [...(spec.attachmentIds ?? [])],
  };
  return spec.audience === 'staff'
    ? threadUnder(
        message,
        staffThreadRoot(config.secret, spec.incident.number, spec.to, domain, recipient),
      )
    : message;
}

/**
 * The thread root of everything one person on staff gets about an incident: a Message-ID
 * derived from the incident and the address, so every mail can name it without a lookup. No
 * mail carries it as its own Message-ID: mail clients thread mail that shares a missing
 * parent under a placeholder (JWZ threading: Thunderbird, Apple Mail, mutt), and Gmail
 * threads notifications whose References "consistently refer to the same message ID". It
 * carries the recipient's token, so a reply that keeps only it still threads.
 */
export function staffThreadRoot(
  secret: string,
  n: number,
  address: string,
  domain: string,
  recipient: TokenRecipient,
): string {
  const who = createHash('sha256').update(address.toLowerCase()).digest('hex').slice(0, 16);
  return outboundMessageId(secret, n, `thread-${who}`, domain, recipient);
}

/**
 * Staff mail joins its recipient's thread about the incident (`root`): In-Reply-To names what
 * it answers (the agent's own command mail, if given), else the root; References start with
 * the root.
 */
export function threadUnder(message: NewOutboxMessage, root: string): NewOutboxMessage {
  const inReplyTo = message.inReplyTo ?? root;
  const references = [
    root,
    ...(message.references ?? []).filter((r) => r !== root && r !== inReplyTo),
    ...(inReplyTo !== root ? [inReplyTo] : []),
  ];
  return { ...message, inReplyTo, references };
}

export const ackIdFor = (rawId: string) => `ack-${rawId}`;

/** Acknowledgement of a new incident, answering the customer's message `rawId`. */
export function composeAcknowledgement(
  ctx: Pick<AppContext, 'config' | 'plan'>,
  incident: Pick<
    IncidentDoc,
    'number' | 'subject' | 'customer' | 'locale' | 'lastMessageAt' | 'mailbox'
  >,
  inbound: Pick<ParsedMessage, 'messageId' | 'references'>,
  rawId: string,
): NewOutboxMessage {
  return composeMail(ctx, {
    id: ackIdFor(rawId),
    kind: 'ack',
    incident,
    to: incident.customer.address,
    audience: 'customer',
    subjectPrefix: 'Re',
    template: 'acknowledgement',
    data: {
      subject: incident.subject,
      customerName: incident.customer.name,
      // The opening message's arrival: lastMessageAt of a new incident.
      receivedAt: incident.lastMessageAt ?? null,
    },
    inReplyTo: inbound.messageId,
    references: inbound.references,
    autoSubmitted: 'auto-replied',
  });
}
