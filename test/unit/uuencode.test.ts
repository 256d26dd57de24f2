import { describe, expect, it } from 'vitest';
import { decodeUuencoded, extractUuencodedBlocks } from '../../src/domain/uuencode.js';

/** A reference encoder: 45 bytes per line, backtick for zero, groups padded to 4 characters. */
function uuencode(
  data: Buffer,
  name: string,
  opts: { mode?: string; eol?: string; zero?: '`' | ' '; padGroups?: boolean } = {},
): string {
  const eol = opts.eol ?? '\n';
  const zero = opts.zero ?? '`';
  const ch = (v: number) => (v === 0 ? zero : String.fromCharCode(0x20 + v));
  const lines = [`begin ${opts.mode ?? '644'} ${name}`];
  for (let off = 0; off < data.length; off += 45) {
    const chunk = data.subarray(off, off + 45);
    let line = ch(chunk.length);
    for (let i = 0; i < chunk.length; i += 3) {
      const [a = 0, b = 0, c = 0] = [chunk[i], chunk[i + 1], chunk[i + 2]];
      const quad = [a >> 2, ((a & 3) << 4) | (b >> 4), ((b & 15) << 2) | (c >> 6), c & 63];
      const used =
        opts.padGroups === false ? Math.min(4, Math.ceil(((chunk.length - i) * 4) / 3)) : 4;
      line += quad.slice(0, used).map(ch).join('');
    }
    lines.push(line);
  }
  lines.push(ch(0), 'end');
  return lines.join(eol) + eol;
}

/** Deterministic bytes covering every value (xorshift32). */
function bytes(n: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe('decodeUuencoded', () => {
  it('round-trips binary data of every length modulo 3 and 45', () => {
    for (const n of [0, 1, 2, 3, 44, 45, 46, 89, 90, 91, 1000, 2431, 4096 + 1]) {
      const data = bytes(n, n + 1);
      const decoded = decodeUuencoded(uuencode(data, 'blob.bin'));
      expect(decoded, `length ${n}`).not.toBeNull();
      expect(decoded!.data.equals(data), `length ${n}`).toBe(true);
      expect(decoded!.filename).toBe('blob.bin');
      expect(decoded!.mode).toBe('644');
    }
  });

  it('decodes all 256 byte values and a length that is not a multiple of 3', () => {
    const data = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.from([0, 0xff, 0x7f]),
    ]);
    expect(data.length % 3).not.toBe(0);
    expect(decodeUuencoded(uuencode(data, 'all.bin'))!.data).toEqual(data);
  });

  it('tolerates CRLF, a space for zero, unpadded groups, stripped trailing spaces and trailing garbage', () => {
    const data = bytes(500, 7);
    expect(decodeUuencoded(uuencode(data, 'a.bin', { eol: '\r\n' }))!.data).toEqual(data);
    expect(decodeUuencoded(uuencode(data, 'a.bin', { zero: ' ' }))!.data).toEqual(data);
    expect(decodeUuencoded(uuencode(data, 'a.bin', { padGroups: false }))!.data).toEqual(data);
    const stripped = uuencode(Buffer.concat([data, Buffer.alloc(10)]), 'a.bin', { zero: ' ' })
      .split('\n')
      .map((l) => (l.startsWith('begin') ? l : l.trimEnd()))
      .join('\n');
    expect(decodeUuencoded(stripped)!.data).toEqual(Buffer.concat([data, Buffer.alloc(10)]));
    // Some encoders append a checksum character or a line number after the encoded data.
    const garbage = uuencode(data, 'a.bin')
      .split('\n')
      .map((l) => (l.startsWith('M') ? `${l}Z` : l))
      .join('\n');
    expect(decodeUuencoded(garbage)!.data).toEqual(data);
  });

  it('reads mode and file name from the begin line, without directories, spaces kept', () => {
    const r = decodeUuencoded(
      uuencode(Buffer.from('hi'), '/var/log/My Report.txt', { mode: '0600' }),
    )!;
    expect(r).toMatchObject({ mode: '0600', filename: 'My Report.txt' });
    expect(r.data.toString()).toBe('hi');
    expect(decodeUuencoded(uuencode(Buffer.from('x'), 'C:\\temp\\x.log'))!.filename).toBe('x.log');
  });

  it('decodes the classic "cat" example', () => {
    expect(decodeUuencoded('begin 644 cat.txt\n#0V%T\n`\nend\n')!.data.toString()).toBe('Cat');
  });

  it('finds the block inside surrounding text', () => {
    const text = `Hello,\n\n${uuencode(Buffer.from('payload'), 'p.txt')}\nBye\n`;
    expect(decodeUuencoded(text)!.data.toString()).toBe('payload');
  });

  it('returns null for a truncated block, damaged data, or no block', () => {
    const full = uuencode(bytes(300), 't.bin');
    const truncated = full.split('\n').slice(0, 4).join('\n');
    expect(decodeUuencoded(truncated)).toBeNull();
    expect(decodeUuencoded(full.replace(/\nend\n$/, '\n'))).toBeNull();
    const damaged = full.split('\n');
    damaged[2] = 'this is not uuencoded data at all, just prose';
    expect(decodeUuencoded(damaged.join('\n'))).toBeNull();
    expect(decodeUuencoded('no block here\nend\n')).toBeNull();
    expect(decodeUuencoded('')).toBeNull();
  });
});

describe('extractUuencodedBlocks', () => {
  it('cuts every block out of the text and returns the files in order', () => {
    const a = bytes(2431, 1);
    const b = Buffer.from('second file\n');
    const text = `Log attached.\r\n\r\n${uuencode(a, 'export-error.log', { eol: '\r\n' })}middle\r\n${uuencode(b, 'b.txt', { eol: '\r\n' })}-- \r\nroot\r\n`;
    const r = extractUuencodedBlocks(text);
    expect(r.files.map((f) => f.filename)).toEqual(['export-error.log', 'b.txt']);
    expect(r.files[0]!.data).toEqual(a);
    expect(r.files[1]!.data).toEqual(b);
    expect(r.text).toBe('Log attached.\r\n\r\nmiddle\r\n-- \r\nroot\r\n');
  });

  it('cuts a block at the very end of a text without a final line break', () => {
    const r = extractUuencodedBlocks(`see below\n${uuencode(Buffer.from('z'), 'z').trimEnd()}`);
    expect(r.text).toBe('see below\n');
    expect(r.files[0]!.data.toString()).toBe('z');
  });

  it('leaves a truncated block (and text without blocks) untouched', () => {
    const truncated = `Here:\n${uuencode(bytes(300), 't.bin').split('\n').slice(0, 4).join('\n')}\n`;
    expect(extractUuencodedBlocks(truncated)).toEqual({ text: truncated, files: [] });
    const plain = 'begin 644 is how the line starts\nbut nothing follows\n';
    expect(extractUuencodedBlocks(plain)).toEqual({ text: plain, files: [] });
  });

  it('skips a damaged block but still extracts a later good one', () => {
    const bad = 'begin 644 bad.bin\nnot data!\nend\n';
    const good = uuencode(Buffer.from('good'), 'good.bin');
    const r = extractUuencodedBlocks(`${bad}${good}`);
    expect(r.files.map((f) => f.filename)).toEqual(['good.bin']);
    expect(r.text).toBe(bad);
  });
});
