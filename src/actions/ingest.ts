/**
 * Ingest: a stored raw message becomes part of an incident (new or existing), exactly once.
 * Load → parse → decide (src/domain) → save → enqueue. Every write is keyed by the raw
 * message's hash, so a run interrupted anywhere and repeated converges on the same result.
 */
import { UnrecoverableError } from 'bullmq';
import { mailboxFor } from '../config.js';
import type { AppContext } from '../context.js';
import { domainOf } from '../domain/address.js';
import { ackDecision } from '../domain/ack-policy.js';
import { addressIsUndeliverable, parseDeliveryStatus, parseQmailBounce } from '../domain/bounce.js';
import { findCustomer } from '../domain/classify.js';
import { customerName, intakeNotes } from '../domain/intake.js';
import { assessInbound } from '../domain/inbound.js';
import { chooseLocale, messageLanguages } from '../domain/locale.js';
import { NO_REPLY_ADDRESS, type SenderChoice } from '../domain/sender.js';
import { stripQuoted } from '../domain/quotes.js';
import { decideThread, type ThreadDecision } from '../domain/threading.js';
import {
  formatIncidentId,
  incidentFromMessageIds,
  subjectIncident,
  tokenEvidence,
  type PresentedToken,
} from '../domain/tokens.js';
import { authenticates, mayActAsAgent, type CommandPermission } from '../domain/agent-mail.js';
import { cachingResolver, senderVerdict } from '../mail/sender-auth.js';
import { parseCommands } from '../domain/commands.js';
import { agentByEmail } from '../plan/load.js';
import {
  customerOutcome,
  handleAgentReply,
  handleCustomerReply,
  refuseUnverifiedAgentMail,
  refuseUntokenedCommands,
} from './replies.js';
import {
  LARGE_MESSAGE_BYTES,
  LARGE_MESSAGES_AT_ONCE,
  TIMELINE_BODY_MAX_CHARS,
} from '../constants.js';
import { Permits } from '../permits.js';
import { ackIdFor, composeAcknowledgement } from '../mail/compose.js';
import { parseMessage, type ParsedMessage } from '../mail/parse.js';
import { templateLocales } from '../mail/templates.js';
import { queueIndex } from './search.js';
import { bornFacts, jobIds, openingFacts } from '../queues.js';
import { sendOrHandOver } from './notify.js';
import { storeDecided } from './mail.js';
import { isArchived } from '../store/archive.js';
import { linkAttachments, saveAttachment } from '../store/attachments.js';
import {
  appendTimeline,
  findIncident,
  messageIdHolder,
  messageEntryId,
  openIncident,
  recordMessage,
} from '../store/incidents.js';
import type { IncidentDoc, RawMessageDoc } from '../store/models.js';
import {
  claimAcknowledgement,
  decidedMail,
  getOutbox,
  senderStanding,
  markUndeliverable,
} from '../store/outbox.js';
import { getRaw, markIngested, openRaw, quarantineRaw } from '../store/raw-messages.js';

export type IngestResult =
  | { outcome: 'skipped'; state: string }
  | { outcome: 'kept'; kind: string }
  | { outcome: 'quarantined'; reason: string }
  | { outcome: 'new-incident' | 'follow-up' | 'bounce'; incident: number };

/**
 * Large messages are parsed a few at a time in a process, whatever the number of ingest jobs
 * in flight: the parser holds many times a message's text in memory (about 100 MB for one of
 * 5 MB of HTML), and a burst of large ones must not add that up. Attachments stream to the
 * store and cost little.
 */
const largeParses = new Permits(LARGE_MESSAGES_AT_ONCE);

