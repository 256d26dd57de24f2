/**
 * The hostile corpus (test/fixtures/hostile, 57 real-world shaped messages) through the whole
 * pipeline: LMTP into Dovecot → IMAP intake → ingest. One app takes every fixture; each fixture
 * is then checked against its manifest entry as a test case of its own.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRaw } from '../../src/store/raw-messages.js';
import { startApp, type RunningApp } from '../../src/app.js';
import { ackIdFor } from '../../src/mail/compose.js';
import { readBlob } from '../../src/store/blobs.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import {
  Address,
  Attachment,
  Incident,
  Outbox,
  RawMessage,
  type RawMessageDoc,
} from '../../src/store/models.js';
import { PROJECT_ROOT } from '../support/services.js';
import {
  deliver,
  SUPPORT,
  testEnv,
  testLogger,
  testPlan,
  waitUntil,
  type TestEnv,
} from '../support/harness.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

interface Fixture {
  file: string;
  expect: 'incident' | 'autoreply' | 'bounce' | 'list' | 'quarantine';
  from: string | null;
  subjectIncludes: string | null;
  bodyIncludes: string | null;
  attachments: { filename: string | null; size: number }[];
  notes: string;
}

const DIR = path.join(PROJECT_ROOT, 'test/fixtures/hostile');
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Fixture[];
const bytesOf = (f: Fixture) => readFileSync(path.join(DIR, f.file));
const of = (kind: Fixture['expect']) => manifest.filter((f) => f.expect === kind);

/**
 * The envelope sender the fixture was delivered with: its own Return-Path (Dovecot writes the
 * envelope sender as a new Return-Path on top, so "<>" must stay "<>"), else a neutral one.
 */
function envelopeFrom(raw: Buffer): string {
  const head = raw.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '';
  const m = /^Return-Path:[ \t]*<([^<>]*)>/im.exec(head);
  return m ? m[1]! : 'relay@example.com';
}

