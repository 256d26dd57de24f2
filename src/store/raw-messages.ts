import type { Readable } from 'node:stream';
import { deleteBlob, putBlob } from './blobs.js';
import { isDuplicateKey } from './db.js';
import { RawMessage, type RawMessageDoc, type RawState } from './models.js';

export interface RawSource {
  mailbox: string;
  uidValidity: string;
  uid: number;
}

export interface StoreRawResult {
  rawId: string;
  state: RawState;
  /** false when the same bytes were already stored (a redelivery or a re-scan). */
  created: boolean;
}

/**
 * Store a message's bytes once, keyed by their sha256. The blob is written first and the
 * document second, so a document always points at complete bytes; a crash in between leaves
 * only an unreferenced blob, never a reference to a partial one.
 */
export async function storeRaw(
  bytes: Readable | Buffer,
  source: RawSource,
  options: { quarantineReason?: string; headersOnly?: boolean } = {},
): Promise<StoreRawResult> {
  const blob = await putBlob(bytes, {
    filename: `raw-${source.uid}.eml`,
    contentType: 'message/rfc822',
  });
  const quarantined = options.quarantineReason !== undefined;
  try {
    await RawMessage.create({
      _id: blob.sha256,
      size: blob.size,
      blobId: blob.blobId,
      headersOnly: options.headersOnly ?? false,
      state: quarantined ? 'quarantined' : 'stored',
      reason: options.quarantineReason,
      source,
      receivedAt: new Date(),
    });
    return { rawId: blob.sha256, state: quarantined ? 'quarantined' : 'stored', created: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    await deleteBlob(blob.blobId);
    const existing = await RawMessage.findById(blob.sha256, { state: 1 }).lean();
    return { rawId: blob.sha256, state: existing?.state ?? 'stored', created: false };
  }
}

export async function getRaw(rawId: string): Promise<RawMessageDoc | null> {
  return RawMessage.findById(rawId).lean<RawMessageDoc>();
}

export async function markIngested(
  rawId: string,
  incidentNumber: number | undefined,
  kind: string,
) {
  await RawMessage.updateOne(
    { _id: rawId },
    { $set: { state: 'ingested', incidentNumber, kind, processedAt: new Date() } },
  );
}

/** Keep the message, set aside with the reason; an operator can inspect or re-run it. */
export async function quarantineRaw(rawId: string, reason: string) {
  await RawMessage.updateOne(
    { _id: rawId },
    { $set: { state: 'quarantined', reason, processedAt: new Date() } },
  );
}

export async function countRawByState(): Promise<Record<string, number>> {
  const rows = await RawMessage.aggregate<{ _id: string; n: number }>([
    { $group: { _id: '$state', n: { $sum: 1 } } },
  ]);
  return Object.fromEntries(rows.map((r) => [r._id, r.n]));
}

export async function listQuarantined(limit = 100) {
  return RawMessage.find({ state: 'quarantined' })
    .sort({ receivedAt: -1 })
    .limit(limit)
    .lean<RawMessageDoc[]>();
}
