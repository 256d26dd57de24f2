import { MailboxState } from './models.js';

export interface MailboxCheckpoint {
  uidValidity: string;
  lastUid: number;
}

/**
 * The checkpoint for a mailbox under the server's current UIDVALIDITY. When UIDVALIDITY changed
 * every UID the server handed out before is void: start again from UID 1 and let the raw
 * store's content hash drop what was already taken in.
 */
export async function checkpointFor(
  key: string,
  uidValidity: string,
): Promise<MailboxCheckpoint & { reset: boolean }> {
  const current = await MailboxState.findById(key).lean();
  if (current && current.uidValidity === uidValidity) {
    return { uidValidity, lastUid: current.lastUid, reset: false };
  }
  await MailboxState.updateOne(
    { _id: key },
    { $set: { uidValidity, lastUid: 0 }, $inc: { resets: current ? 1 : 0 } },
    { upsert: true },
  );
  return { uidValidity, lastUid: 0, reset: current !== null };
}

/** Advance monotonically, and only within the UIDVALIDITY the UIDs belong to. */
export async function advanceCheckpoint(
  key: string,
  uidValidity: string,
  uid: number,
): Promise<void> {
  await MailboxState.updateOne(
    { _id: key, uidValidity },
    { $max: { lastUid: uid }, $set: { lastSyncAt: new Date() } },
  );
}

export async function touchCheckpoint(key: string): Promise<void> {
  await MailboxState.updateOne({ _id: key }, { $set: { lastSyncAt: new Date() } });
}

export async function listCheckpoints() {
  return MailboxState.find().lean();
}
