/**
 * A minimal POSIX ustar codec: regular files only, which is all a backup archive holds.
 * Pure (buffers in, buffers out); the streaming around it is in src/backup/archive.ts.
 */
export const BLOCK = 512;

export class TarError extends Error {
  override readonly name = 'TarError';
}

export interface TarHeader {
  name: string;
  size: number;
  mtime: Date;
}

const NAME_MAX = 100;
const PREFIX_MAX = 155;

function writeString(block: Buffer, value: string, offset: number, length: number) {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new TarError(`tar field too long: ${value}`);
  bytes.copy(block, offset);
}

/** Octal, zero-padded, NUL-terminated: the portable encoding every tar reads. */
function writeOctal(block: Buffer, value: number, offset: number, length: number) {
  const digits = Math.floor(value).toString(8);
  if (digits.length > length - 1) throw new TarError(`tar number too large: ${value}`);
  writeString(block, `${digits.padStart(length - 1, '0')}\0`, offset, length);
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function readOctal(block: Buffer, offset: number, length: number): number {
  const text = readString(block, offset, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new TarError(`bad octal field "${text}"`);
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksum(block: Buffer): number {
  let sum = 0;
  // The checksum field itself counts as eight spaces.
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

/** Split a path into ustar's prefix/name so paths up to 255 bytes fit. */
function splitName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= NAME_MAX) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= PREFIX_MAX && Buffer.byteLength(rest) <= NAME_MAX)
      return { prefix, name: rest };
  }
  throw new TarError(`path too long for ustar: ${name}`);
}

export function encodeHeader(header: TarHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  const { prefix, name } = splitName(header.name);
  writeString(block, name, 0, NAME_MAX);
  writeOctal(block, 0o644, 100, 8); // mode
  writeOctal(block, 0, 108, 8); // uid
  writeOctal(block, 0, 116, 8); // gid
  writeOctal(block, header.size, 124, 12);
  writeOctal(block, Math.floor(header.mtime.getTime() / 1000), 136, 12);
  block[156] = 0x30; // '0': regular file
  writeString(block, 'ustar\0', 257, 6);
  writeString(block, '00', 263, 2);
  writeString(block, prefix, 345, PREFIX_MAX);
  writeString(block, `${checksum(block).toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

/** null for an all-zero block (the end-of-archive marker); throws on a damaged header. */
export function decodeHeader(block: Buffer): TarHeader | null {
  if (block.length !== BLOCK) throw new TarError('truncated tar header');
  if (block.every((b) => b === 0)) return null;
  const stored = readOctal(block, 148, 8);
  if (stored !== checksum(block)) throw new TarError('tar header checksum mismatch');
  if (readString(block, 257, 6) !== 'ustar') throw new TarError('not a ustar header');
  const type = block[156];
  if (type !== 0x30 && type !== 0) throw new TarError(`unsupported tar entry type ${type}`);
  const prefix = readString(block, 345, PREFIX_MAX);
  const name = readString(block, 0, NAME_MAX);
  return {
    name: prefix ? `${prefix}/${name}` : name,
    size: readOctal(block, 124, 12),
    mtime: new Date(readOctal(block, 136, 12) * 1000),
  };
}

/** Zero bytes after an entry's data up to the next block boundary. */
export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** A whole archive in memory: for tests and small payloads. */
export function encodeTar(
  entries: readonly { name: string; data: Buffer; mtime?: Date }[],
): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeHeader({ name: e.name, size: e.data.length, mtime: e.mtime ?? new Date(0) }));
    parts.push(e.data, Buffer.alloc(paddingFor(e.data.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

export function decodeTar(tar: Buffer): { header: TarHeader; data: Buffer }[] {
  const out: { header: TarHeader; data: Buffer }[] = [];
  let at = 0;
  for (;;) {
    if (at + BLOCK > tar.length) throw new TarError('tar archive ends without its end marker');
    const header = decodeHeader(tar.subarray(at, at + BLOCK));
    if (!header) return out;
    at += BLOCK;
    if (at + header.size > tar.length) throw new TarError(`tar entry ${header.name} is truncated`);
    out.push({ header, data: tar.subarray(at, at + header.size) });
    at += header.size + paddingFor(header.size);
  }
}
