import { SEND_CLAIM_MS } from '../constants.js';
import { duplicateKeyFailures, sharedCall, sharedSetById, writeAtCommit } from './db.js';
import { Address, Outbox, type NewTimelineEntry, type OutboxDoc } from './models.js';

/** More than any sane per-hour limit, so the rolling count stays exact. */
const RECENT_ACKS_KEPT = 100;

export type NewOutboxMessage = Omit<
  OutboxDoc,
  | 'state'
  | 'attempts'
  | 'createdAt'
  | 'updatedAt'
  | 'sentAt'
  | 'lastError'
  | 'lastAttemptAt'
  | 'claimedBy'
>;

/** The job that will send a message right away, taking it at birth, and when. */
export interface OutboxClaim {
  by: string;
  at: Date;
}

/**
 * Insert once; a retried producer gets the message it created the first time. One upsert that
 * returns the stored message, never a duplicate-key error: inside a transaction such an error
 * would abort it. `claim` (the job that will send it right away, at that time) is taken at
 * birth, in the same write.
 */
export async function enqueueOutbox(
  message: NewOutboxMessage,
  claim?: OutboxClaim,
): Promise<OutboxDoc> {
  const { _id, ...fields } = message;
  const stored = await Outbox.findOneAndUpdate(
    { _id },
    { $setOnInsert: { ...fields, ...atBirth(claim, new Date()) } },
    { upsert: true, returnDocument: 'after', runValidators: true, timestamps: false },
  ).lean<OutboxDoc>();
  return stored!;
}

/**
 * Store mail decided in a transaction, with its other writes at its end (`writeAtCommit`):
 * upserts, so a message stored before stays as it was, never a duplicate-key error that would
 * abort it. Returns how to have the messages as stored once it committed: as born, with no
 * read, unless one was stored before (then they are read).
 */
export async function enqueueAtCommit(
  mail: readonly { message: NewOutboxMessage; claim?: OutboxClaim }[],
): Promise<() => Promise<OutboxDoc[]>> {
  const now = new Date();
  const born = mail.map(
    ({ message, claim }) =>
      new Outbox({ ...message, ...atBirth(claim, now) }).toObject() as OutboxDoc,
  );
  let allNew = true;
  await writeAtCommit({
    into: Outbox,
    ops: born.map(({ _id, ...fields }) => ({
      updateOne: {
        filter: { _id },
        update: { $setOnInsert: fields },
        upsert: true,
        timestamps: false,
      },
    })),
    check: (done) => {
      allNew = done.upserted === born.length;
    },
  });
  return async () =>
    allNew
      ? born
      : sortedLike(
          born,
          await Outbox.find({ _id: { $in: born.map((m) => m._id) } }).lean<OutboxDoc[]>(),
        );
}

/** `found` in the order of `wanted`. */
function sortedLike(wanted: readonly OutboxDoc[], found: readonly OutboxDoc[]): OutboxDoc[] {
  const byId = new Map(found.map((m) => [m._id, m]));
  return wanted.flatMap((m) => byId.get(m._id) ?? []);
}

/** A new message's state: pending, and held by `claim`'s job from the start if it has one. */
function atBirth(claim: OutboxClaim | undefined, now: Date) {
  return {
    state: 'pending' as const,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    ...(claim ? { claimedBy: claim.by, lastAttemptAt: claim.at } : {}),
  };
}

/** An outbound mail's timeline entry is `out-` + its outbox id. */
const OUTBOUND_PREFIX = 'out-';

/**
 * The timeline entry of an outbound mail: what was decided to be sent, to whom, and when (its
 * delivery is the outbox's to say). Keyed by the outbox id, so it is written once however
 * often it is written. Null for mail about no single incident (a digest): it has no timeline.
 */
