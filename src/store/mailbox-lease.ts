/**
 * One intake per mailbox, however many processes run: a lease in MongoDB, renewed while held,
 * taken over once it has expired. Each new holder gets a higher fencing number, which the
 * checkpoint then demands (mailbox-state.ts), so a holder that was paused past its lease can
 * never move the checkpoint after its successor has started.
 */
import { isDuplicateKey } from './db.js';
import { MailboxLease } from './models.js';

export interface LeaseHolding {
  fence: number;
  expiresAt: Date;
}

/** Renew our lease, or take one that has expired (or never existed). Null: another holds it. */
export async function acquireLease(
  key: string,
  holder: string,
  ttlMs: number,
  now: Date,
): Promise<LeaseHolding | null> {
  const expiresAt = new Date(now.getTime() + ttlMs);
  const renewed = await MailboxLease.findOneAndUpdate(
    { _id: key, holder },
    { $set: { expiresAt } },
    { returnDocument: 'after' },
  ).lean();
  if (renewed) return { fence: renewed.fence ?? 0, expiresAt };
  try {
    const taken = await MailboxLease.findOneAndUpdate(
      { _id: key, expiresAt: { $lte: now } },
      { $set: { holder, expiresAt }, $inc: { fence: 1 } },
      { returnDocument: 'after', upsert: true },
    ).lean();
    return taken ? { fence: taken.fence ?? 0, expiresAt } : null;
  } catch (err) {
    if (isDuplicateKey(err)) return null; // held and not expired: the upsert met its document
    throw err;
  }
}

/** Let a successor take over at once (a clean stop), if we still hold it. */
export async function releaseLease(key: string, holder: string): Promise<void> {
  await MailboxLease.updateOne({ _id: key, holder }, { $set: { expiresAt: new Date(0) } });
}

export async function listLeases() {
  const rows = await MailboxLease.find().lean();
  return rows.map((r) => ({
    key: String(r._id),
    holder: r.holder ?? '',
    fence: r.fence ?? 0,
    expiresAt: r.expiresAt ?? new Date(0),
  }));
}
