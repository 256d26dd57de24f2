/**
 * The database side of backup and restore: every collection, read in `_id` order as
 * canonical EJSON lines (every BSON type survives: ObjectId, Binary, Date, Int32/Int64/Double),
 * and bulk inserts back.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import mongoose from 'mongoose';
import { canonicalLine, contentHasher, type ObservedFile } from '../domain/manifest.js';

type Db = mongoose.mongo.Db;
type Doc = mongoose.mongo.Document;
const { EJSON } = mongoose.mongo.BSON;

export const RESTORE_BATCH = 2000;

/**
 * Every collection of the database, in the order a running system makes safe to read:
 * GridFS bytes last (`.files` before `.chunks`). A raw message or attachment written during
 * the backup then has its blob in the archive too (GridFS writes chunks, then the file
 * document); the opposite order could archive a reference to bytes it does not contain.
 */
export async function listCollectionNames(db: Db): Promise<string[]> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((n) => !n.startsWith('system.'));
  const rank = (n: string) => (n.endsWith('.chunks') ? 2 : n.endsWith('.files') ? 1 : 0);
  return names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Documents exactly as stored: no promotion of Int32/Long/Double/Binary to JS values. */
function scan(db: Db, name: string) {
  return db
    .collection(name)
    .find({}, { sort: { _id: 1 }, batchSize: 500, promoteValues: false, promoteBuffers: false });
}

const line = (doc: Doc) => EJSON.stringify(doc, { relaxed: false });

/** Write one collection as EJSON lines to `path`, hashing as it goes. */
export async function dumpCollection(
  db: Db,
  name: string,
  path: string,
  onDocs: (n: number) => void,
): Promise<ObservedFile> {
  const out = createWriteStream(path);
  const fileHash = createHash('sha256');
  const content = contentHasher();
  let bytes = 0;
  try {
    for await (const doc of scan(db, name)) {
      const text = line(doc);
      const data = Buffer.from(`${text}\n`);
      fileHash.update(data);
      bytes += data.length;
      content.add(canonicalLine(text));
      if (!out.write(data)) await once(out, 'drain');
      onDocs(1);
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return { bytes, sha256: fileHash.digest('hex'), ...content.result() };
}

/** The content hash of a collection as it is in the database now (same form as the manifest's). */
export async function hashCollection(db: Db, name: string, onDocs: (n: number) => void = () => {}) {
  const content = contentHasher();
  for await (const doc of scan(db, name)) {
    content.add(canonicalLine(line(doc)));
    onDocs(1);
  }
  return content.result();
}

/** Collections that hold at least one document. */
export async function nonEmptyCollections(db: Db): Promise<string[]> {
  const found: string[] = [];
  for (const name of await listCollectionNames(db)) {
    if (await db.collection(name).findOne({}, { projection: { _id: 1 } })) found.push(name);
  }
  return found;
}

/** Insert EJSON lines into a collection, RESTORE_BATCH documents per insertMany. */
export async function restoreCollection(
  db: Db,
  name: string,
  source: AsyncIterable<string>,
  onDocs: (n: number) => void,
): Promise<number> {
  const collection = db.collection(name);
  let batch: Doc[] = [];
  let count = 0;
  const flush = async () => {
    if (!batch.length) return;
    await collection.insertMany(batch, { ordered: true, checkKeys: false });
    onDocs(batch.length);
    count += batch.length;
    batch = [];
  };
  for await (const text of source) {
    batch.push(EJSON.parse(text, { relaxed: false }) as Doc);
    if (batch.length >= RESTORE_BATCH) await flush();
  }
  await flush();
  // An empty collection still exists after the restore, as it did before the backup.
  if (count === 0) await db.createCollection(name).catch(() => undefined);
  return count;
}

/** Rough totals for progress bars (estimatedDocumentCount is a metadata read, not a scan). */
export async function estimateCounts(db: Db, names: readonly string[]): Promise<number> {
  let total = 0;
  for (const name of names) total += await db.collection(name).estimatedDocumentCount();
  return total;
}