export function outboundEntry(
  message: Pick<
    NewOutboxMessage,
    '_id' | 'kind' | 'incidentNumber' | 'from' | 'to' | 'messageId' | 'subject' | 'text'
  >,
  at: Date,
): NewTimelineEntry | null {
  if (message.incidentNumber === 0) return null;
  return {
    _id: `${OUTBOUND_PREFIX}${message._id}`,
    at,
    type: 'message',
    direction: 'outbound',
    messageId: message.messageId,
    from: message.from ?? undefined,
    to: [message.to],
    subject: message.subject,
    text: message.text,
    event: message.kind,
  };
}

/** A mail decided: the message to store and its timeline entry (none for a digest). */
export interface DecidedMail {
  message: NewOutboxMessage;
  entry: NewTimelineEntry | null;
}

/**
 * A composed message as decided at `at`: marked as having its timeline entry, which the caller
 * writes with the decision (with its own timeline entries, in the same command, where it has
 * some) and before or with the outbox insert.
 */
export function decidedMail(message: NewOutboxMessage, at: Date): DecidedMail {
  return { message: { ...message, onTimeline: true }, entry: outboundEntry(message, at) };
}

/** Where an outbound mail stands, from the outbox. */
export interface Delivery {
  state: OutboxDoc['state'];
  sentAt?: Date;
  lastError?: string;
}

/**
 * Timeline entries with each outbound mail's delivery attached (one read of the outbox): the
 * timeline says a mail was decided, the outbox whether it went. A mail whose outbox record is
 * gone went out (only sent mail is deleted, after its retention period) and gets none.
 */
export async function withDelivery<T extends { _id: string; direction?: string | null }>(
  timeline: T[],
): Promise<(T & { delivery?: Delivery })[]> {
  const ids = timeline
    .filter((e) => e.direction === 'outbound' && e._id.startsWith(OUTBOUND_PREFIX))
    .map((e) => e._id.slice(OUTBOUND_PREFIX.length));
  if (ids.length === 0) return timeline;
  const found = await Outbox.find(
    { _id: { $in: ids } },
    { state: 1, sentAt: 1, lastError: 1 },
  ).lean<OutboxDoc[]>();
  const byId = new Map(found.map((o) => [`${OUTBOUND_PREFIX}${o._id}`, o]));
  return timeline.map((e) => {
    const o = byId.get(e._id);
    if (!o) return e;
    const delivery: Delivery = { state: o.state };
    if (o.sentAt) delivery.sentAt = o.sentAt;
    if (o.lastError) delivery.lastError = o.lastError;
    return { ...e, delivery };
  });
}

export async function getOutbox(id: string): Promise<OutboxDoc | null> {
  return Outbox.findById(id).lean<OutboxDoc>();
}

/**
 * Take a pending message for sending as job `by`: the read and the record of this attempt's
 * start in one command. It is taken when nobody holds it, when `by` does (a rerun of the job
 * whose process died mid-send: BullMQ runs one job id at a time), or when the holder's claim
 * is older than SEND_CLAIM_MS; so two jobs never send it at once (an ingest or triage job
 * sending the mail it stored and the recovery sweep's notify job for the same message). Null when it is
 * not pending or someone else holds it: getOutbox says which.
 */
export async function claimOutbox(id: string, by: string, at: Date): Promise<OutboxDoc | null> {
  return Outbox.findOneAndUpdate(
    {
      _id: id,
      state: 'pending',
      $or: [
        { claimedBy: { $in: [null, by] } },
        { lastAttemptAt: { $lt: new Date(at.getTime() - SEND_CLAIM_MS) } },
      ],
    },
    { $set: { claimedBy: by, lastAttemptAt: at } },
    { returnDocument: 'after' },
  ).lean<OutboxDoc>();
}

/** A failed attempt, which lets go of the claim: the retry may come from another job. */
export async function markOutboxAttempt(id: string, error?: string) {
  await Outbox.updateOne(
    { _id: id },
    { $inc: { attempts: 1 }, $set: { lastError: error, claimedBy: null } },
  );
}