export async function ingest(ctx: AppContext, rawId: string): Promise<IngestResult> {
  const log = ctx.log.child({ component: 'ingest', raw: rawId.slice(0, 12) });
  const raw = await getRaw(rawId);
  if (!raw) throw new UnrecoverableError(`raw message ${rawId} is not in the store`);
  if (raw.state !== 'stored') return { outcome: 'skipped', state: raw.state };

  const attachmentIds: string[] = [];
  let parsed: ParsedMessage;
  // A failure to read the bytes or to store an attachment is the store's, and may pass: the
  // job is retried (and ends as a dead letter if it never passes). Only a failure of the
  // parser itself says the message is unusable and quarantines it.
  let storeError: Error | undefined;
  const parse = () => {
    const input = openRaw(raw).once('error', (err: Error) => (storeError ??= err));
    return parseMessage(input, async (info, content) => {
      let decodeFailed = false; // the part's own bytes are broken: that is the message's fault
      content.once('error', () => (decodeFailed = true));
      try {
        attachmentIds.push(await saveAttachment({ rawId, ...info }, content));
      } catch (err) {
        if (!decodeFailed) storeError ??= err as Error;
        throw err;
      }
    });
  };
  try {
    parsed = await (raw.size > LARGE_MESSAGE_BYTES ? largeParses.with(parse) : parse());
  } catch (err) {
    if (storeError) throw storeError;
    return quarantine(rawId, `unparseable MIME: ${(err as Error).message}`, log);
  }

  const verdict = assessInbound({
    headers: parsed.headers,
    contentType: parsed.contentType,
    supportAddress: ctx.config.mailboxes.map((m) => m.supportAddress),
    headerSection: parsed.headerSection,
    text: parsed.text,
  });
  switch (verdict.kind) {
    case 'quarantine':
      return quarantine(rawId, verdict.reason, log);
    case 'delivery-report':
      return deliveryReport(ctx, raw, parsed, log);
    case 'own-mail':
      return quarantine(rawId, verdict.reason, log);
  }

  const { automatic } = verdict;
  // With no usable address anywhere the message is still heard: the incident is opened with
  // no reply address, and nothing is ever sent to it (see queueMail).
  const choice = verdict.sender;
  const sender = choice?.address ?? NO_REPLY_ADDRESS;
  const at = ctx.now();
  const thread = await threadFor(ctx, parsed, sender);
  const entry = {
    _id: messageEntryId(rawId),
    at,
    type: 'message' as const,
    direction: 'inbound' as const,
    rawId,
    messageId: parsed.messageId,
    from: sender,
    to: [...parsed.to, ...parsed.cc].map((a) => a.address),
    subject: parsed.subject,
    text: stripQuoted(parsed.text).slice(0, TIMELINE_BODY_MAX_CHARS),
    fullText: parsed.text.slice(0, TIMELINE_BODY_MAX_CHARS),
    html: parsed.html?.slice(0, TIMELINE_BODY_MAX_CHARS),
    attachmentIds,
    automatic: automatic?.kind,
  };

  // Addressed to an archived incident: a new one that points at it (`incidents show` finds
  // both); the archived history is left as it was.
  let linkedTo = thread.kind === 'archived' ? thread.number : undefined;
  if (thread.kind === 'existing') {
    const incident = thread.incident;
    const agent = agentByEmail(ctx.plan, sender);
    const customerOutcomeNow = agent || automatic ? 'append' : customerOutcome(ctx, incident);
    // Mail from an agent's address that carries one of our tokens may act for that agent only
    // when it is shown to be theirs (src/domain/agent-mail.ts); decided before it is recorded,
    // so the timeline says which messages were not.
    const evidence = agent
      ? tokenEvidence(ctx.config.secret, thread.tokenIncident, thread.tokens, sender)
      : 'none';
    const permission =
      agent && evidence !== 'none'
        ? await agentPermission(ctx, raw, parsed, choice, evidence)
        : null;
    if (permission && !permission.allowed)
      Object.assign(entry, {
        unverified: { reason: permission.reason, explanation: permission.explanation },
      });
    if (customerOutcomeNow !== 'new-linked') {
      await recordMessage(incident.number, entry, agent || !choice ? undefined : sender);
      await recordIntakeNotes(rawId, incident.number, at, parsed, choice);
      await queueIndex(ctx, { kind: 'incident', id: incident.number }, `msg-${rawId}`);
      await linkAttachments(attachmentIds, incident.number);
      const reply = { rawId, messageId: parsed.messageId, text: entry.text, attachmentIds };
      if (agent) {
        const commands = parseCommands(entry.text);
        // Commands count only with the incident's signed token, and only from the agent
        // (authenticated, or holding the token issued to them): a forged From is not enough.
        if (permission?.allowed) {
          await handleAgentReply(ctx, incident, agent, reply, commands);
        } else if (permission) {
          await refuseUnverifiedAgentMail(ctx, incident, agent, rawId, permission, commands);
          log.warn(
            { incident: incident.number, agent: agent.id, reason: permission.reason },
            'agent mail not acted on: sender not verified',
          );
        } else if (commands.commands.length + commands.errors.length > 0) {
          await refuseUntokenedCommands(
            ctx,
            incident,
            agent,
            rawId,
            commands.commands.length + commands.errors.length,
          );
        }
      } else if (!automatic) {
        await handleCustomerReply(ctx, incident, { ...reply, from: sender });
      }
      await markIngested(rawId, incident.number, agent ? 'agent' : (automatic?.kind ?? 'customer'));
      log.info(
        { incident: incident.number, via: thread.via, agent: agent?.id },
        'follow-up recorded',
      );
      return { outcome: 'follow-up', incident: incident.number };
    }
    // Long after closure: a new incident, linked to the old one.
    linkedTo = incident.number;
  }

  // An out-of-office or other auto-reply about nothing we know asks nothing of anyone: it is
  // kept and marked (raw_messages, kind auto-reply) but opens no incident and starts no clock.
  if (automatic?.kind === 'auto-reply') {
    await markIngested(rawId, undefined, automatic.kind);
    log.info({ reason: automatic.reason }, 'auto-reply threads to no incident: kept, no incident');
    return { outcome: 'kept', kind: automatic.kind };
  }

  // Known before the incident exists, so they are born with it: no write of their own.
  const notes = intakeNotes(rawId, at, choice, parsed.legacyHeaders);
  // So is the acknowledgement, decided first: its timeline entry is among the incident's first
  // and its outbox message commits with it. This job sends it: claimed at birth, in the insert.
  const decision = await acknowledge(
    ctx,
    { sender, rawId },
    at,
    automatic !== null || choice === null,
  );
  const claim = { by: jobIds.ingest(rawId), at: ctx.now() };
  const ackDecision = decision.send
    ? {
        compose: (opened: IncidentDoc) => composeAcknowledgement(ctx, opened, parsed, rawId),
        claim,
      }
    : null;
  const suppressed = decision.send
    ? []
    : [
        {
          _id: `ack-suppressed-${rawId}`,
          at,
          type: 'event' as const,
          event: 'acknowledgement-suppressed',
          detail: {
            reason: automatic ? automatic.reason : choice ? decision.reason : NO_REPLY_ADDRESS,
          },
        },
      ];
  // The mailbox the customer wrote to: its default locale and templates.
  const box = mailboxFor(ctx.config, raw.source?.address);
  const opening = await openIncident({
    openedBy: rawId,
    subject: parsed.subject.trim() || '(no subject)',
    customer: { address: sender, name: customerName(parsed.from, parsed.replyTo, choice) },
    automatic: automatic?.kind,
    planFingerprint: ctx.plan.fingerprint,
    lastCustomerMessageId: parsed.messageId,
    linkedTo,
    locale: chooseLocale(
      {
        customer: findCustomer(ctx.plan, sender)?.locale,
        message: messageLanguages(parsed.headers),
      },
      templateLocales(box.templates),
      box.locale ?? ctx.plan.locale,
    ),
    mailbox: raw.source?.address ?? undefined,
    at,
    timeline: [
      entry,
      {
        _id: `opened-${rawId}`,
        at,
        type: 'event',
        event: 'opened',
        detail: {
          by: sender,
          senderSource: choice?.source ?? null,
          automatic: automatic?.reason,
          plan: ctx.plan.fingerprint,
          linkedTo,
        },
      },
      ...notes,
    ],
    decided: { timeline: suppressed, mail: ackDecision ?? undefined },
  });
  const { incident, opened } = opening;
  // Not indexed for search here: triage, which every new incident goes through next (the
  // recovery sweep requeues any it missed), indexes it with its triage, in one job instead of two.
  await linkAttachments(attachmentIds, incident.number);
  if (linkedTo && thread.kind === 'existing') {
    await appendTimeline(linkedTo, {
      _id: `continued-${rawId}`,
      at,
      type: 'event',
      event: 'continued-in',
      detail: { incident: formatIncidentId(incident.number) },
    });
  }

  let ack = opening.mail ?? null;
  // A retry after a crash keeps what the earlier run decided: only a run that did not open the
  // incident can be one, and only if the earlier run stored no acknowledgement does this run's
  // decision stand (the earlier run's rate-limit claim, if any, stays counted).
  if (!opened) {
    ack = await getOutbox(ackIdFor(rawId));
    if (!ack && ackDecision) {
      const stored = decidedMail(ackDecision.compose(incident), at);
      ack = await storeDecided(stored, claim);
    } else if (!ack) {
      for (const entry of suppressed) await appendTimeline(incident.number, entry);
    }
  }
  // What the customer sees first: sent from here, as soon as it is stored, with no queue hop
  // and no waiting behind the notify queue's other mail.
  await sendOrHandOver(ctx, 'ack', ack, claim);
  await ctx.queues.triage.add(
    'triage',
    {
      incident: incident.number,
      opening: openingFacts(entry.text, attachmentIds),
      born: bornFacts(incident),
    },
    { jobId: jobIds.triage(incident.number) },
  );
  await markIngested(rawId, incident.number, automatic?.kind ?? 'customer');
  log.info({ incident: incident.number, ack: ack !== null }, 'incident opened');
  return { outcome: 'new-incident', incident: incident.number };
}

