/**
 * Content-addressed bytes (raw messages, attachments) in GridFS: out of the documents, streamed
 * in and out so a 25 MB attachment never sits in memory whole.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mongoose from 'mongoose';
import { BLOB_CHUNK_BYTES } from '../constants.js';
import { sha256Tap } from '../sha256-tap.js';
import { db } from './db.js';

export type BlobId = mongoose.Types.ObjectId;
export interface StoredBlob {
  blobId: BlobId;
  sha256: string;
  size: number;
}

const BUCKET = 'blobs';

function bucket() {
  return new mongoose.mongo.GridFSBucket(db(), {
    bucketName: BUCKET,
    chunkSizeBytes: BLOB_CHUNK_BYTES,
  });
}

/** Stream bytes into the blob store, hashing on the way. */
export async function putBlob(
  input: Readable | Buffer,
  meta: { filename: string; contentType?: string },
): Promise<StoredBlob> {
  const tap = sha256Tap();
  const upload = bucket().openUploadStream(meta.filename, {
    metadata: { contentType: meta.contentType },
  });
  const source = Buffer.isBuffer(input) ? Readable.from([input]) : input;
  await pipeline(source, tap.stream, upload);
  const { sha256, bytes } = tap.result();
  return { blobId: upload.id, sha256, size: bytes };
}

/**
 * Read a blob chunk by chunk. The driver's GridFS stream asks for large cursor batches (up to
 * 16 MB of chunks at once); a batch of two keeps a 25 MB attachment from sitting in memory.
 * With `expectedSize`, a blob that ends early (chunks missing at the end, or all of them) is
 * an error rather than silently shorter bytes.
 */
export function openBlob(blobId: BlobId, expectedSize?: number): Readable {
  const chunks = db()
    .collection<{ files_id: BlobId; n: number; data: { buffer: Uint8Array } }>(`${BUCKET}.chunks`)
    .find({ files_id: blobId }, { sort: { n: 1 }, batchSize: 2, projection: { n: 1, data: 1 } });
  return Readable.from(
    (async function* () {
      let expected = 0;
      let read = 0;
      for await (const chunk of chunks) {
        if (chunk.n !== expected)
          throw new Error(`blob ${String(blobId)}: chunk ${expected} is missing`);
        expected++;
        const bytes = Buffer.from(chunk.data.buffer);
        read += bytes.length;
        yield bytes;
      }
      if (expectedSize !== undefined && read !== expectedSize)
        throw new Error(`blob ${String(blobId)}: ${read} of ${expectedSize} bytes could be read`);
    })(),
  );
}

export async function readBlob(blobId: BlobId): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of openBlob(blobId)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function deleteBlob(blobId: BlobId): Promise<void> {
  await bucket().delete(blobId);
}
