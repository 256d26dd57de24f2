/**
 * The backup file: a gzipped ustar of manifest.json (first) and one EJSON-lines file per
 * collection, written and read as streams so no collection is ever held in memory whole.
 * A `<file>.sha256` next to it (sha256sum format) covers the compressed bytes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import {
  canonicalLine,
  contentHasher,
  MANIFEST_NAME,
  parseManifest,
  verifyArchive,
  type Manifest,
  type ObservedFile,
} from '../domain/manifest.js';
import { BLOCK, decodeHeader, encodeHeader, END_OF_ARCHIVE, paddingFor } from '../domain/tar.js';
import { sha256Tap } from '../sha256-tap.js';

/** The archive is damaged, incomplete or not ours (exit 65, EX_DATAERR). */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
  constructor(readonly problems: string[]) {
    super(`the archive failed verification:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface ArchiveFile {
  name: string;
  path: string;
}

/**
 * Write manifest + files as a .tar.gz. Written to `<out>.partial` and renamed at the end, so
 * a killed backup never leaves a file that looks complete.
 */
export async function writeArchive(
  out: string,
  manifest: Manifest,
  files: readonly ArchiveFile[],
): Promise<{ bytes: number; sha256: string }> {
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const mtime = new Date(manifest.createdAt);
  async function* tar() {
    yield encodeHeader({ name: MANIFEST_NAME, size: manifestBytes.length, mtime });
    yield manifestBytes;
    yield Buffer.alloc(paddingFor(manifestBytes.length));
    for (const f of files) {
      const { size } = await stat(f.path);
      yield encodeHeader({ name: f.name, size, mtime });
      for await (const chunk of createReadStream(f.path)) yield chunk as Buffer;
      yield Buffer.alloc(paddingFor(size));
    }
    yield END_OF_ARCHIVE;
  }
  const tap = sha256Tap();
  const partial = `${out}.partial`;
  await pipeline(
    Readable.from(tar()),
    createGzip({ level: 6 }),
    tap.stream,
    createWriteStream(partial),
  );
  const { sha256, bytes } = tap.result();
  await rename(partial, out);
  await writeFile(`${out}.sha256`, `${sha256}  ${basename(out)}\n`);
  return { bytes, sha256 };
}

/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.source.next();
      } catch (err) {
        // zlib: bad CRC, invalid data, unexpected end of file.
        throw new ArchiveError([`archive unreadable: ${(err as Error).message}`]);
      }
      if (next.done) this.done = true;
      else {
        this.buffered.push(next.value);
        this.length += next.value.length;
      }
    }
    return this.length >= n;
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    this.buffered = all.length > n ? [all.subarray(n)] : [];
    this.length = all.length - n;
    return all.subarray(0, n);
  }

  async read(n: number): Promise<Buffer | null> {
    return (await this.fill(n)) ? this.take(n) : null;
  }

  /**
   * Up to `n` bytes as they arrive, at most 1 MiB at a time; `left()` says how many of them
   * the consumer has not taken (it may stop early), so the caller can skip them.
   */
  stream(n: number): { body: AsyncGenerator<Buffer>; left: () => number } {
    let left = n;
    const body = async function* (this: ByteReader) {
      while (left > 0) {
        if (this.length === 0 && !(await this.fill(1)))
          throw new ArchiveError(['archive truncated']);
        const take = Math.min(left, this.length, 1 << 20);
        left -= take;
        yield this.take(take);
      }
    }.call(this);
    return { body, left: () => left };
  }

  async skip(n: number): Promise<void> {
    for await (const chunk of this.stream(n).body) void chunk;
  }
}

export interface ArchiveEntry {
  name: string;
  size: number;
  /** Must be consumed (or `skip`ped) before the next entry is read. */
  body: AsyncGenerator<Buffer>;
}

/** The entries of a backup file, in order. Damage surfaces as ArchiveError. */
export async function* readArchive(path: string): AsyncGenerator<ArchiveEntry> {
  const gunzip = createReadStream(path).pipe(createGunzip());
  const reader = new ByteReader(gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  try {
    for (;;) {
      const block = await reader.read(BLOCK);
      if (!block) throw new ArchiveError(['archive truncated (no end-of-archive marker)']);
      const header = decodeHeader(block);
      if (!header) return;
      const { body, left } = reader.stream(header.size);
      yield { name: header.name, size: header.size, body };
      await reader.skip(left()); // whatever the consumer left unread
      const pad = paddingFor(header.size);
      if (pad && !(await reader.read(pad))) throw new ArchiveError(['archive truncated']);
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    // Tar header errors (bad checksum, unknown type): the file is damaged.
    throw new ArchiveError([(err as Error).message]);
  } finally {
    gunzip.destroy();
  }
}

/** Split a byte stream into lines (UTF-8, `\n`-terminated). */
export async function* lines(body: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of body) {
    let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let nl: number;
    while ((nl = data.indexOf(0x0a)) !== -1) {
      yield data.subarray(0, nl).toString('utf8');
      data = data.subarray(nl + 1);
    }
    rest = Buffer.from(data);
  }
  if (rest.length) yield rest.toString('utf8');
}

async function readManifest(entry: ArchiveEntry | undefined): Promise<Manifest> {
  if (!entry || entry.name !== MANIFEST_NAME)
    throw new ArchiveError([`${MANIFEST_NAME} must be the first entry of the archive`]);
  const chunks: Buffer[] = [];
  for await (const c of entry.body) chunks.push(c);
  const { manifest, problems } = parseManifest(Buffer.concat(chunks).toString('utf8'));
  if (!manifest || problems.length) throw new ArchiveError(problems);
  return manifest;
}

/** Hash and count one collection file as it streams past. */
async function observe(
  body: AsyncIterable<Buffer>,
  onDocs: (n: number) => void,
): Promise<ObservedFile> {
  const fileHash = createHash('sha256');
  let bytes = 0;
  const hashed = (async function* () {
    for await (const chunk of body) {
      fileHash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  })();
  const content = contentHasher();
  let bad = 0;
  for await (const line of lines(hashed)) {
    try {
      content.add(canonicalLine(line));
    } catch {
      bad++;
      content.add(`!${line}`);
    }
    onDocs(1);
  }
  const { count, contentSha256 } = content.result();
  return {
    bytes,
    sha256: fileHash.digest('hex'),
    count,
    contentSha256: bad ? `unparseable-lines-${bad}` : contentSha256,
  };
}

/** The sidecar checksum, when present, must match the compressed file. */
async function checkSidecar(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(`${path}.sha256`, 'utf8');
  } catch {
    return [];
  }
  const expected = text.trim().split(/\s+/)[0];
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex') === expected
    ? []
    : [`${basename(path)}.sha256 does not match the file`];
}

/**
 * Read the whole archive and check every checksum and count against the manifest. Throws
 * ArchiveError listing every problem; returns the manifest when the archive is intact.
 */
export async function verifyArchiveFile(
  path: string,
  onDocs: (n: number) => void = () => undefined,
): Promise<Manifest> {
  const problems = await checkSidecar(path);
  let manifest: Manifest;
  const observed = new Map<string, ObservedFile>();
  try {
    const entries = readArchive(path);
    manifest = await readManifest((await entries.next()).value || undefined);
    for await (const entry of entries) {
      if (observed.has(entry.name)) problems.push(`${entry.name}: twice in the archive`);
      observed.set(entry.name, await observe(entry.body, onDocs));
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw new ArchiveError([...problems, ...err.problems]);
    throw err;
  }
  problems.push(...verifyArchive(manifest, observed));
  if (problems.length) throw new ArchiveError(problems);
  return manifest;
}

/** The manifest, then each collection file's lines, for a restore (after verification). */
export async function openArchive(path: string) {
  const entries = readArchive(path);
  const manifest = await readManifest((await entries.next()).value || undefined);
  return { manifest, entries };
}
