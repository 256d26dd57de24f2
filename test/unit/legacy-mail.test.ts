/**
 * Issue 17's corpus (test/support/legacy-mail.ts) through the parser and the first intake
 * decision, without services: the subject, sender and name each fixture must end up with. The
 * same corpus goes through the real intake in test/integration/legacy-mail.test.ts.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { assessInbound } from '../../src/domain/inbound.js';
import { parseMessage, type AttachmentInfo } from '../../src/mail/parse.js';
import { legacyCorpus } from '../support/legacy-mail.js';

const SUPPORT = 'support@example.test';

/** What Dovecot does on delivery: the envelope sender becomes a Return-Path on top. */
function delivered(raw: Buffer, envelopeFrom: string): Buffer {
  return Buffer.concat([Buffer.from(`Return-Path: <${envelopeFrom}>\r\n`), raw]);
}

describe('legacy and broken-sender corpus', () => {
  const corpus = legacyCorpus();

  it('has at least 20 fixtures, each with a distinct name', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(20);
    expect(new Set(corpus.map((f) => f.name)).size).toBe(corpus.length);
  });

  it.each(corpus)('$name', async (f) => {
    const attachments: AttachmentInfo[] = [];
    const parsed = await parseMessage(
      Readable.from([delivered(f.raw, f.envelopeFrom)]),
      async (info, content) => {
        for await (const _ of content) void _;
        attachments.push(info);
      },
    );
    expect(parsed.subject).toBe(f.expect.subject);
    const verdict = assessInbound({
      headers: parsed.headers,
      contentType: parsed.contentType,
      supportAddress: SUPPORT,
      headerSection: parsed.headerSection,
      text: parsed.text,
    });
    expect(verdict.kind).toBe('message');
    if (verdict.kind !== 'message') return;
    expect(verdict.sender?.address ?? null).toBe(f.expect.sender);
    if (f.expect.source) expect(verdict.sender?.source).toBe(f.expect.source);
    expect(verdict.automatic !== null).toBe(f.expect.automatic ?? false);
    if (f.expect.customerName) {
      const mailbox = [...parsed.from, ...parsed.replyTo].find(
        (m) => m.address === f.expect.sender,
      );
      expect(mailbox?.name).toBe(f.expect.customerName);
    }
    if (f.expect.attachmentName)
      expect(attachments.map((a) => a.filename)).toEqual([f.expect.attachmentName]);
    // Nothing decoded from a legacy charset is left with replacement characters.
    for (const h of parsed.legacyHeaders) expect(h.text).not.toContain('\ufffd');
  });
});
