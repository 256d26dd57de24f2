/**
 * The backup manifest: what an archive must contain, and the checks that prove it does.
 * Pure: the archive reader feeds it what it observed (src/backup/archive.ts).
 */
import { createHash } from 'node:crypto';

export const MANIFEST_NAME = 'manifest.json';
export const FORMAT = 'incidesk-backup';
export const FORMAT_VERSION = 1;

export interface CollectionEntry {
  /** The database collection, restored under the same name. */
  name: string;
  /** Its file in the archive: EJSON (canonical mode), one document per line, in `_id` order. */
  file: string;
  count: number;
  bytes: number;
  /** sha256 of the file's bytes. */
  sha256: string;
  /** sha256 of the documents in canonical form (see `canonicalLine`), independent of key order. */
  contentSha256: string;
}

export interface Manifest {
  format: typeof FORMAT;
  formatVersion: number;
  createdAt: string;
  database: string;
  /** How the snapshot was taken, for whoever reads the archive years later. */
  consistency: string;
  collections: CollectionEntry[];
  /** sha256 over the canonical form of everything above: a tampered manifest fails it. */
  archiveSha256: string;
}

/** What the reader saw for one file of the archive. */
export interface ObservedFile {
  bytes: number;
  sha256: string;
  count: number;
  contentSha256: string;
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** JSON with object keys sorted at every depth: equal values, equal text. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/**
 * One document's canonical form, from its canonical-EJSON line: type wrappers ($numberInt,
 * $date, $binary…) keep every BSON type apart, sorted keys make field order irrelevant.
 */
export function canonicalLine(ejsonLine: string): string {
  return stableStringify(JSON.parse(ejsonLine));
}

/** Incremental content hash of a collection: feed canonical lines in `_id` order. */
export function contentHasher() {
  const hash = createHash('sha256');
  let count = 0;
  return {
    add(canonical: string) {
      hash.update(canonical);
      hash.update('\n');
      count++;
    },
    result: () => ({ count, contentSha256: hash.digest('hex') }),
  };
}

function archiveDigest(m: Omit<Manifest, 'archiveSha256'>): string {
  return sha256(stableStringify(m));
}

export function buildManifest(m: Omit<Manifest, 'archiveSha256' | 'format' | 'formatVersion'>) {
  const body = { format: FORMAT, formatVersion: FORMAT_VERSION, ...m } as const;
  return { ...body, archiveSha256: archiveDigest(body) } satisfies Manifest;
}

/** Parse and check the manifest itself; returns problems instead of throwing. */
export function parseManifest(text: string): { manifest?: Manifest; problems: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problems: ['manifest.json is not valid JSON'] };
  }
  const m = raw as Partial<Manifest>;
  const problems: string[] = [];
  if (m.format !== FORMAT) problems.push(`not an incidesk backup (format ${String(m.format)})`);
  if (m.formatVersion !== FORMAT_VERSION)
    problems.push(`unsupported format version ${String(m.formatVersion)}`);
  if (!Array.isArray(m.collections)) problems.push('manifest lists no collections');
  if (problems.length) return { problems };
  const { archiveSha256, ...body } = m as Manifest;
  if (archiveDigest(body) !== archiveSha256)
    problems.push('manifest checksum mismatch (archiveSha256)');
  const files = m.collections!.map((c) => c.file);
  if (new Set(files).size !== files.length) problems.push('manifest lists a file twice');
  return { manifest: m as Manifest, problems };
}

/** Compare what the archive holds with what its manifest promises; [] means intact. */
export function verifyArchive(
  manifest: Manifest,
  observed: ReadonlyMap<string, ObservedFile>,
): string[] {
  const problems: string[] = [];
  const listed = new Set(manifest.collections.map((c) => c.file));
  for (const c of manifest.collections) {
    const seen = observed.get(c.file);
    if (!seen) {
      problems.push(`${c.file}: missing from the archive`);
      continue;
    }
    if (seen.bytes !== c.bytes)
      problems.push(`${c.file}: ${seen.bytes} bytes, expected ${c.bytes}`);
    if (seen.sha256 !== c.sha256) problems.push(`${c.file}: sha256 mismatch`);
    if (seen.count !== c.count)
      problems.push(`${c.file}: ${seen.count} documents, expected ${c.count}`);
    if (seen.contentSha256 !== c.contentSha256) problems.push(`${c.file}: content hash mismatch`);
  }
  for (const file of observed.keys())
    if (!listed.has(file)) problems.push(`${file}: in the archive but not in the manifest`);
  return problems;
}

/** The archive file for a collection: names are kept readable, anything odd is escaped. */
export function fileForCollection(name: string): string {
  return `collections/${encodeURIComponent(name)}.ejsonl`;
}
