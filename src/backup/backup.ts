/**
 * `incidesk backup` and `incidesk restore`: the whole database to one verified archive, and
 * back into an empty database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type mongoose from 'mongoose';
import { buildManifest, fileForCollection, type Manifest } from '../domain/manifest.js';
import { lines, openArchive, verifyArchiveFile, writeArchive } from './archive.js';
import {
  dumpCollection,
  estimateCounts,
  hashCollection,
  listCollectionNames,
  nonEmptyCollections,
  restoreCollection,
} from './snapshot.js';

type Db = mongoose.mongo.Db;

/** Progress of one phase in documents; the CLI renders it as a bar or as log lines. */
export interface Progress {
  phase(name: string, total: number): void;
  advance(n: number, detail?: string): void;
  done(): void;
}

export const silentProgress: Progress = { phase() {}, advance() {}, done() {} };

export const CONSISTENCY =
  'online: each collection is read separately in _id order while the system runs (not a ' +
  'point-in-time snapshot); GridFS collections are read last so every archived reference has ' +
  'its bytes. Writes are idempotent on deterministic _ids, so after a restore the recovery ' +
  'sweep of `incidesk start` re-runs whatever was unfinished.';

/** How many of the non-empty collections a refused restore names. */
const NOT_EMPTY_NAMES_SHOWN = 40;

/** The database is not empty: a restore would mix two histories (exit 73). */
export class NotEmptyError extends Error {
  override readonly name = 'NotEmptyError';
  constructor(readonly collections: string[]) {
    const shown = collections.slice(0, NOT_EMPTY_NAMES_SHOWN).join(', ');
    const more = collections.length - NOT_EMPTY_NAMES_SHOWN;
    super(
      `refusing to restore into a non-empty database (${collections.length} collection(s) hold ` +
        `documents: ${shown}${more > 0 ? `, and ${more} more` : ''}); ` +
        'restore into a new database or drop this one first',
    );
  }
}

/** After a restore the database does not match the manifest (exit 65). */
export class RestoreMismatchError extends Error {
  override readonly name = 'RestoreMismatchError';
}

export interface BackupResult {
  out: string;
  bytes: number;
  sha256: string;
  manifest: Manifest;
  ms: number;
}

export async function backupDatabase(
  db: Db,
  out: string,
  progress: Progress = silentProgress,
  now = () => new Date(),
): Promise<BackupResult> {
  const started = Date.now();
  const createdAt = now().toISOString();
  const names = await listCollectionNames(db);
  // Next to the output, not in /tmp: the dump is as large as the database and /tmp may be small.
  const work = await mkdtemp(join(dirname(out), '.incidesk-backup-')).catch(() =>
    mkdtemp(join(tmpdir(), 'incidesk-backup-')),
  );
  try {
    progress.phase('backup', await estimateCounts(db, names));
    const collections = [];
    const files = [];
    for (const [i, name] of names.entries()) {
      const path = join(work, `${i}.ejsonl`);
      const seen = await dumpCollection(db, name, path, (n) => progress.advance(n, name));
      const file = fileForCollection(name);
      collections.push({ name, file, ...seen });
      files.push({ name: file, path });
    }
    progress.done();
    const manifest = buildManifest({
      createdAt,
      database: db.databaseName,
      consistency: CONSISTENCY,
      collections,
    });
    const written = await writeArchive(out, manifest, files);
    return { out, ...written, manifest, ms: Date.now() - started };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface RestoreResult {
  manifest: Manifest;
  restored: boolean;
  documents: number;
  ms: { verify: number; restore: number; recheck: number };
}

const totalDocs = (m: Manifest) => m.collections.reduce((s, c) => s + c.count, 0);

/**
 * Verify the whole archive, refuse a non-empty database, insert everything, then check the
 * database against the manifest. Nothing is written before the archive has proved intact.
 */
export async function restoreDatabase(
  db: Db,
  file: string,
  options: { verifyOnly?: boolean; progress?: Progress } = {},
): Promise<RestoreResult> {
  const progress = options.progress ?? silentProgress;
  let t = Date.now();
  progress.phase('verify', 0);
  const manifest = await verifyArchiveFile(file, (n) => progress.advance(n));
  progress.done();
  const ms = { verify: Date.now() - t, restore: 0, recheck: 0 };
  const documents = totalDocs(manifest);
  if (options.verifyOnly) return { manifest, restored: false, documents, ms };

  const busy = await nonEmptyCollections(db);
  if (busy.length) throw new NotEmptyError(busy);

  t = Date.now();
  progress.phase('restore', documents);
  const byFile = new Map(manifest.collections.map((c) => [c.file, c]));
  const { entries } = await openArchive(file);
  for await (const entry of entries) {
    const collection = byFile.get(entry.name)!;
    await restoreCollection(db, collection.name, lines(entry.body), (n) =>
      progress.advance(n, collection.name),
    );
  }
  progress.done();
  ms.restore = Date.now() - t;

  t = Date.now();
  progress.phase('recheck', documents);
  const problems: string[] = [];
  for (const c of manifest.collections) {
    const now = await hashCollection(db, c.name, (n) => progress.advance(n, c.name));
    if (now.count !== c.count)
      problems.push(`${c.name}: ${now.count} documents, expected ${c.count}`);
    else if (now.contentSha256 !== c.contentSha256)
      problems.push(`${c.name}: content hash mismatch`);
  }
  progress.done();
  ms.recheck = Date.now() - t;
  if (problems.length)
    throw new RestoreMismatchError(
      `restored database differs from the archive:\n  - ${problems.join('\n  - ')}`,
    );
  return { manifest, restored: true, documents, ms };
}

/** Count and content hash of every collection now: what a restore drill compares. */
export async function databaseDigest(
  db: Db,
): Promise<Record<string, { count: number; contentSha256: string }>> {
  const out: Record<string, { count: number; contentSha256: string }> = {};
  for (const name of await listCollectionNames(db)) out[name] = await hashCollection(db, name);
  return out;
}