/** The intake's notes about a message (src/domain/intake.ts), on the incident's timeline. */
async function recordIntakeNotes(
  rawId: string,
  incidentNumber: number,
  at: Date,
  parsed: ParsedMessage,
  choice: SenderChoice | null,
): Promise<void> {
  for (const note of intakeNotes(rawId, at, choice, parsed.legacyHeaders))
    await appendTimeline(incidentNumber, note);
}

/**
 * Whether to acknowledge a new incident (src/domain/ack-policy.ts). A human sender's
 * acknowledgement is claimed against the rate limit in one conditional write; only when the
 * claim is refused is the sender's record read, to say why.
 */
async function acknowledge(
  ctx: AppContext,
  { sender, rawId }: { sender: string; rawId: string },
  at: Date,
  /** Automatic mail, or nobody to answer (treated like a robot: recorded, never acknowledged). */
  automatic: boolean,
): Promise<{ send: true } | { send: false; reason: string }> {
  const limits = ctx.plan.acknowledgements;
  const refusal = (standing: { undeliverable: boolean; acksToSenderLastHour: number }) =>
    ackDecision({ automatic, ...standing, limits });
  if (automatic) return refusal({ undeliverable: false, acksToSenderLastHour: 0 });
  // (A limit of 0 allows nothing, not even to a sender with no record, which the upsert would.)
  if (
    limits.perSenderPerHour > 0 &&
    (await claimAcknowledgement(sender, at, limits.perSenderPerHour, rawId))
  )
    return { send: true };
  const standing = await senderStanding(sender, at, rawId);
  // A rerun of this message's ingest (its earlier run died before the incident committed).
  if (standing.claimedBefore) return { send: true };
  const decision = refusal(standing);
  // Refused, yet allowed by what is stored now: the limit was reached and an ack aged out since.
  return decision.send
    ? { send: false, reason: 'sender reached the acknowledgement limit' }
    : decision;
}

