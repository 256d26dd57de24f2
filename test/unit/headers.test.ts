import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import {
  first,
  headerBag,
  HeaderSectionScanner,
  type HeaderSectionEnd,
} from '../../src/domain/headers.js';

describe('headerBag', () => {
  it('strips the field name and keeps the value', () => {
    const h = headerBag([{ key: 'subject', line: 'Subject: Printer on fire' }]);
    expect(h.get('subject')).toEqual(['Printer on fire']);
  });

  it('unfolds CRLF+WSP and LF+WSP continuation lines', () => {
    const h = headerBag([
      { key: 'references', line: 'References: <a@x>\r\n <b@x>\r\n\t<c@x>' },
      { key: 'x-long', line: 'X-Long: one\n two' },
    ]);
    expect(h.get('references')).toEqual(['<a@x> <b@x>\t<c@x>']);
    expect(h.get('x-long')).toEqual(['one two']);
  });

  it('keeps repeated headers in message order under a lower-case key', () => {
    const h = headerBag([
      { key: 'received', line: 'Received: from a' },
      { key: 'Received', line: 'RECEIVED: from b' },
      { key: 'received', line: 'Received: from c' },
    ]);
    expect(h.get('received')).toEqual(['from a', 'from b', 'from c']);
    expect(h.size).toBe(1);
  });

  it('keeps colons inside the value and tolerates no space after the colon', () => {
    const h = headerBag([
      { key: 'date', line: 'Date: Mon, 1 Jan 2024 10:00:00 +0000' },
      { key: 'return-path', line: 'Return-Path:<>' },
    ]);
    expect(h.get('date')).toEqual(['Mon, 1 Jan 2024 10:00:00 +0000']);
    expect(h.get('return-path')).toEqual(['<>']);
  });

  it('keeps empty values and does not decode RFC 2047 words', () => {
    const h = headerBag([
      { key: 'x-empty', line: 'X-Empty:' },
      { key: 'subject', line: 'Subject: =?UTF-8?B?w6k=?=' },
    ]);
    expect(h.get('x-empty')).toEqual(['']);
    expect(first(h, 'subject')).toBe('=?UTF-8?B?w6k=?=');
  });

  it('derives the key from the line when key is missing', () => {
    const h = headerBag([{ key: '', line: 'List-Id: <ops.example.test>' }]);
    expect(h.get('list-id')).toEqual(['<ops.example.test>']);
  });

  it('skips lines without any name', () => {
    const h = headerBag([{ key: '', line: 'garbage without colon' }]);
    expect(h.size).toBe(0);
  });
});

describe('first', () => {
  const h = headerBag([
    { key: 'received', line: 'Received: one' },
    { key: 'received', line: 'Received: two' },
  ]);

  it('returns the first value, name case-insensitive', () => {
    expect(first(h, 'received')).toBe('one');
    expect(first(h, 'Received')).toBe('one');
  });

  it('returns undefined for absent headers', () => {
    expect(first(h, 'subject')).toBeUndefined();
  });
});

const HOSTILE = new URL('../fixtures/hostile/', import.meta.url);
const fixture = (name: string): Buffer => readFileSync(new URL(name, HOSTILE));

/** Feeds `bytes` in consecutive chunks of `size` bytes (the last one may be shorter). */
function scanInChunks(bytes: Buffer, size: number): HeaderSectionEnd {
  const scanner = new HeaderSectionScanner();
  for (let pos = 0; pos < bytes.length; pos += size) {
    scanner.feed(bytes.subarray(pos, pos + size));
  }
  return scanner.result();
}

/** Feeds `bytes` as the given chunks, split at the given offsets. */
function scanSplitAt(bytes: Buffer, ...offsets: number[]): HeaderSectionEnd {
  const scanner = new HeaderSectionScanner();
  let pos = 0;
  for (const offset of [...offsets, bytes.length]) {
    scanner.feed(bytes.subarray(pos, offset));
    pos = offset;
  }
  return scanner.result();
}

/**
 * Scans `bytes` with every chunk size from 1 byte to the whole message (or only the given
 * sizes) and returns the sizes whose result is not `expected`, so a failure names them.
 */
