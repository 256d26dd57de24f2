import { describe, expect, it } from 'vitest';
import {
  describeAttachment,
  formatSize,
  safeFileName,
  splitForMail,
  uniqueFileNames,
} from '../../src/domain/attachments.js';

const MB = 1024 * 1024;

describe('splitForMail', () => {
  it('attaches files in order while the total fits, and lists the rest', () => {
    const files = [
      { id: 'a', size: 4 * MB },
      { id: 'b', size: 7 * MB },
      { id: 'c', size: 5 * MB },
      { id: 'd', size: 2 * MB },
    ];
    const { attached, listed } = splitForMail(files, 10 * MB);
    expect(attached.map((f) => f.id)).toEqual(['a', 'c']);
    expect(listed.map((f) => f.id)).toEqual(['b', 'd']);
  });

  it('attaches a file of exactly the limit, lists one byte more', () => {
    expect(splitForMail([{ size: MB }], MB).attached).toHaveLength(1);
    expect(splitForMail([{ size: MB + 1 }], MB).listed).toHaveLength(1);
  });

  it('attaches nothing with a limit of 0 and everything with no files too large', () => {
    expect(splitForMail([{ size: 1 }], 0)).toEqual({ attached: [], listed: [{ size: 1 }] });
    expect(splitForMail([], 0)).toEqual({ attached: [], listed: [] });
  });
});

describe('formatSize and describeAttachment', () => {
  it('uses bytes, KB and MB', () => {
    expect(formatSize(0)).toBe('0 bytes');
    expect(formatSize(1023)).toBe('1023 bytes');
    expect(formatSize(1024)).toBe('1.0 KB');
    expect(formatSize(49_357)).toBe('48.2 KB');
    expect(formatSize(12 * MB)).toBe('12.0 MB');
  });

  it('names number, file, type and size', () => {
    expect(
      describeAttachment({
        id: 'x',
        n: 2,
        filename: 'bank statement.png',
        contentType: 'image/png',
        size: 49_357,
      }),
    ).toBe('#2 bank statement.png (image/png, 48.2 KB)');
    expect(describeAttachment({ id: 'x', n: 1, size: 3 })).toBe(
      '#1 (no name) (application/octet-stream, 3 bytes)',
    );
  });
});

describe('safeFileName', () => {
  it.each([
    ['bank statement.png', 'bank statement.png'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\x\\evil.exe', 'evil.exe'],
    ['.bashrc', 'bashrc'],
    ['..', 'attachment-3'],
    ['', 'attachment-3'],
    [null, 'attachment-3'],
    ['a\u0000b\r\nc.txt', 'a_b__c.txt'],
    ['what?<>|*.txt', 'what_____.txt'],
    ['CON.txt', '_CON.txt'],
    ['trailing dots...', 'trailing dots'],
  ])('%j → %j', (input, expected) => {
    expect(safeFileName(input, 3)).toBe(expected);
  });

  it('shortens long names and keeps the extension', () => {
    const name = safeFileName(`${'x'.repeat(300)}.pdf`, 1);
    expect(name).toHaveLength(120);
    expect(name.endsWith('.pdf')).toBe(true);
  });
});

describe('uniqueFileNames', () => {
  it('numbers a name already taken, case-insensitively', () => {
    expect(
      uniqueFileNames([
        { filename: 'scan.pdf', n: 1 },
        { filename: 'SCAN.pdf', n: 2 },
        { filename: 'notes', n: 3 },
        { filename: 'notes', n: 4 },
        { filename: null, n: 5 },
      ]),
    ).toEqual(['scan.pdf', 'SCAN-2.pdf', 'notes', 'notes-4', 'attachment-5']);
  });
});
