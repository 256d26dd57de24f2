import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildManifest,
  canonicalLine,
  contentHasher,
  fileForCollection,
  parseManifest,
  stableStringify,
  verifyArchive,
  type ObservedFile,
} from '../../src/domain/manifest.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** What the reader would observe for a collection file's bytes. */
function observe(bytes: Buffer): ObservedFile {
  const h = contentHasher();
  for (const l of bytes.toString('utf8').split('\n').filter(Boolean)) h.add(canonicalLine(l));
  return { bytes: bytes.length, sha256: sha(bytes), ...h.result() };
}

const incidents = Buffer.from(
  '{"_id":{"$numberInt":"1"},"subject":"VPN down","at":{"$date":{"$numberLong":"1790000000000"}}}\n' +
    '{"_id":{"$numberInt":"2"},"subject":"Invoice","at":{"$date":{"$numberLong":"1790000000001"}}}\n',
);
const chunks = Buffer.from(
  '{"_id":{"$oid":"65a000000000000000000001"},"n":{"$numberInt":"0"},"data":{"$binary":{"base64":"AAEC","subType":"00"}}}\n',
);

function archive() {
  const files = { incidents, 'blobs.chunks': chunks };
  const collections = Object.entries(files).map(([name, bytes]) => ({
    name,
    file: fileForCollection(name),
    ...observe(bytes),
  }));
  const manifest = buildManifest({
    createdAt: '2026-11-24T02:00:00.000Z',
    database: 'incidesk',
    consistency: 'test',
    collections,
  });
  const observed = new Map(collections.map((c, i) => [c.file, observe(Object.values(files)[i]!)]));
  return { manifest, observed };
}

describe('backup manifest', () => {
  it('verifies an intact archive', () => {
    const { manifest, observed } = archive();
    expect(verifyArchive(manifest, observed)).toEqual([]);
    expect(parseManifest(JSON.stringify(manifest)).problems).toEqual([]);
    expect(manifest.collections[0]).toMatchObject({
      count: 2,
      file: 'collections/incidents.ejsonl',
    });
  });

  it('detects a flipped byte in a collection file', () => {
    const { manifest, observed } = archive();
    const damaged = Buffer.from(incidents);
    const at = damaged.indexOf('VPN');
    damaged[at] = damaged[at]! ^ 0x20; // "vPN"
    observed.set('collections/incidents.ejsonl', observe(damaged));
    expect(verifyArchive(manifest, observed)).toEqual([
      'collections/incidents.ejsonl: sha256 mismatch',
      'collections/incidents.ejsonl: content hash mismatch',
    ]);
  });

  it('detects a missing file, an extra file and a wrong count', () => {
    const { manifest, observed } = archive();
    observed.delete('collections/blobs.chunks.ejsonl');
    observed.set('collections/stray.ejsonl', observe(Buffer.from('{"_id":1}\n')));
    const truncated = incidents.subarray(0, incidents.indexOf('\n') + 1);
    observed.set('collections/incidents.ejsonl', observe(truncated));
    const problems = verifyArchive(manifest, observed);
    expect(problems).toContain('collections/blobs.chunks.ejsonl: missing from the archive');
    expect(problems).toContain('collections/stray.ejsonl: in the archive but not in the manifest');
    expect(problems).toContain('collections/incidents.ejsonl: 1 documents, expected 2');
  });

  it('detects a tampered manifest and refuses other formats', () => {
    const { manifest } = archive();
    const tampered = {
      ...manifest,
      collections: manifest.collections.map((c) => ({ ...c, count: 3 })),
    };
    expect(parseManifest(JSON.stringify(tampered)).problems).toEqual([
      'manifest checksum mismatch (archiveSha256)',
    ]);
    expect(parseManifest('{"format":"tar"}').problems[0]).toMatch(/not an incidesk backup/);
    expect(parseManifest('not json').problems).toEqual(['manifest.json is not valid JSON']);
  });

  it('hashes content independently of key order but not of types', () => {
    expect(stableStringify({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"x":2,"y":1}]},"b":1}',
    );
    expect(canonicalLine('{"b":{"$numberInt":"1"},"a":"x"}')).toBe(
      canonicalLine('{"a":"x","b":{"$numberInt":"1"}}'),
    );
    expect(canonicalLine('{"a":{"$numberInt":"1"}}')).not.toBe(
      canonicalLine('{"a":{"$numberDouble":"1.0"}}'),
    );
  });
});