function chunkSizesDiffering(
  bytes: Buffer,
  expected: HeaderSectionEnd,
  sizes?: readonly number[],
): { size: number; result: HeaderSectionEnd }[] {
  const all = sizes ?? Array.from({ length: Math.max(bytes.length, 1) }, (_, i) => i + 1);
  const out: { size: number; result: HeaderSectionEnd }[] = [];
  for (const size of all) {
    const result = scanInChunks(bytes, size);
    if (result !== expected) out.push({ size, result });
  }
  return out;
}

/** Every two-chunk split of `bytes` (including an empty first or last chunk) that differs. */
function splitPointsDiffering(bytes: Buffer, expected: HeaderSectionEnd): number[] {
  const out: number[] = [];
  for (let i = 0; i <= bytes.length; i++) {
    if (scanSplitAt(bytes, i) !== expected) out.push(i);
  }
  return out;
}

const bytesOf = (s: string): Buffer => Buffer.from(s, 'utf8');
const lf = (s: string): string => s.replace(/\r\n/g, '\n');

const NORMAL_CRLF = [
  'Return-Path: <alice@example.org>',
  'Received: from mx1.example.test (mx1.example.test [198.51.100.1])',
  '\tby imap1.example.test with LMTP; Mon, 1 Jan 2024 10:00:00 +0000',
  'From: =?UTF-8?Q?Ren=C3=A9e?= <alice@example.org>',
  'To: support@incidesk.test',
  'Subject: Grüße – der Drucker brennt',
  'Message-ID: <m1@example.org>',
  'Date: Mon, 1 Jan 2024 10:00:00 +0000',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello,',
  '',
  'this body has lines that look like broken headers:',
  'X-Mon-Stat',
  ' indented line',
  'X-Not-A-Header: inside the body',
  'and no final newline after this: X-Mon-Stat',
].join('\r\n');