describe('hostile mail corpus end to end', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let app: RunningApp;
  /** The stored raw message of each fixture: Dovecot hands out UIDs 1..n in delivery order. */
  const rawOf = new Map<string, RawMessageDoc>();

  const raw = (f: Fixture): RawMessageDoc => {
    const doc = rawOf.get(f.file);
    if (!doc) throw new Error(`${f.file}: no raw message was stored`);
    return doc;
  };
  /** Acknowledgements that reached the SMTP server for this message. */
  const acksFor = async (rawId: string) => {
    const ack = await Outbox.findById(ackIdFor(rawId)).lean();
    const captured = ack ? smtp.messages.filter((m) => m.parsed.messageId === ack.messageId) : [];
    return { ack, captured };
  };

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp);
    app = await startApp(t.config, testPlan(), testLogger());
    // One at a time, each until stored, so the new stored message is that fixture's. (Not by
    // UID: maildir numbers messages that arrive within one second in directory order.)
    for (const f of manifest) {
      const bytes = bytesOf(f);
      await deliver(t.mailboxUser, { raw: bytes, from: envelopeFrom(bytes) });
      const doc = await waitUntil(`${f.file} stored`, async () =>
        (await RawMessage.find().lean<RawMessageDoc[]>()).find(
          (d) => ![...rawOf.values()].some((known) => known._id === d._id),
        ),
      );
      rawOf.set(f.file, doc);
    }
    await waitUntil(
      `all ${manifest.length} fixtures stored and processed`,
      async () =>
        (await RawMessage.countDocuments()) >= manifest.length &&
        (await RawMessage.countDocuments({ state: 'stored' })) === 0,
      120_000,
    ).catch(async (err: Error) => {
      const stuck = new Set(
        (await RawMessage.find({ state: 'stored' }, { _id: 1 }).lean()).map((d) => d._id),
      );
      const files = [...rawOf].filter(([, d]) => stuck.has(d._id)).map(([file]) => file);
      const total = await RawMessage.countDocuments();
      throw new Error(
        `${err.message}: ${total}/${manifest.length} stored, not processed: ${files.join(', ') || 'none'}`,
      );
    });
    // A job marks its message processed just before BullMQ records the job complete.
    await waitUntil('the ingest queue drained', async () => {
      const counts = await app.ctx.queues.ingest.getJobCounts('waiting', 'active', 'delayed');
      return Object.values(counts).every((n) => n === 0);
    });
    // Acknowledgements go out in the background; wait until none is pending any more.
    await waitUntil(
      'acknowledgements sent',
      async () => (await Outbox.countDocuments({ state: 'pending' })) === 0,
      60_000,
    );
    await waitUntil(
      'acknowledgements captured',
      async () => smtp.messages.length >= (await Outbox.countDocuments({ state: 'sent' })),
    );

    // The states and incidents the checks below read, now that processing is over.
    const docs = await RawMessage.find().lean<RawMessageDoc[]>();
    for (const [file, doc] of rawOf)
      rawOf.set(
        file,
        docs.find((d) => d._id === doc._id)!,
      );
  }, 300_000);

  afterAll(async () => {
    await app?.stop();
    await smtp?.close();
  });

  it('stored every fixture as delivered', async () => {
    for (const f of manifest) {
      const stored = await readRaw(raw(f));
      // Dovecot prepends its trace headers and may rewrite line ends and NUL bytes; the longest
      // printable run of the fixture must still be there.
      const marker = (
        bytesOf(f)
          .toString('latin1')
          .match(/[\x20-\x7e]{8,}/g) ?? []
      ).sort((a, b) => b.length - a.length)[0];
      if (marker) expect(stored.toString('latin1'), f.file).toContain(marker);
    }
  });

  it.each(of('incident'))('$file becomes an incident', async (f) => {
    const r = raw(f);
    expect(r, `${f.file}: ${r.reason ?? ''}`).toMatchObject({ state: 'ingested' });
    const incident = await Incident.findOne({ openedBy: r._id }).lean();
    expect(
      incident,
      `${f.file} opened no incident of its own (incident ${r.incidentNumber})`,
    ).not.toBeNull();
    expect(r.incidentNumber).toBe(incident!.number);
    if (f.from) expect(incident!.customer?.address).toBe(f.from);
    if (f.subjectIncludes) expect(incident!.subject).toContain(f.subjectIncludes);

    const entry = (await timelineOf(incident!.number)).find((e) => e._id === `msg-${r._id}`);
    expect(entry, 'timeline entry of the message').toBeDefined();
    if (f.subjectIncludes) expect(entry!.subject).toContain(f.subjectIncludes);
    if (f.bodyIncludes) expect(entry!.fullText).toContain(f.bodyIncludes);

    const ids = entry!.attachmentIds ?? [];
    const docs = await Attachment.find({ _id: { $in: ids } }).lean();
    const got = ids
      .map((id) => docs.find((d) => d._id === id))
      .map((d) => ({ filename: d?.filename ?? null, size: d?.size }));
    expect(got).toEqual(f.attachments.map((a) => ({ filename: a.filename, size: a.size })));
    for (const d of docs) {
      expect(d.incidentNumber).toBe(incident!.number);
      expect((await readBlob(d.blobId)).length).toBe(d.size);
    }

    // A person gets exactly one acknowledgement; a machine gets none.
    const { ack, captured } = await acksFor(r._id);
    if (incident!.automatic) expect(ack).toBeNull();
    else expect(captured.map((m) => m.envelopeTo)).toEqual([[incident!.customer?.address]]);
  });

  it('decodes uuencoded data: a block in the text body and an x-uuencode part', async () => {
    const attachmentOf = async (file: string) => {
      const r = raw(manifest.find((f) => f.file === file)!);
      const entry = (await timelineOf(r.incidentNumber!)).find((e) => e._id === `msg-${r._id}`)!;
      const [doc] = await Attachment.find({ _id: { $in: entry.attachmentIds } }).lean();
      return { entry, doc: doc!, bytes: await readBlob(doc!.blobId) };
    };
    const inBody = await attachmentOf('12-uuencode-in-text-body.eml');
    expect(inBody.entry.fullText).not.toMatch(/^begin 644/m);
    expect(inBody.entry.fullText).not.toMatch(/^M3F]V/m);
    expect(inBody.doc.contentType).toBe('text/plain');
    expect(inBody.bytes.toString('utf8')).toMatch(
      /^Nov {2}4 02:00:00 export\[21480\]: ERROR row 1000/,
    );
    const part = await attachmentOf('13-x-uuencode-part-groupwise.eml');
    expect(part.bytes.toString('utf8')).toMatch(
      /^0000 {2}T\+00\.000s {2}SYN 10\.0\.0\.0:443 -> 10\.8\.0\.0:50000 {2}RST\n/,
    );
    expect(part.bytes.toString('latin1')).not.toContain('begin 644');
  });

  it.each([...of('autoreply'), ...of('list')])(
    '$file ($expect) is recorded without an acknowledgement',
    async (f) => {
      const r = raw(f);
      expect(r, `${f.file}: ${r.reason ?? ''}`).toMatchObject({ state: 'ingested' });
      expect(r.kind).not.toBe('customer');
      const ack = (await acksFor(r._id)).ack;
      expect(ack).toBeNull();
      if (r.kind === 'auto-reply') {
        // An out-of-office about an incident this database never had threads to nothing: it is
        // kept and marked, but opens no incident (and so starts no SLA clock).
        expect(r.incidentNumber).toBeUndefined();
        expect(await Incident.findOne({ openedBy: r._id }).lean()).toBeNull();
        if (f.from) expect(smtp.messages.filter((m) => m.envelopeTo.includes(f.from!))).toEqual([]);
        return;
      }
      expect(r.incidentNumber).toBeTypeOf('number');
      const incident = await findIncident(r.incidentNumber!);
      const entry = (await timelineOf(r.incidentNumber!)).find((e) => e._id === `msg-${r._id}`);
      expect(entry?.automatic).toBeTruthy();
      if (f.subjectIncludes) expect(entry!.subject).toContain(f.subjectIncludes);
      if (f.bodyIncludes) expect(entry!.fullText).toContain(f.bodyIncludes);
      if (f.from) expect(entry!.from).toBe(f.from);
      if (incident!.openedBy === r._id) expect(incident!.automatic).toBeTruthy();
      if (f.from) expect(smtp.messages.filter((m) => m.envelopeTo.includes(f.from!))).toEqual([]);
    },
  );

  it.each(of('bounce'))(
    '$file is a bounce about mail incidesk did not send: set aside, no incident, no ack',
    async (f) => {
      const r = raw(f);
      expect(r).toMatchObject({
        state: 'quarantined',
        reason: 'delivery report about a message incidesk did not send',
      });
      expect(await Incident.findOne({ openedBy: r._id }).lean()).toBeNull();
      expect((await acksFor(r._id)).ack).toBeNull();
      if (f.from) expect(smtp.messages.filter((m) => m.envelopeTo.includes(f.from!))).toEqual([]);
    },
  );

  it.each(of('quarantine'))('$file is quarantined with a reason and its bytes kept', async (f) => {
    const r = raw(f);
    expect(r.state).toBe('quarantined');
    expect(r.reason?.trim()).toBeTruthy();
    expect(r.incidentNumber ?? null).toBeNull();
    expect(await Incident.findOne({ openedBy: r._id }).lean()).toBeNull();
    const stored = await readRaw(r);
    expect(stored.length).toBe(r.size);
    expect(stored.length).toBeGreaterThanOrEqual(bytesOf(f).length > 0 ? 1 : 0);
  });

  it('dropped nothing and failed no job', async () => {
    expect(await RawMessage.countDocuments()).toBe(manifest.length);
    expect(rawOf.size).toBe(manifest.length);
    const counts = await app.ctx.queues.ingest.getJobCounts();
    expect(counts.failed).toBe(0);
    expect((await app.ctx.queues.notify.getJobCounts()).failed).toBe(0);
    expect(await Outbox.countDocuments({ state: { $ne: 'sent' } })).toBe(0);
  });

  it('records a qmail (plain-text) bounce of one of its own acknowledgements on the incident', async () => {
    const ack = (await Outbox.findOne({ kind: 'ack', state: 'sent' }).lean())!;
    const bounce = [
      'Return-Path: <>',
      'Date: 5 Nov 2026 14:03:11 -0000',
      'From: MAILER-DAEMON@mail.example.org',
      `To: ${SUPPORT}`,
      'Subject: failure notice',
      'Message-ID: <20261105140311.99999.qmail@mail.example.org>',
      '',
      'Hi. This is the qmail-send program at mail.example.org.',
      "I'm afraid I wasn't able to deliver your message to the following addresses.",
      "This is a permanent error; I've given up. Sorry it didn't work out.",
      '',
      `<${ack.to}>:`,
      'Sorry, no mailbox here by that name. (#5.1.1)',
      '',
      '--- Below this line is a copy of the message.',
      '',
      `Return-Path: <${SUPPORT}>`,
      `From: Support <${SUPPORT}>`,
      `To: ${ack.to}`,
      `Subject: ${ack.subject}`,
      `Message-ID: ${ack.messageId}`,
      '',
      'Hello,',
      '',
    ].join('\r\n');
    await deliver(t.mailboxUser, { raw: bounce, from: '' });
    const event = await waitUntil('delivery-failed event', async () =>
      (await timelineOf(ack.incidentNumber)).find((e) => e.event === 'delivery-failed'),
    );
    expect(event.detail).toMatchObject({ status: '5.1.1', recipients: [ack.to] });
    // The raw message is marked ingested last, just after the event.
    const raw = await waitUntil('the bounce marked ingested', async () => {
      const r = await RawMessage.findById(event.rawId).lean();
      return r?.state === 'ingested' ? r : null;
    });
    expect(raw.kind).toBe('bounce');
    expect(await Address.findById(ack.to).lean()).toMatchObject({ undeliverable: true });
    expect(await Incident.findOne({ openedBy: event.rawId }).lean()).toBeNull();
  });

  it('is still running: a plain message after the corpus becomes an incident', async () => {
    const before = await Incident.countDocuments();
    await deliver(t.mailboxUser, {
      from: 'after.corpus@example.com',
      to: SUPPORT,
      subject: 'Still there?',
      text: 'One more ordinary message after the hostile corpus.',
      messageId: '<after-corpus@example.com>',
    });
    const incident = await waitUntil('incident for the message after the corpus', () =>
      Incident.findOne({ 'customer.address': 'after.corpus@example.com' }).lean(),
    );
    expect(incident.subject).toBe('Still there?');
    expect(await Incident.countDocuments()).toBe(before + 1);
    await waitUntil('its acknowledgement', async () =>
      smtp.messages.some((m) => m.envelopeTo.includes('after.corpus@example.com')),
    );
  });
});
