import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unzipStored, ZipError, zipStored } from '../../src/domain/zip.js';

const files = [
  { name: 'README.txt', data: Buffer.from('hello\n') },
  { name: 'dir/ünïcode.csv', data: Buffer.from('a,b\r\n1,2\r\n') },
  { name: 'empty.json', data: Buffer.alloc(0) },
];

describe('stored zip', () => {
  it('reads back what it wrote, byte for byte, and the same files give the same bytes', () => {
    const zip = zipStored(files);
    expect(unzipStored(zip)).toEqual(files);
    expect(zipStored(files).equals(zip)).toBe(true);
  });

  it("is a ZIP another implementation reads (Python's zipfile), CRCs included", () => {
    const path = join(mkdtempSync(join(tmpdir(), 'zip-test-')), 'a.zip');
    writeFileSync(path, zipStored(files));
    const out = execFileSync('python3', [
      '-c',
      'import sys, zipfile, json; z = zipfile.ZipFile(sys.argv[1]); print(json.dumps([z.testzip(), [(i.filename, z.read(i).decode()) for i in z.infolist()]]))',
      path,
    ]).toString();
    expect(JSON.parse(out)).toEqual([null, files.map((f) => [f.name, f.data.toString()])]);
  });

  it('names a changed file by its CRC, and refuses what is not a ZIP', () => {
    const zip = zipStored(files);
    const at = zip.indexOf('1,2');
    zip[at] = '9'.charCodeAt(0);
    expect(() => unzipStored(zip)).toThrow(
      new ZipError('dir/ünïcode.csv: CRC-32 mismatch (damaged)'),
    );
    expect(() => unzipStored(Buffer.from('not a zip'))).toThrow(ZipError);
  });
});