describe('HeaderSectionScanner', () => {
  describe('a normal message (CRLF)', () => {
    const bytes = bytesOf(NORMAL_CRLF);

    it('is terminated, whatever the chunk size (1 byte … whole message)', () => {
      expect(bytes.length).toBeGreaterThan(300);
      expect(chunkSizesDiffering(bytes, 'terminated')).toEqual([]);
    });

    it('is terminated wherever the message is split in two', () => {
      expect(splitPointsDiffering(bytes, 'terminated')).toEqual([]);
    });

    it('ignores the body: a body ending in a cut-off line does not make it truncated', () => {
      const scanner = new HeaderSectionScanner();
      scanner.feed(bytes);
      scanner.feed(bytesOf('\r\nX-Mon-Stat'));
      scanner.feed(bytesOf('\r\n\tcontinued'));
      expect(scanner.result()).toBe('terminated');
      expect(scanner.result()).toBe('terminated'); // result() can be asked twice
    });

    it('is terminated by an empty line at the very start (no fields at all)', () => {
      expect(chunkSizesDiffering(bytesOf('\r\nbody\r\n'), 'terminated')).toEqual([]);
      expect(chunkSizesDiffering(bytesOf('\nbody\n'), 'terminated')).toEqual([]);
      expect(chunkSizesDiffering(bytesOf('\r\n'), 'terminated')).toEqual([]);
    });

    it('is terminated for a real-shaped message from the fixtures (folded Received lines)', () => {
      const raw = fixture('48-bounce-qmail-plaintext.eml');
      expect(chunkSizesDiffering(raw, 'terminated')).toEqual([]);
    });
  });

  describe('bare LF line endings', () => {
    const bytes = bytesOf(lf(NORMAL_CRLF));

    it('is terminated for every chunk size', () => {
      expect(bytes.includes('\r')).toBe(false);
      expect(chunkSizesDiffering(bytes, 'terminated')).toEqual([]);
    });

    it('is terminated wherever the message is split in two', () => {
      expect(splitPointsDiffering(bytes, 'terminated')).toEqual([]);
    });

    it('gives the same answers as CRLF for header-only and truncated messages', () => {
      expect(chunkSizesDiffering(bytesOf('From: a@b.test\nSubject: hi\n'), 'unterminated')).toEqual(
        [],
      );
      expect(chunkSizesDiffering(bytesOf('From: a@b.test\nSubj'), 'truncated')).toEqual([]);
    });

    it('accepts mixed CRLF and LF lines', () => {
      const mixed = bytesOf('From: a@b.test\r\nSubject: hi\nTo: c@d.test\r\n\nbody\n');
      expect(chunkSizesDiffering(mixed, 'terminated')).toEqual([]);
    });
  });

  describe('a header section ending exactly at a chunk boundary', () => {
    const header = 'From: a@b.test\r\nSubject: at a boundary\r\n'; // 42 bytes with the empty line
    const bytes = bytesOf(`${header}\r\nBody line\r\nX-Mon-Stat`);
    const end = Buffer.byteLength(header); // offset of the empty line

    it('is terminated when a chunk ends right after the empty line', () => {
      expect(scanSplitAt(bytes, end + 2)).toBe('terminated');
      // …and when the message ends there too.
      expect(scanSplitAt(bytesOf(`${header}\r\n`), end + 2)).toBe('terminated');
      expect(chunkSizesDiffering(bytesOf(`${header}\r\n`), 'terminated')).toEqual([]);
    });

    it('is terminated when a chunk ends right before the empty line', () => {
      expect(scanSplitAt(bytes, end)).toBe('terminated');
    });

    it('is terminated when the CR and LF of the empty line arrive in different chunks', () => {
      expect(scanSplitAt(bytes, end + 1)).toBe('terminated');
      expect(scanSplitAt(bytes, end - 1, end, end + 1, end + 2)).toBe('terminated');
    });

    it('is terminated for chunk sizes that divide the header section exactly', () => {
      const total = end + 2;
      const divisors = Array.from({ length: total }, (_, i) => i + 1).filter(
        (n) => total % n === 0,
      );
      expect(divisors.length).toBeGreaterThan(2);
      expect(chunkSizesDiffering(bytes, 'terminated', divisors)).toEqual([]);
    });

    it('is terminated with bare LF when the two LFs arrive in different chunks', () => {
      const lfBytes = bytesOf('From: a@b.test\nSubject: x\n\nbody');
      const lfEnd = Buffer.byteLength('From: a@b.test\nSubject: x\n');
      expect(scanSplitAt(lfBytes, lfEnd)).toBe('terminated');
      expect(scanSplitAt(lfBytes, lfEnd - 1, lfEnd, lfEnd + 1)).toBe('terminated');
    });

    it('is not disturbed by empty chunks', () => {
      const scanner = new HeaderSectionScanner();
      scanner.feed(Buffer.alloc(0));
      scanner.feed(bytes.subarray(0, end + 1));
      scanner.feed(Buffer.alloc(0));
      scanner.feed(bytes.subarray(end + 1));
      scanner.feed(Buffer.alloc(0));
      expect(scanner.result()).toBe('terminated');
    });
  });

  describe('only headers, no empty line (complete fields)', () => {
    it.each([
      ['ending in CRLF', 'From: a@b.test\r\nTo: c@d.test\r\nSubject: no body\r\n'],
      ['ending without a line break', 'From: a@b.test\r\nTo: c@d.test\r\nSubject: no body'],
      ['a single field', 'Subject: x'],
      ['an empty field value', 'From: a@b.test\r\nX-Empty:'],
      ['white space before the colon (obsolete syntax)', 'From: a@b.test\r\nSubject : hi\r\n'],
      ['8-bit bytes in the last value', 'From: a@b.test\r\nSubject: Grüße aus Köln'],
    ])('is unterminated: %s', (_name, text) => {
      expect(chunkSizesDiffering(bytesOf(text), 'unterminated')).toEqual([]);
    });

    it('is terminated for fixture 21 (headers, then the empty line, then no body at all)', () => {
      const raw = fixture('21-headers-only-no-body.eml');
      expect(raw.subarray(-4).toString('latin1')).toBe('\r\n\r\n');
      expect(chunkSizesDiffering(raw, 'terminated')).toEqual([]);
      // Without its empty line it is a header-only message with complete fields.
      expect(chunkSizesDiffering(raw.subarray(0, raw.length - 2), 'unterminated')).toEqual([]);
    });

    it('does not take a line of white space for the empty line', () => {
      const text = 'From: a@b.test\r\nSubject: x\r\n \r\nTo: c@d.test\r\n';
      expect(chunkSizesDiffering(bytesOf(text), 'unterminated')).toEqual([]);
      expect(chunkSizesDiffering(bytesOf('From: a@b.test\r\n\t\r\n'), 'unterminated')).toEqual([]);
    });
  });

  describe('a truncated header block', () => {
    const raw = fixture('55-quarantine-unterminated-header-block.eml');

    it('the fixture really ends mid-name, without a line break and without an empty line', () => {
      expect(raw.subarray(-12).toString('latin1')).toBe('\r\nX-Mon-Stat');
      expect(raw.includes('\r\n\r\n')).toBe(false);
    });

    it('is truncated, whatever the chunk size (fixture 55)', () => {
      expect(chunkSizesDiffering(raw, 'truncated')).toEqual([]);
    });

    it('is truncated wherever the fixture is split in two', () => {
      expect(splitPointsDiffering(raw, 'truncated')).toEqual([]);
    });

    it('becomes unterminated once the cut-off line is completed or removed', () => {
      const completed = Buffer.concat([raw, bytesOf('us: up\r\n')]);
      expect(chunkSizesDiffering(completed, 'unterminated')).toEqual([]);
      const withoutLast = raw.subarray(0, raw.length - 'X-Mon-Stat'.length);
      expect(chunkSizesDiffering(withoutLast, 'unterminated')).toEqual([]);
    });

    it('becomes terminated once the empty line follows a completed line', () => {
      const terminated = Buffer.concat([raw, bytesOf('us: up\r\n\r\nbody')]);
      expect(chunkSizesDiffering(terminated, 'terminated')).toEqual([]);
    });

    it.each([
      ['a last line that is not a field, even with a line break', 'From: a@b.test\r\ngarbage\r\n'],
      ['a name cut before its colon', 'From: a@b.test\r\nSubject'],
      ['a name with a space inside', 'From: a@b.test\r\nX Mon: up'],
      ['a last line that starts with the colon', 'From: a@b.test\r\n: value'],
      ['a single word and nothing else', 'Received'],
      ['a message cut between the CR and LF of the empty line', 'From: a@b.test\r\n\r'],
    ])('is truncated: %s', (_name, text) => {
      expect(chunkSizesDiffering(bytesOf(text), 'truncated')).toEqual([]);
    });

    it('judges only the last line (an earlier garbage line followed by a field is not truncated)', () => {
      const text = 'From: a@b.test\r\ngarbage\r\nSubject: hi\r\n';
      expect(chunkSizesDiffering(bytesOf(text), 'unterminated')).toEqual([]);
    });
  });

  describe('folded header lines', () => {
    it('is unterminated when the message ends in a continuation line', () => {
      const text = [
        'From: a@b.test',
        'Received: from mx1.example.test',
        '\tby imap1.example.test with LMTP',
        '  for <support@example.test>; Mon, 1 Jan 2024 10:00:00 +0000',
      ].join('\r\n');
      expect(chunkSizesDiffering(bytesOf(text), 'unterminated')).toEqual([]);
      expect(chunkSizesDiffering(bytesOf(`${text}\r\n`), 'unterminated')).toEqual([]);
      expect(chunkSizesDiffering(bytesOf(lf(`${text}\r\n`)), 'unterminated')).toEqual([]);
    });

    it('is unterminated when a continuation is cut off mid-word (it is still a fold)', () => {
      expect(chunkSizesDiffering(bytesOf('Subject: a long\r\n subj'), 'unterminated')).toEqual([]);
    });

    it('is terminated when folded fields are followed by the empty line', () => {
      const text =
        'References: <a@x>\r\n <b@x>\r\n\t<c@x>\r\nSubject: folded\r\n  twice\r\n\r\nbody';
      expect(chunkSizesDiffering(bytesOf(text), 'terminated')).toEqual([]);
      expect(splitPointsDiffering(bytesOf(text), 'terminated')).toEqual([]);
    });

    it('is truncated when a garbage line follows a fold', () => {
      const text = 'Subject: a\r\n folded\r\ngarbage';
      expect(chunkSizesDiffering(bytesOf(text), 'truncated')).toEqual([]);
    });
  });

  describe('long lines and large header sections (only the start of a line is classified)', () => {
    // The scanner keeps at most the first 1000 bytes of a line; nothing limits the section size.
    const SIZES = [1, 2, 3, 7, 64, 999, 1000, 1001, 4096, 65_536, 1 << 20];
    const manyFields = Array.from(
      { length: 5000 },
      (_, i) => `X-Field-${i}: ${'v'.repeat(150)}`,
    ).join('\r\n');

    it('finds the empty line after a header section of more than 1 MB', () => {
      const longLine = `X-Long: ${'y'.repeat(300_000)}`;
      const bytes = bytesOf(`${manyFields}\r\n${longLine}\r\n\r\nbody\r\nX-Mon-Stat`);
      expect(bytes.length).toBeGreaterThan(1_000_000);
      expect(chunkSizesDiffering(bytes, 'terminated', [...SIZES, bytes.length])).toEqual([]);
    });

    it('classifies the last line of a large unterminated section by its start', () => {
      const sizes = [...SIZES];
      const field = bytesOf(`${manyFields}\r\nX-Long: ${'y'.repeat(300_000)}`);
      expect(chunkSizesDiffering(field, 'unterminated', sizes)).toEqual([]);
      const fold = bytesOf(`${manyFields}\r\n\t${'y'.repeat(300_000)}\r\n`);
      expect(chunkSizesDiffering(fold, 'unterminated', sizes)).toEqual([]);
      const garbage = bytesOf(`${manyFields}\r\n${'y'.repeat(300_000)}`);
      expect(chunkSizesDiffering(garbage, 'truncated', sizes)).toEqual([]);
    });

    it('classifies lines around the 1000-byte limit the same for every chunk size', () => {
      for (const length of [998, 999, 1000, 1001, 2500]) {
        const value = 'z'.repeat(length);
        expect(
          chunkSizesDiffering(bytesOf(`From: a@b.test\r\nX-V: ${value}`), 'unterminated'),
        ).toEqual([]);
        expect(chunkSizesDiffering(bytesOf(`From: a@b.test\r\n${value}\r\n`), 'truncated')).toEqual(
          [],
        );
        expect(
          chunkSizesDiffering(bytesOf(`From: a@b.test\r\n${value}\r\n\r\n`), 'terminated'),
        ).toEqual([]);
      }
    });

    it('sees a colon within the first 1000 bytes of the line, not one beyond them', () => {
      // A 999-byte field name: its colon is the 1000th byte, inside the kept part.
      const inside = bytesOf(`From: a@b.test\r\n${'N'.repeat(999)}: v`);
      expect(chunkSizesDiffering(inside, 'unterminated')).toEqual([]);
      // A 1000-byte name (illegal anyway: RFC 5322 lines stop at 998) pushes the colon out.
      const beyond = bytesOf(`From: a@b.test\r\n${'N'.repeat(1000)}: v`);
      expect(chunkSizesDiffering(beyond, 'truncated')).toEqual([]);
    });

    it('does not take a long line ending in CR for the empty line', () => {
      const text = `From: a@b.test\r\n${'\r'.repeat(1500)}\r\nSubject: x\r\n`;
      expect(
        chunkSizesDiffering(bytesOf(text), 'unterminated', [1, 2, 999, 1000, 1001, 4096]),
      ).toEqual([]);
    });
  });

  describe('an empty input', () => {
    it('is unterminated (no line was cut off) when nothing is fed', () => {
      expect(new HeaderSectionScanner().result()).toBe('unterminated');
    });

    it('is unterminated when only empty chunks are fed', () => {
      const scanner = new HeaderSectionScanner();
      scanner.feed(Buffer.alloc(0));
      scanner.feed(Buffer.alloc(0));
      expect(scanner.result()).toBe('unterminated');
      expect(chunkSizesDiffering(Buffer.alloc(0), 'unterminated')).toEqual([]);
    });

    it('is unterminated for the empty-file fixture', () => {
      const raw = fixture('57-quarantine-empty-file.eml');
      expect(raw.length).toBe(0);
      expect(scanInChunks(raw, 1)).toBe('unterminated');
    });
  });
});
