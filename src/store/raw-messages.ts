import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { INLINE_RAW_MAX_BYTES } from '../constants.js';
import { deleteBlob, openBlob, putBlob, type BlobId } from './blobs.js';
import { isDuplicateKey } from './db.js';
import { RawMessage, type RawMessageDoc, type RawState } from './models.js';

export interface RawSource {
  /** The support address whose mailbox it came in by: its incident answers from there. */
  address?: string;
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
 * Store a message's bytes once, keyed by their sha256. Small messages (the vast majority)
 * live inside their document: one write, one read. Larger ones go to the blob store first and
 * the document second, so a document always points at complete bytes; a crash in between
 * leaves only an unreferenced blob, never a reference to a partial one.
 */
export async function storeRaw(
  bytes: Readable | Buffer,
  source: RawSource,
  options: { quarantineReason?: string; headersOnly?: boolean } = {},
): Promise<StoreRawResult> {
  const quarantined = options.quarantineReason !== undefined;
  const state: RawState = quarantined ? 'quarantined' : 'stored';
  let content: { sha256: string; size: number; data?: Buffer; blobId?: BlobId };
  if (Buffer.isBuffer(bytes) && bytes.length <= INLINE_RAW_MAX_BYTES) {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = await RawMessage.findById(sha256, { state: 1 }).lean();
    if (existing) return { rawId: sha256, state: existing.state, created: false };
    content = { sha256, size: bytes.length, data: bytes };
  } else {
    content = await putBlob(bytes, {
      filename: `raw-${source.uid}.eml`,
      contentType: 'message/rfc822',
    });
  }
  try {
    await RawMessage.create({
      _id: content.sha256,
      size: content.size,
      data: content.data,
      blobId: content.blobId,
      headersOnly: options.headersOnly ?? false,
      state,
      reason: options.quarantineReason,
      source,
      receivedAt: new Date(),
    });
    return { rawId: content.sha256, state, created: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    if (content.blobId) await deleteBlob(content.blobId);
    const existing = await RawMessage.findById(content.sha256, { state: 1 }).lean();
    return { rawId: content.sha256, state: existing?.state ?? 'stored', created: false };
  }
}

/** Where a raw message's bytes are: inline (a Buffer, or BSON Binary from a lean read) or a blob. */
type RawBytesRef = {
  data?: Buffer | { buffer: Uint8Array } | null;
  blobId?: BlobId | null;
  size?: number | null;
};

/** The raw bytes of a stored message, wherever they are kept. */
export function openRaw(raw: RawBytesRef): Readable {
  if (raw.data)
    return Readable.from([Buffer.isBuffer(raw.data) ? raw.data : Buffer.from(raw.data.buffer)]);
  if (!raw.blobId) throw new Error('raw message has neither inline bytes nor a blob');
  return openBlob(raw.blobId, raw.size ?? undefined);
}

export async function readRaw(raw: RawBytesRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of openRaw(raw)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
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
