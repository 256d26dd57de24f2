/**
 * INCIDESK_MAX_MESSAGE_MB end to end: with a cap of 1 MB a 2 MB message is kept from its header
 * block alone and quarantined (the full message stays on the IMAP server), and intake carries on.
 */
import { describe, expect, it } from 'vitest';
import { readRaw } from '../../src/store/raw-messages.js';
import { Attachment, Incident, RawMessage } from '../../src/store/models.js';
import { deliver, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';

/** About 2 MB: a text part and 1.5 MB of deterministic bytes as a base64 attachment. */
function oversizedMessage(): Buffer {
  const data = Buffer.alloc(1_500_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const b64 = data.toString('base64').replace(/.{76}/g, '$&\r\n');
  const boundary = 'b-oversized-1';
  return Buffer.from(
    [
      'From: Too Big <too.big@example.com>',
      `To: ${SUPPORT}`,
      'Subject: Screenshots of the error (large)',
      'Date: Mon, 23 Nov 2026 10:00:00 +0000',
      'Message-ID: <too-big-1@example.com>',
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      'The screenshots are attached.',
      '',
      `--${boundary}`,
      'Content-Type: application/zip',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="screenshots.zip"',
      '',
      b64,
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
}

describe('a message over INCIDESK_MAX_MESSAGE_MB', () => {
  const h = useTestApp({ env: { INCIDESK_MAX_MESSAGE_MB: '1' } });

  it('is quarantined from its header block alone, and intake carries on', async () => {
    const message = oversizedMessage();
    expect(h.t.config.maxMessageBytes).toBe(1024 * 1024);
    expect(message.length).toBeGreaterThan(2 * h.t.config.maxMessageBytes - 200_000);
    await deliver(h.t.mailboxUser, { raw: message, from: 'too.big@example.com' });
    await deliver(h.t.mailboxUser, {
      from: 'small.after@example.com',
      to: SUPPORT,
      subject: 'A small one after the big one',
      text: 'This one fits.',
      messageId: '<small-after@example.com>',
    });

    // Found by state, not UID: maildir may number two same-second arrivals either way round.
    const small = await waitUntil('the small message ingested', () =>
      RawMessage.findOne({ state: 'ingested' }).lean(),
    );
    const incident = (await Incident.findOne({ openedBy: small._id }).lean())!;
    expect(incident).toMatchObject({
      subject: 'A small one after the big one',
      customer: { address: 'small.after@example.com' },
    });

    const big = (await RawMessage.findOne({ _id: { $ne: small._id } }).lean())!;
    expect(big).toMatchObject({ state: 'quarantined', headersOnly: true });
    expect(big.reason).toMatch(/too large/);
    expect(big.reason).toContain(`${h.t.config.maxMessageBytes}-byte limit`);
    expect(big.reason).toContain('stays on the IMAP server');
    // Only the header block was fetched and kept, and it is readable.
    const head = (await readRaw(big)).toString('utf8');
    expect(Buffer.byteLength(head)).toBe(big.size);
    expect(big.size).toBeLessThan(2_000);
    expect(head).toContain('Subject: Screenshots of the error (large)');
    expect(head).toContain('Message-ID: <too-big-1@example.com>');
    expect(head).not.toContain('The screenshots are attached.');
    expect(await RawMessage.countDocuments()).toBe(2);
    expect(await Incident.countDocuments()).toBe(1);
    expect(await Attachment.countDocuments({ rawId: big._id })).toBe(0);
    expect((await h.app.ctx.queues.ingest.getJobCounts()).failed).toBe(0);
    const [ack] = await h.smtp.waitFor(1);
    expect(ack!.envelopeTo).toEqual(['small.after@example.com']);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.smtp.messages).toHaveLength(1);
  }, 120_000);
});
