import { isDuplicateKey } from './db.js';
import { Address, Outbox, type OutboxDoc } from './models.js';

export type NewOutboxMessage = Omit<
  OutboxDoc,
  'state' | 'attempts' | 'createdAt' | 'updatedAt' | 'sentAt' | 'lastError'
>;

/** Insert once; a retried producer gets the message it created the first time. */
export async function enqueueOutbox(message: NewOutboxMessage): Promise<OutboxDoc> {
  try {
    const created = await Outbox.create({ ...message, state: 'pending' });
    return created.toObject() as OutboxDoc;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    return (await Outbox.findById(message._id).lean<OutboxDoc>())!;
  }
}

export async function getOutbox(id: string): Promise<OutboxDoc | null> {
  return Outbox.findById(id).lean<OutboxDoc>();
}

export async function markOutboxAttempt(id: string, error?: string) {
  await Outbox.updateOne({ _id: id }, { $inc: { attempts: 1 }, $set: { lastError: error } });
}

export async function markOutboxSent(id: string, at: Date) {
  await Outbox.updateOne({ _id: id }, { $set: { state: 'sent', sentAt: at } });
}

export async function markOutboxFailed(id: string, error: string) {
  await Outbox.updateOne(
    { _id: id, state: { $ne: 'sent' } },
    { $set: { state: 'failed', lastError: error } },
  );
}

/** What the acknowledgement rate limit needs to know about earlier acknowledgements. */
export async function acknowledgementHistory(sender: string, incidentNumber: number, now: Date) {
  const hourAgo = new Date(now.getTime() - 3600_000);
  const [toSender, lastToIncident] = await Promise.all([
    Outbox.countDocuments({ to: sender, kind: 'ack', createdAt: { $gte: hourAgo } }),
    Outbox.findOne({ incidentNumber, kind: 'ack' }, { createdAt: 1 })
      .sort({ createdAt: -1 })
      .lean(),
  ]);
  return {
    acksToSenderLastHour: toSender,
    lastAckToIncident: lastToIncident?.createdAt ?? undefined,
  };
}

export async function isUndeliverable(address: string): Promise<boolean> {
  const doc = await Address.findById(address, { undeliverable: 1 }).lean();
  return doc?.undeliverable === true;
}

export async function markUndeliverable(address: string, reason: string) {
  await Address.updateOne(
    { _id: address },
    { $set: { undeliverable: true, reason, updatedAt: new Date() } },
    { upsert: true },
  );
}
