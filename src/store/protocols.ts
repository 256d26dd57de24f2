/** Store access for messages owed under communication protocols (`protocol_messages`). */
import { createHash } from 'node:crypto';
import { recipientKey, type DueMessage } from '../domain/protocols.js';
import { appendAudit } from './audit.js';
import { atomically, EARLIEST, isDuplicateKey } from './db.js';
import { appendTimeline } from './incidents.js';
import { OPEN_STATUSES } from '../domain/lifecycle.js';
import { Incident, ProtocolMessage, type IncidentDoc, type ProtocolMessageDoc } from './models.js';

/**
 * The short id people approve by: one per message and moment (all its recipients share it,
 * so forty reporters are one approval), six hex digits of its key without the recipient.
 */
export function approvalRef(m: Pick<DueMessage, 'key' | 'recipient'>): string {
  const group = m.key.slice(0, m.key.length - recipientKey(m.recipient).length);
  return createHash('sha256').update(group).digest('hex').slice(0, 6);
}

/**
 * Record a due message once: `held` when it needs approval, else `pending` (to be released).
 * A replay gets the record the first time made, whatever happened to it since.
 */
export async function recordDue(
  m: DueMessage,
  about: number,
  at: Date,
): Promise<{ doc: ProtocolMessageDoc; created: boolean }> {
  const doc = {
    _id: m.key,
    ref: approvalRef(m),
    incidentNumber: m.incident,
    protocol: m.protocol,
    moment: m.moment,
    occurrence: m.occurrence,
    recipient: recipientKey(m.recipient),
    about,
    audience: m.audience,
    template: m.template,
    locale: m.locale,
    approval: m.approval ?? undefined,
    state: m.approval ? ('held' as const) : ('pending' as const),
    createdAt: at,
  };
  try {
    const created = await ProtocolMessage.create(doc);
    return { doc: created.toObject() as ProtocolMessageDoc, created: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    return {
      doc: (await ProtocolMessage.findById(m.key).lean<ProtocolMessageDoc>())!,
      created: false,
    };
  }
}

/** The records of these keys that exist, by key. */
export async function protocolMessagesByKey(
  keys: readonly string[],
): Promise<Map<string, ProtocolMessageDoc>> {
  if (keys.length === 0) return new Map();
  const docs = await ProtocolMessage.find({ _id: { $in: keys } }).lean<ProtocolMessageDoc[]>();
  return new Map(docs.map((d) => [d._id, d]));
}

/**
 * A pending message's mail is in the outbox: mark it released, with its timeline and audit
 * entries, together. The state is the guard, and the entry's id is the message's key, so a
 * replay after a crash adds nothing twice.
 */
export async function markReleased(
  doc: ProtocolMessageDoc,
  release: { to: readonly string[]; at: Date },
): Promise<void> {
  await atomically(async () => {
    const done = await ProtocolMessage.findOneAndUpdate(
      { _id: doc._id, state: 'pending' },
      { $set: { state: 'released', to: [...release.to], releasedAt: release.at } },
      { returnDocument: 'after' },
    ).lean<ProtocolMessageDoc>();
    if (!done) return;
    const detail = {
      protocol: done.protocol,
      moment: done.moment,
      occurrence: done.occurrence,
      recipient: done.recipient,
      to: done.to ?? [],
      audience: done.audience,
      template: done.template,
      locale: done.locale,
      ...(done.approvedBy ? { approvedBy: done.approvedBy } : {}),
    };
    await appendTimeline(done.incidentNumber, {
      _id: `protocol-${done._id}`,
      at: release.at,
      type: 'event',
      event: 'protocol-message',
      detail,
    });
    await appendAudit({
      action: 'protocol-message',
      subject: { type: 'incident', id: String(done.incidentNumber) },
      changes: [],
      detail,
      at: release.at,
    });
  });
}

/**
 * Approve (held → pending, to be released) or reject the held messages of an incident with
 * approval ref `ref` (all held ones without). The state is the guard: of two concurrent
 * decisions on one message exactly one counts. Returns the messages this call decided.
 */
export async function decideHeld(
  incidentNumber: number,
  ref: string | undefined,
  decision: { approve: boolean; by: string; at: Date; allowed: (approval: string) => boolean },
): Promise<ProtocolMessageDoc[]> {
  const held = await ProtocolMessage.find({
    incidentNumber,
    state: 'held',
    ...(ref ? { ref } : {}),
  }).lean<ProtocolMessageDoc[]>();
  const decided: ProtocolMessageDoc[] = [];
  for (const m of held.filter((h) => decision.allowed(h.approval ?? 'lead'))) {
    const state = decision.approve ? 'pending' : 'rejected';
    const after = await atomically(async () => {
      const doc = await ProtocolMessage.findOneAndUpdate(
        { _id: m._id, state: 'held' },
        { $set: { state, approvedBy: decision.by, decidedAt: decision.at } },
        { returnDocument: 'after' },
      ).lean<ProtocolMessageDoc>();
      if (doc)
        await appendAudit({
          action: decision.approve ? 'protocol-approved' : 'protocol-rejected',
          subject: { type: 'incident', id: String(incidentNumber) },
          changes: [{ field: `protocol.${m._id}`, before: 'held', after: state }],
          detail: { protocol: m.protocol, template: m.template, recipient: m.recipient },
          at: decision.at,
        });
      return doc;
    });
    if (after) decided.push(after);
  }
  return decided;
}

/** Held messages (of one incident, or all), oldest first. */
export async function heldMessages(incidentNumber?: number): Promise<ProtocolMessageDoc[]> {
  return ProtocolMessage.find({
    state: 'held',
    ...(incidentNumber !== undefined ? { incidentNumber } : {}),
  })
    .sort({ createdAt: 1, _id: 1 })
    .lean<ProtocolMessageDoc[]>();
}

/** Messages approved or owed but not yet released, recorded before `before`: the sweep's work. */
export async function unreleasedMessages(before: Date, limit: number) {
  return ProtocolMessage.find({ state: 'pending', createdAt: { $lt: before } })
    .sort({ createdAt: 1 })
    .limit(limit)
    .lean<ProtocolMessageDoc[]>();
}

/** Every message owed under a protocol on an incident, in order: "who was told what, when". */
export async function protocolMessagesOf(incidentNumber: number): Promise<ProtocolMessageDoc[]> {
  return ProtocolMessage.find({ incidentNumber })
    .sort({ createdAt: 1, _id: 1 })
    .lean<ProtocolMessageDoc[]>();
}

/** Incidents whose protocol check is due, most overdue first: the sweep's interval work. */
export async function incidentsDueForProtocolCheck(
  now: Date,
  limit: number,
): Promise<IncidentDoc[]> {
  return Incident.find({ protocolCheckAt: { $gte: EARLIEST, $lte: now } })
    .sort({ protocolCheckAt: 1 })
    .limit(limit)
    .lean<IncidentDoc[]>();
}

/**
 * Move an incident's protocol check on, after the sweep looked at it as `seen`: only if the
 * incident has not changed since (a change reschedules the check itself, from the newer
 * state; losing this write only means one more look). Neither audited nor a new `updatedAt`:
 * the schedule is bookkeeping, and each message sent is recorded on its own.
 */
export async function moveProtocolCheck(
  seen: Pick<IncidentDoc, '_id' | 'protocolCheckAt' | 'updatedAt'>,
  next: Date | null,
): Promise<void> {
  await Incident.updateOne(
    { _id: seen._id, protocolCheckAt: seen.protocolCheckAt, updatedAt: seen.updatedAt },
    { $set: { protocolCheckAt: next } },
    { timestamps: false },
  );
}

/**
 * Make open incidents due for a protocol check now, at start-up: those stored before
 * `protocolCheckAt` existed (`all` false), or every one when the plan changed (its protocols
 * may cover incidents differently). The next sweep looks at each once and schedules it.
 */
export async function dueProtocolChecks(now: Date, all: boolean): Promise<number> {
  const { modifiedCount } = await Incident.updateMany(
    {
      status: { $in: [...OPEN_STATUSES] },
      ...(all ? {} : { protocolCheckAt: { $exists: false } }),
    },
    { $set: { protocolCheckAt: now } },
    { timestamps: false },
  );
  return modifiedCount;
}