type Thread =
  | { kind: 'new' }
  /** Addressed to an incident that maintenance has moved to the archive. */
  | { kind: 'archived'; number: number }
  | {
      kind: 'existing';
      via: Extract<ThreadDecision, { kind: 'existing' }>['via'];
      incident: IncidentDoc;
      /** The incident the tokens name (before following merges) and the tokens presented. */
      tokenIncident: number;
      tokens: PresentedToken[];
    };

/** Sender authentication per the plan, then the decision whether the agent may act. */
async function agentPermission(
  ctx: AppContext,
  raw: RawMessageDoc,
  parsed: ParsedMessage,
  choice: SenderChoice | null,
  evidence: Exclude<ReturnType<typeof tokenEvidence>, 'none'>,
): Promise<CommandPermission> {
  const { agentMail: mode, authservId } = ctx.plan.access;
  let authentication = null;
  if (authenticates(mode)) {
    const address = choice?.address ?? '';
    const receivedBy = mailboxFor(ctx.config, raw.source?.address).supportAddress;
    authentication =
      choice?.source === 'from' && choice.index === 0
        ? await senderVerdict({
            mode,
            authservId,
            fromDomain: domainOf(address),
            headers: parsed.headers,
            open: () => openRaw(raw),
            resolver: (ctx.resolver ??= cachingResolver()),
            // We are the receiving side for the mailbox the message came in by.
            mta: domainOf(receivedBy),
          })
        : {
            status: 'fail' as const,
            detail: 'the agent’s address is not the message’s (first) From',
          };
  }
  return mayActAsAgent({ mode, evidence, authentication });
}

