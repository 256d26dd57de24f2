/**
 * Issue 17's corpus (test/support/legacy-mail.ts) through the real intake: LMTP into Dovecot →
 * IMAP → ingest. Every fixture ends as an incident of its own with the expected subject and
 * sender (or "no reply address"), nothing is lost or duplicated, and only people with a reply
 * address are acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { NO_REPLY_ADDRESS } from '../../src/domain/sender.js';
import { ackIdFor } from '../../src/mail/compose.js';
import { timelineOf } from '../../src/store/incidents.js';
import {
  Attachment,
  Incident,
  Outbox,
  RawMessage,
  type RawMessageDoc,
} from '../../src/store/models.js';
import {
  deliver,
  testEnv,
  testLogger,
  testPlan,
  waitUntil,
  type TestEnv,
} from '../support/harness.js';
import { legacyCorpus, type LegacyFixture } from '../support/legacy-mail.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const corpus = legacyCorpus();

describe('legacy charsets and broken senders end to end', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let app: RunningApp;
  const rawOf = new Map<string, RawMessageDoc>();

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp);
    app = await startApp(t.config, testPlan(), testLogger());
    // One at a time, each until stored, so the new stored message is that fixture's.
    for (const f of corpus) {
      await deliver(t.mailboxUser, { raw: f.raw, from: f.envelopeFrom });
      const doc = await waitUntil(`${f.name} stored`, async () =>
        (await RawMessage.find().lean<RawMessageDoc[]>()).find(
          (d) => ![...rawOf.values()].some((known) => known._id === d._id),
        ),
      );
      rawOf.set(f.name, doc);
    }
    await waitUntil(
      'all fixtures processed',
      async () => (await RawMessage.countDocuments({ state: 'stored' })) === 0,
      120_000,
    );
    await waitUntil(
      'acknowledgements sent',
      async () => (await Outbox.countDocuments({ state: 'pending' })) === 0,
      60_000,
    );
    await waitUntil(
      'acknowledgements captured',
      async () => smtp.messages.length >= (await Outbox.countDocuments({ state: 'sent' })),
    );
  }, 300_000);

  afterAll(async () => {
    await app?.stop();
    await smtp?.close();
  });

  const incidentOf = async (f: LegacyFixture) => {
    const r = await RawMessage.findById(rawOf.get(f.name)!._id).lean<RawMessageDoc>();
    expect(r, f.name).toMatchObject({ state: 'ingested' });
    const incident = await Incident.findOne({ openedBy: r!._id }).lean();
    expect(incident, `${f.name} opened no incident of its own`).not.toBeNull();
    return { r: r!, incident: incident! };
  };

  it.each(corpus)('$name: an incident with the expected subject and sender', async (f) => {
    const { r, incident } = await incidentOf(f);
    expect(incident.subject).toBe(f.expect.subject);
    expect(incident.customer?.address).toBe(f.expect.sender ?? NO_REPLY_ADDRESS);
    if (f.expect.customerName) expect(incident.customer?.name).toBe(f.expect.customerName);
    expect(Boolean(incident.automatic)).toBe(f.expect.automatic ?? false);

    const timeline = await timelineOf(incident.number);
    const entry = timeline.find((e) => e._id === `msg-${r._id}`);
    expect(entry?.subject).toBe(f.expect.subject);
    // Which header the sender came from, and why, when it was not the first From.
    const fallback = timeline.find((e) => e._id === `sender-${r._id}`);
    if (f.expect.sender === null) expect(fallback?.event).toBe('no-reply-address');
    else if (f.expect.source !== 'from')
      expect(fallback?.detail).toMatchObject({
        address: f.expect.sender,
        source: f.expect.source,
      });
    if (f.expect.attachmentName) {
      const docs = await Attachment.find({ _id: { $in: entry?.attachmentIds ?? [] } }).lean();
      expect(docs.map((d) => d.filename)).toEqual([f.expect.attachmentName]);
    }

    // A person with a reply address gets exactly one acknowledgement; nobody else gets any.
    const ack = await Outbox.findById(ackIdFor(r._id)).lean();
    if (f.expect.sender === null || f.expect.automatic) {
      expect(ack).toBeNull();
    } else {
      const captured = smtp.messages.filter((m) => m.parsed.messageId === ack?.messageId);
      expect(captured.map((m) => m.envelopeTo)).toEqual([[f.expect.sender]]);
    }
  });

  it('keeps the raw bytes of each legacy header beside its reading', async () => {
    const f = corpus.find((c) => c.name === 'shift_jis subject, body declared iso-2022-jp')!;
    const { r, incident } = await incidentOf(f);
    const event = (await timelineOf(incident.number)).find(
      (e) => e._id === `legacy-charset-${r._id}`,
    );
    const subject = (
      event?.detail as { headers: { field: string; raw: string; text: string }[] }
    ).headers.find((h) => h.field === 'subject');
    expect(subject?.text).toBe('ツール');
    expect(Buffer.from(subject!.raw, 'base64')).toEqual(
      Buffer.from([0x83, 0x63, 0x81, 0x5b, 0x83, 0x8b]),
    );
  });

  it('lost nothing and duplicated nothing', async () => {
    expect(await RawMessage.countDocuments()).toBe(corpus.length);
    expect(await RawMessage.countDocuments({ state: 'ingested' })).toBe(corpus.length);
    expect(await Incident.countDocuments()).toBe(corpus.length);
    // Triage and notification take an incident with no reply address in their stride too.
    for (const q of ['ingest', 'triage', 'notify'] as const)
      expect((await app.ctx.queues[q].getJobCounts()).failed, q).toBe(0);
    // No mail went to a no-reply-address incident's placeholder, or anywhere twice.
    const envelopes = smtp.messages.flatMap((m) => m.envelopeTo);
    expect(envelopes).not.toContain(NO_REPLY_ADDRESS);
    expect(new Set(envelopes).size).toBe(envelopes.length);
  });
});