/** Sent: the mail of a process accepted by SMTP at the same moment shares one `bulkWrite`. */
export function markOutboxSent(id: string, at: Date): Promise<void> {
  return setOutbox(id, { state: 'sent', sentAt: at });
}

const setOutbox = sharedSetById(Outbox);

export async function markOutboxFailed(id: string, error: string) {
  await Outbox.updateOne(
    { _id: id, state: { $ne: 'sent' } },
    { $set: { state: 'failed', lastError: error } },
  );
}

/**
 * What the acknowledgement policy needs to know about a sender: one read of its record (the
 * recent acknowledgements are kept on the address's own document, so no scan of the outbox).
 * Only new incidents are acknowledged, so there is never an earlier one to the same incident.
 */
export async function senderStanding(sender: string, now: Date, rawId?: string) {
  const doc = await Address.findById(sender, {
    recentAcks: 1,
    undeliverable: 1,
    ackedFor: 1,
  }).lean<{ recentAcks?: Date[]; undeliverable?: boolean; ackedFor?: string[] }>();
  const hourAgo = now.getTime() - 3600_000;
  return {
    acksToSenderLastHour: (doc?.recentAcks ?? []).filter((d) => d.getTime() >= hourAgo).length,
    undeliverable: doc?.undeliverable === true,
    /** An earlier run of this message's ingest claimed its acknowledgement already. */
    claimedBefore: rawId !== undefined && (doc?.ackedFor ?? []).includes(rawId),
  };
}

/**
 * Count an acknowledgement to `sender` against the rate limit, if the limit and the address
 * allow it (the rule of src/domain/ack-policy.ts, checked by the server): one conditional
 * write, atomic, so two messages from one sender at once cannot both take the last place.
 * False when refused: the filter did not match an existing record, so the upsert's insert
 * collided with it on `_id`. The list keeps only the latest acknowledgements. The claims of
 * a process's concurrent ingest jobs share one unordered `bulkWrite` (`sharedCall`), each
 * claim still its own conditional write with its own outcome.
 */
export function claimAcknowledgement(
  sender: string,
  at: Date,
  perHour: number,
  rawId: string,
): Promise<boolean> {
  return claimTogether({ sender, at, perHour, rawId });
}

const claimTogether = sharedCall(
  'Address.claimAcknowledgement',
  async (
    claims: { sender: string; at: Date; perHour: number; rawId: string }[],
  ): Promise<boolean[]> => {
    let refused: number[] = [];
    try {
      await Address.bulkWrite(
        claims.map(({ sender, at, perHour, rawId }) => ({
          updateOne: {
            filter: {
              _id: sender,
              undeliverable: { $ne: true },
              // Claimed once per message: a rerun is refused here and finds its claim on
              // reading the record (senderStanding), so it takes no second place.
              ackedFor: { $ne: rawId },
              $expr: {
                $lt: [
                  {
                    $size: {
                      $filter: {
                        input: { $ifNull: ['$recentAcks', []] },
                        cond: { $gte: ['$$this', new Date(at.getTime() - 3600_000)] },
                      },
                    },
                  },
                  perHour,
                ],
              },
            },
            update: {
              $push: {
                recentAcks: { $each: [at], $slice: -RECENT_ACKS_KEPT },
                ackedFor: { $each: [rawId], $slice: -RECENT_ACKS_KEPT },
              },
            },
            upsert: true,
          },
        })),
        { ordered: false },
      );
    } catch (err) {
      refused = duplicateKeyFailures(err, claims.length) ?? [];
      if (refused.length === 0) throw err;
    }
    return claims.map((_, i) => !refused.includes(i));
  },
);

export async function markUndeliverable(address: string, reason: string) {
  await Address.updateOne(
    { _id: address },
    { $set: { undeliverable: true, reason, updatedAt: new Date() } },
    { upsert: true },
  );
}
