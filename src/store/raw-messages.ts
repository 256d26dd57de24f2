import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { INLINE_RAW_MAX_BYTES } from '../constants.js';
import { deleteBlob, openBlob, putBlob, type BlobId } from './blobs.js';
import { duplicateKeyFailures, isDuplicateKey, sharedCall, sharedSetById } from './db.js';
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

/** What the intake hands over for one message. */
export interface RawInput {
  bytes: Buffer;
  source: RawSource;
  /** Set aside at once, with the reason (an oversized message's header block). */
  quarantineReason?: string;
  headersOnly?: boolean;
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
  if (Buffer.isBuffer(bytes) && bytes.length <= INLINE_RAW_MAX_BYTES)
    return (await storeRawMany([{ bytes, source, ...options }]))[0]!;
  const content = await putBlob(bytes, {
    filename: `raw-${source.uid}.eml`,
    contentType: 'message/rfc822',
  });
  const doc = rawDocument({ ...content, source, ...options });
  try {
    await RawMessage.create(doc);
    return { rawId: content.sha256, state: doc.state, created: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    await deleteBlob(content.blobId);
    return (await storedStates([content.sha256]))[0]!;
  }
}

/**
 * Store a sync batch's messages: all those small enough to live inside their documents in one
 * unordered insert, with no look-up first. A duplicate key (the same bytes stored before: a
 * redelivery, a re-scan after a crash) fails that document alone, and only then is its state
 * read, the batch's duplicates in one query. Larger messages go one by one through storeRaw.
 * Results are in the order of `items`.
 */
export async function storeRawMany(items: RawInput[]): Promise<StoreRawResult[]> {
  const results: StoreRawResult[] = [];
  const inline: { at: number; doc: ReturnType<typeof rawDocument> }[] = [];
  for (const [at, item] of items.entries()) {
    if (item.bytes.length > INLINE_RAW_MAX_BYTES) {
      results[at] = await storeRaw(item.bytes, item.source, item);
      continue;
    }
    const sha256 = createHash('sha256').update(item.bytes).digest('hex');
    inline.push({
      at,
      doc: rawDocument({ sha256, size: item.bytes.length, data: item.bytes, ...item }),
    });
  }
  if (inline.length === 0) return results;
  let duplicates: number[] = [];
  try {
    await RawMessage.insertMany(
      inline.map((i) => i.doc),
      { ordered: false, lean: true },
    );
  } catch (err) {
    // Stored before (a duplicate key): its state is read below, paired by ascending index with
    // the batch. Any other failure is thrown.
    duplicates = duplicateKeyFailures(err, inline.length) ?? [];
    if (duplicates.length === 0) throw err;
  }
  const dup = new Set(duplicates);
  const states = await storedStates(duplicates.map((k) => inline[k]!.doc._id));
  inline.forEach(({ at, doc }, k) => {
    results[at] = dup.has(k)
      ? states.shift()!
      : { rawId: doc._id, state: doc.state, created: true };
  });
  return results;
}

function rawDocument(c: {
  sha256: string;
  size: number;
  data?: Buffer;
  blobId?: BlobId;
  source: RawSource;
  quarantineReason?: string;
  headersOnly?: boolean;
}) {
  return {
    _id: c.sha256,
    size: c.size,
    data: c.data,
    blobId: c.blobId,
    headersOnly: c.headersOnly ?? false,
    state: (c.quarantineReason === undefined ? 'stored' : 'quarantined') as RawState,
    reason: c.quarantineReason,
    source: c.source,
    receivedAt: new Date(),
  };
}

/** The stored state of messages found already there, in the order asked. */
async function storedStates(ids: string[]): Promise<StoreRawResult[]> {
  if (ids.length === 0) return [];
  const docs = await RawMessage.find({ _id: { $in: ids } }, { state: 1 }).lean<
    { _id: string; state: RawState }[]
  >();
  const state = new Map(docs.map((d) => [d._id, d.state]));
  return ids.map((id) => ({ rawId: id, state: state.get(id) ?? 'stored', created: false }));
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

/** A stored message. The ingest jobs of a process that ask at once share one `find`. */
export const getRaw: (rawId: string) => Promise<RawMessageDoc | null> = sharedCall(
  'RawMessage.get',
  async (ids: string[]) => {
    const docs = await RawMessage.find({ _id: { $in: ids } }).lean<RawMessageDoc[]>();
    const byId = new Map(docs.map((d) => [d._id, d]));
    return ids.map((id) => byId.get(id) ?? null);
  },
);

/** Done with: the ingest jobs of a process that finish at once share one `bulkWrite`. */
export function markIngested(
  rawId: string,
  incidentNumber: number | undefined,
  kind: string,
): Promise<void> {
  return setRaw(rawId, { state: 'ingested', incidentNumber, kind, processedAt: new Date() });
}

const setRaw = sharedSetById(RawMessage);

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