async function threadFor(ctx: AppContext, parsed: ParsedMessage, sender: string): Promise<Thread> {
  const tagged = subjectIncident(parsed.subject);
  const [known, taggedIncident] = await Promise.all([
    messageIdHolder(parsed.references),
    tagged === null ? null : findIncident(tagged),
  ]);
  const knownReference = known?.incidentNumber ?? null;
  // A known Message-ID threads only mail from people who were on it (or on the incident).
  const knownIncident =
    known === null
      ? null
      : known.incidentNumber === tagged
        ? taggedIncident
        : await findIncident(known.incidentNumber);
  const recipients = [
    ...parsed.to.map((a) => a.address),
    ...parsed.cc.map((a) => a.address),
    ...(parsed.headers.get('delivered-to') ?? []),
    ...(parsed.headers.get('x-original-to') ?? []),
  ];
  // Agents may name any incident in a subject (their commands still need the token).
  const agents = agentByEmail(ctx.plan, sender) ? [sender] : [];
  const decision = decideThread({
    secret: ctx.config.secret,
    supportAddress: ctx.config.mailboxes.map((m) => m.supportAddress),
    references: parsed.references,
    recipients,
    subject: parsed.subject,
    sender,
    knownReference,
    knownReferenceParties: [
      ...(known?.parties ?? []),
      ...(knownIncident?.participants ?? []),
      ...agents,
    ],
    subjectIncidentParticipants: [...(taggedIncident?.participants ?? []), ...agents],
  });
  if (decision.kind === 'new') return decision;
  // Follow merges to the surviving incident; a token can also name an incident that is not
  // (or no longer) in this store, which opens a new one: linked to it if it was archived.
  // Usually the incident read above for the decision: not read again.
  let incident =
    [taggedIncident, knownIncident].find((i) => i?.number === decision.incidentNumber) ??
    (await findIncident(decision.incidentNumber));
  for (let hops = 0; incident?.mergedInto && hops < 10; hops++)
    incident = await findIncident(incident.mergedInto);
  if (incident)
    return {
      kind: 'existing',
      via: decision.via,
      incident,
      tokenIncident: decision.incidentNumber,
      tokens: decision.tokens,
    };
  return (await isArchived(decision.incidentNumber))
    ? { kind: 'archived', number: decision.incidentNumber }
    : { kind: 'new' };
}

/** A delivery status notification: about our own mail it is recorded; anything else is set aside. */
async function deliveryReport(
  ctx: AppContext,
  raw: RawMessageDoc,
  parsed: ParsedMessage,
  log: AppContext['log'],
): Promise<IngestResult> {
  const report =
    parseDeliveryStatus(parsed.report.deliveryStatus ?? '', parsed.report.originalHeaders) ??
    parseQmailBounce(parsed.text);
  const original = report?.originalMessageId ? [report.originalMessageId] : [];
  const number = incidentFromMessageIds(ctx.config.secret, [...original, ...parsed.references]);
  if (!report || number === null || !(await findIncident(number))) {
    return quarantine(raw._id, 'delivery report about a message incidesk did not send', log);
  }
  if (addressIsUndeliverable(report)) {
    for (const r of report.recipients)
      await markUndeliverable(r, `${report.status} ${report.diagnostic ?? ''}`.trim());
  }
  await appendTimeline(number, {
    _id: `bounce-${raw._id}`,
    at: ctx.now(),
    type: 'event',
    event: report.permanent ? 'delivery-failed' : 'delivery-delayed',
    rawId: raw._id,
    detail: { status: report.status, recipients: report.recipients, diagnostic: report.diagnostic },
  });
  await markIngested(raw._id, number, 'bounce');
  log.info({ incident: number, status: report.status }, 'delivery report recorded');
  return { outcome: 'bounce', incident: number };
}

async function quarantine(
  rawId: string,
  reason: string,
  log: AppContext['log'],
): Promise<IngestResult> {
  await quarantineRaw(rawId, reason);
  log.warn({ reason }, 'message quarantined');
  return { outcome: 'quarantined', reason };
}
