/**
 * A 25 MiB attachment (built here, see test/fixtures/hostile/huge.README) goes through LMTP →
 * Dovecot → IMAP intake → ingest into the blob store byte-exact. The size cap is tested in
 * oversized-mail.test.ts (its own process: the store connection is process-wide).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readRaw } from '../../src/store/raw-messages.js';
import { readBlob } from '../../src/store/blobs.js';
import { timelineOf } from '../../src/store/incidents.js';
import { Attachment, Incident, RawMessage } from '../../src/store/models.js';
import { deliver, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';

const HUGE_BYTES = 26_214_400; // 25 MiB

/** Deterministic, incompressible-looking bytes (xorshift32, 4 bytes per step). */
function payload(size: number, seed = 0x2545f491): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) out.writeUInt32LE(x, i);
    else for (let k = 0; i + k < size; k++) out[i + k] = (x >>> (8 * k)) & 0xff;
  }
  return out;
}

/** multipart/mixed, CRLF, a short text part and the payload as base64 wrapped at 76. */
function messageWith(
  data: Buffer,
  o: { from: string; subject: string; messageId: string; filename: string },
): Buffer {
  const boundary = '----=_Part_huge_0123456789';
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  const head = [
    `From: Big Sender <${o.from}>`,
    `To: ${SUPPORT}`,
    `Subject: ${o.subject}`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    `Message-ID: ${o.messageId}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    'The database dump you asked for is attached.',
    '',
    `--${boundary}`,
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${o.filename}"`,
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([
    Buffer.from(head),
    Buffer.from(lines.join('\r\n')),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a 25 MiB attachment', () => {
  const h = useTestApp();

  it('is stored byte-exact as one attachment of a new incident, the raw message in full', async () => {
    const data = payload(HUGE_BYTES);
    const message = messageWith(data, {
      from: 'big.sender@example.com',
      subject: 'Database dump for the import problem',
      messageId: '<huge-1@example.com>',
      filename: 'db-dump.bin',
    });
    expect(message.length).toBeGreaterThan(35_000_000);
    await deliver(h.t.mailboxUser, { raw: message, from: 'big.sender@example.com' });

    // The raw message is marked ingested last, after the incident and its acknowledgement.
    const raw = await waitUntil(
      'the huge message ingested',
      () => RawMessage.findOne({ state: { $ne: 'stored' } }).lean(),
      // 35 MB through GridFS on the Python test server while three other test files load
      // both cores: about a minute alone, several inside the full suite.
      480_000,
    );
    const incident = (await Incident.findOne({ openedBy: raw._id }).lean())!;
    expect(incident).toMatchObject({ customer: { address: 'big.sender@example.com' } });
    expect(incident.subject).toBe('Database dump for the import problem');
    expect(raw).toMatchObject({
      state: 'ingested',
      headersOnly: false,
      incidentNumber: incident.number,
    });
    // Dovecot prepends its trace headers (Return-Path, Delivered-To, Received): a few hundred bytes.
    expect(raw.size - message.length).toBeGreaterThan(0);
    expect(raw.size - message.length).toBeLessThan(2_000);
    const stored = await readRaw(raw);
    expect(stored.length).toBe(raw.size);
    expect(sha256(stored)).toBe(raw._id);
    expect(stored.subarray(stored.length - message.length).equals(message)).toBe(true);

    const entry = (await timelineOf(incident.number)).find((e) => e._id === `msg-${raw._id}`)!;
    expect(entry.fullText).toContain('The database dump you asked for is attached.');
    expect(entry.attachmentIds).toHaveLength(1);
    const attachment = (await Attachment.findById(entry.attachmentIds![0]).lean())!;
    expect(attachment).toMatchObject({
      filename: 'db-dump.bin',
      contentType: 'application/octet-stream',
      size: HUGE_BYTES,
      sha256: sha256(data),
      incidentNumber: incident.number,
    });
    const bytes = await readBlob(attachment.blobId);
    expect(bytes.length).toBe(HUGE_BYTES);
    expect(bytes.equals(data)).toBe(true);

    expect((await h.app.ctx.queues.ingest.getJobCounts()).failed).toBe(0);
    const [ack] = await h.smtp.waitFor(1);
    expect(ack!.envelopeTo).toEqual(['big.sender@example.com']);
  }, 600_000);
});
