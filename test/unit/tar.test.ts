import { describe, expect, it } from 'vitest';
import {
  BLOCK,
  decodeHeader,
  decodeTar,
  encodeHeader,
  encodeTar,
  paddingFor,
  TarError,
} from '../../src/domain/tar.js';

describe('ustar codec', () => {
  it('round-trips entries of every size around the block boundary', () => {
    const entries = [0, 1, 511, 512, 513, 5000].map((n, i) => ({
      name: `collections/c${i}.ejsonl`,
      data: Buffer.alloc(n, 97 + i),
      mtime: new Date('2026-11-24T02:00:00Z'),
    }));
    const tar = encodeTar(entries);
    expect(tar.length % BLOCK).toBe(0);
    const back = decodeTar(tar);
    expect(back.map((e) => e.header.name)).toEqual(entries.map((e) => e.name));
    back.forEach((e, i) => {
      expect(e.data.equals(entries[i]!.data)).toBe(true);
      expect(e.header.size).toBe(entries[i]!.data.length);
      expect(e.header.mtime.toISOString()).toBe('2026-11-24T02:00:00.000Z');
    });
  });

  it('writes headers standard tar reads: magic, octal size, checksum', () => {
    const h = encodeHeader({ name: 'manifest.json', size: 1234, mtime: new Date(0) });
    expect(h.subarray(257, 263).toString('latin1')).toBe('ustar\0');
    expect(h.subarray(124, 136).toString('latin1')).toBe('00000002322\0');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    expect(Number.parseInt(h.subarray(148, 154).toString('latin1'), 8)).toBe(sum);
  });

  it('keeps long paths in the prefix field', () => {
    const name = `${'d'.repeat(120)}/${'f'.repeat(90)}.ejsonl`;
    const h = decodeHeader(encodeHeader({ name, size: 1, mtime: new Date(0) }));
    expect(h!.name).toBe(name);
    expect(() => encodeHeader({ name: 'x'.repeat(300), size: 1, mtime: new Date(0) })).toThrow(
      TarError,
    );
  });

  it('detects a damaged header, a truncated entry and a missing end marker', () => {
    const tar = encodeTar([{ name: 'a', data: Buffer.from('hello') }]);
    const flipped = Buffer.from(tar);
    flipped[3] = flipped[3]! ^ 0x01; // in the name: the checksum no longer matches
    expect(() => decodeTar(flipped)).toThrow(/checksum/);
    expect(() => decodeTar(tar.subarray(0, BLOCK + 2))).toThrow(/truncated/);
    expect(() => decodeTar(tar.subarray(0, 2 * BLOCK))).toThrow(/end marker/);
    expect(decodeHeader(Buffer.alloc(BLOCK))).toBeNull();
  });

  it('pads to the next block', () => {
    expect([0, 1, 511, 512, 513].map(paddingFor)).toEqual([0, 511, 1, 0, 511]);
  });
});
