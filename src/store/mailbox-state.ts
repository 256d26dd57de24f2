import { isDuplicateKey } from './db.js';
import { MailboxState } from './models.js';

export interface MailboxCheckpoint {
  uidValidity: string;
  lastUid: number;
}

/** The intake no longer holds this mailbox's lease: a newer holder has written its fence. */
export class FencedOffError extends Error {
  override readonly name = 'FencedOffError';
}

/**
 * Writes go through only for the newest lease holder: `fence` is the holder's fencing number
 * (src/store/mailbox-lease.ts), and a checkpoint carries the highest one that wrote it. A
 * holder that was paused past its lease and wakes up finds a higher number and is refused.
 */
const fenced = (key: string, fence: number) => ({
  _id: key,
  $or: [{ fence: { $exists: false } }, { fence: { $lte: fence } }],
});

async function guarded(
  write: Promise<{ matchedCount: number; upsertedCount?: number }>,
  key: string,
  fence: number,
): Promise<void> {
  const refused = () =>
    new FencedOffError(`mailbox ${key}: a newer intake (fence above ${fence}) holds it`);
  const result = await write.catch((err: unknown) => {
    // An upsert whose filter the fence made miss collides with the existing document.
    throw isDuplicateKey(err) ? refused() : err;
  });
  if (result.matchedCount + (result.upsertedCount ?? 0) === 0) throw refused();
}

/** Claim the checkpoint for a new lease holder before it reads anything. */
export async function fenceCheckpoint(key: string, fence: number): Promise<void> {
  await guarded(
    MailboxState.updateOne(fenced(key, fence), { $set: { fence } }, { upsert: true }),
    key,
    fence,
  );
}

/**
 * The checkpoint for a mailbox under the server's current UIDVALIDITY. When UIDVALIDITY changed
 * every UID the server handed out before is void: start again from UID 1 and let the raw
 * store's content hash drop what was already taken in.
 */
export async function checkpointFor(
  key: string,
  uidValidity: string,
  fence: number,
): Promise<MailboxCheckpoint & { reset: boolean }> {
  const current = await MailboxState.findById(key).lean();
  if (current && current.uidValidity === uidValidity) {
    return { uidValidity, lastUid: current.lastUid, reset: false };
  }
  const seenBefore = Boolean(current?.uidValidity);
  await guarded(
    MailboxState.updateOne(fenced(key, fence), {
      $set: { uidValidity, lastUid: 0 },
      $inc: { resets: seenBefore ? 1 : 0 },
    }),
    key,
    fence,
  );
  return { uidValidity, lastUid: 0, reset: seenBefore };
}

/** Advance monotonically, and only within the UIDVALIDITY the UIDs belong to. */
export async function advanceCheckpoint(
  key: string,
  uidValidity: string,
  uid: number,
  fence: number,
): Promise<void> {
  await guarded(
    MailboxState.updateOne(
      { ...fenced(key, fence), uidValidity },
      { $max: { lastUid: uid }, $set: { lastSyncAt: new Date() } },
    ),
    key,
    fence,
  );
}

export async function touchCheckpoint(key: string, fence: number): Promise<void> {
  await guarded(
    MailboxState.updateOne(fenced(key, fence), { $set: { lastSyncAt: new Date() } }),
    key,
    fence,
  );
}

export async function listCheckpoints() {
  return MailboxState.find().lean();
}
