import { describe, expect, it } from 'vitest';
import { issuedToken } from '../../src/domain/tokens.js';
import { Incident, Outbox, RawMessage } from '../../src/store/models.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { storeRawMany } from '../../src/store/raw-messages.js';
import { notify } from '../../src/actions/notify.js';
import { SEND_CLAIM_MS } from '../../src/constants.js';
import { claimOutbox, enqueueOutbox, markOutboxAttempt } from '../../src/store/outbox.js';
import { unfinishedWork } from '../../src/store/recovery.js';
import { ackIdFor } from '../../src/mail/compose.js';
import { jobIds } from '../../src/queues.js';
import { deliver, SECRET, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';

describe('intake end to end (Dovecot → incidesk → SMTP)', () => {
  const h = useTestApp();

  it('turns a customer email into an incident and acknowledges it with threading headers', async () => {
    await deliver(h.t.mailboxUser, {
      from: '"Carla Customer" <carla@example.com>',
      to: SUPPORT,
      subject: 'Invoice portal returns 500',
      text: 'Since this morning the invoice portal shows an error 500.\nPlease help.',
      messageId: '<first-1@mail.example.com>',
      attachments: [{ filename: 'screenshot.png', content: Buffer.alloc(2048, 7) }],
    });
    const [ack] = await h.smtp.waitFor(1);
    // Triage follows the intake: without rules the plan's defaults apply (medium × medium).
    const incident = await waitUntil('triage', async () => {
      const i = await findIncident(1);
      return i?.status === 'triaged' ? i : null;
    });
    expect(incident).toMatchObject({
      number: 1,
      category: 'general',
      priority: 'P3',
      subject: 'Invoice portal returns 500',
      customer: { address: 'carla@example.com', name: 'Carla Customer' },
      messageCount: 1,
    });
    const timeline = await timelineOf(1);
    const inbound = timeline.find((e) => e.type === 'message' && e.direction === 'inbound')!;
    expect(inbound.text).toContain('invoice portal shows an error 500');
    expect(inbound.attachmentIds).toHaveLength(1);
    // The raw message is marked ingested last, after the work it started is queued.
    const raw = await waitUntil('the message marked ingested', async () => {
      const r = await RawMessage.findById(inbound.rawId).lean();
      return r?.state === 'ingested' ? r : null;
    });
    expect(raw.incidentNumber).toBe(1);

    // Issued to the customer: it threads their replies, and authorises nothing.
    const token = issuedToken(SECRET, 1, { address: 'carla@example.com', role: 'customer' });
    expect(ack!.envelopeTo).toEqual(['carla@example.com']);
    expect(ack!.parsed.subject).toBe('[INC-000001] Re: Invoice portal returns 500');
    expect(ack!.parsed.messageId).toMatch(
      new RegExp(`^<INC-000001\\.[a-z0-9-]+\\.${token}@example\\.test>$`),
    );
    expect(ack!.parsed.inReplyTo).toBe('<first-1@mail.example.com>');
    expect(ack!.parsed.references).toContain('<first-1@mail.example.com>');
    expect(ack!.parsed.replyTo?.value[0]?.address).toBe(`support+INC-000001.${token}@example.test`);
    expect(ack!.header('auto-submitted')).toBe('auto-replied');
    expect(ack!.parsed.text).toContain('INC-000001');
    expect(ack!.parsed.html).toContain('INC-000001');
    await waitUntil(
      'ack recorded as sent',
      async () => (await Outbox.findOne({ incidentNumber: 1, state: 'sent' })) !== null,
    );
  });

  it('threads a reply to the acknowledgement onto the same incident without a second ack', async () => {
    const ack = h.smtp.messages[0]!;
    // What Gmail/Thunderbird/Apple Mail send: In-Reply-To + References, to the Reply-To address.
    await deliver(h.t.mailboxUser, {
      from: 'carla@example.com',
      to: ack.parsed.replyTo!.value[0]!.address!,
      subject: `Re: ${ack.parsed.subject}`,
      inReplyTo: ack.parsed.messageId,
      references: [...(ack.parsed.references as string[]), ack.parsed.messageId!],
      text: 'It works again now, thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Example Support <support@example.test> wrote:\n> Thank you for contacting Example Corp.',
    });
    const incident = await waitUntil('second message on INC-000001', async () => {
      const i = await findIncident(1);
      return i && i.messageCount === 2 ? i : null;
    });
    expect(await Incident.countDocuments()).toBe(1);
    const last = (await timelineOf(incident.number))
      .filter((e) => e.type === 'message' && e.direction === 'inbound')
      .at(-1)!;
    expect(last.text).toBe('It works again now, thanks!');
    expect(last.fullText).toContain('> Thank you for contacting');
    await new Promise((r) => setTimeout(r, 500));
    expect(h.smtp.messages).toHaveLength(1);
  });

  it('threads by subject tag only for participants (an Outlook reply that dropped the headers)', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'carla@example.com',
      to: SUPPORT,
      subject: 'RE: [INC-000001] Re: Invoice portal returns 500',
      text: 'One more detail: it happened at 09:12.',
    });
    await waitUntil(
      'third message on INC-000001',
      async () => (await findIncident(1))?.messageCount === 3,
    );

    // A stranger naming the same incident in the subject gets an incident of their own.
    await deliver(h.t.mailboxUser, {
      from: 'mallory@example.org',
      to: SUPPORT,
      subject: '[INC-000001] please add me',
      text: 'I want to see this incident.',
    });
    const second = await waitUntil('stranger opens INC-000002', () => findIncident(2));
    expect(second.customer.address).toBe('mallory@example.org');
    expect((await findIncident(1))!.participants).not.toContain('mallory@example.org');
    const acks = await h.smtp.waitFor(2);
    // Only the new incident's own tag, and one Re: (the other incident's tag is dropped).
    expect(acks[1]!.parsed.subject).toBe('[INC-000002] Re: please add me');
  });

  it('records automatic mail without acknowledging it', async () => {
    const before = h.smtp.messages.length;
    await deliver(h.t.mailboxUser, {
      from: 'monitor@example.net',
      to: SUPPORT,
      subject: 'ALERT disk full on db-1',
      text: 'Disk /var is 98% full',
      headers: { 'Auto-Submitted': 'auto-generated' },
    });
    const incident = await waitUntil('alert incident', async () =>
      Incident.findOne({ 'customer.address': 'monitor@example.net' }).lean(),
    );
    expect(incident.automatic).toBe('auto-generated');
    await waitUntil('the suppression on the timeline', async () =>
      (await timelineOf(incident.number)).some((e) => e.event === 'acknowledgement-suppressed'),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(h.smtp.messages.length).toBe(before);
  });

  it('stores a batch in one insert; bytes stored before keep their state and are not stored twice', async () => {
    const mail = (n: number) => Buffer.from(`Subject: batch ${n}\r\n\r\nbody ${n}\r\n`);
    const source = (uid: number) => ({ mailbox: 'INBOX', uidValidity: 'batch-test', uid });
    const [earlier] = await storeRawMany([{ bytes: mail(1), source: source(1) }]);
    await RawMessage.updateOne({ _id: earlier!.rawId }, { $set: { state: 'ingested' } });
    const results = await storeRawMany([
      { bytes: mail(2), source: source(2) },
      { bytes: mail(1), source: source(3) }, // stored before, and ingested since
      { bytes: mail(3), source: source(4), quarantineReason: 'too large', headersOnly: true },
      { bytes: mail(2), source: source(5) }, // the same bytes twice in one batch
    ]);
    expect(results.map((r) => [r.state, r.created])).toEqual([
      ['stored', true],
      ['ingested', false],
      ['quarantined', true],
      ['stored', false],
    ]);
    expect(results[3]!.rawId).toBe(results[0]!.rawId);
    const stored = await RawMessage.find({ 'source.uidValidity': 'batch-test' }).lean();
    expect(stored.map((r) => r.source?.uid).sort()).toEqual([1, 2, 4]);
    expect(stored.find((r) => r.source?.uid === 4)).toMatchObject({
      state: 'quarantined',
      reason: 'too large',
      headersOnly: true,
    });
  });

  it('the ingest job sends the acknowledgement itself; a notify job for it later sends nothing', async () => {
    const before = h.smtp.messages.length;
    await deliver(h.t.mailboxUser, {
      from: 'dora@example.com',
      to: SUPPORT,
      subject: 'Printer offline',
      text: 'The printer on floor 2 is offline.',
    });
    await h.smtp.waitFor(before + 1);
    const incident = await waitUntil('the incident', () =>
      Incident.findOne({ 'customer.address': 'dora@example.com' }).lean(),
    );
    const ackId = ackIdFor(String(incident.openedBy));
    // Marked sent just after SMTP accepted it.
    const ack = await waitUntil('the acknowledgement marked sent', async () => {
      const doc = await Outbox.findById(ackId).lean();
      return doc?.state === 'sent' ? doc : null;
    });
    expect(ack.attempts).toBe(0);
    // No queue hop: the notify queue never saw it.
    expect(await h.app.ctx.queues.notify.getJob(jobIds.notify(ackId))).toBeUndefined();
    // A stray notify job (a recovery sweep, a replayed dead letter) claims nothing and sends nothing.
    expect(await notify(h.app.ctx, ackId)).toBe('already-sent');
    await new Promise((r) => setTimeout(r, 300));
    expect(h.smtp.messages.length).toBe(before + 1);
  });

  it('a message one job is sending is sent by no other job until that claim runs out', async () => {
    const mail = (id: string) => ({
      _id: id,
      kind: 'digest',
      incidentNumber: 0,
      to: 'claims@example.com',
      messageId: `<${id}@incidesk.test>`,
      subject: `claimed ${id}`,
      text: 'claimed',
      attachmentIds: [],
      references: [],
    });
    const soon = () => new Date(Date.now() + 1000); // the recovery sweep's "older than"
    const unsent = async () => (await unfinishedWork(soon(), 500)).unsent;
    const before = h.smtp.messages.length;

    // Born claimed by the ingest job that will send it (an acknowledgement).
    await enqueueOutbox(mail('claim-held'), { by: 'ingest-x', at: new Date() });
    expect(await unsent()).not.toContain('claim-held');
    await expect(notify(h.app.ctx, 'claim-held')).rejects.toThrow(/being sent by ingest-x/);
    // The same job's rerun (its process died mid-send) takes it again at once.
    expect(await claimOutbox('claim-held', 'ingest-x', new Date())).not.toBeNull();
    // A claim older than SEND_CLAIM_MS is a sender that is gone: the sweep and a notify job take it.
    const stale = new Date(Date.now() - SEND_CLAIM_MS - 1000);
    await Outbox.updateOne({ _id: 'claim-held' }, { $set: { lastAttemptAt: stale } });
    expect(await unsent()).toContain('claim-held');
    expect(await notify(h.app.ctx, 'claim-held')).toBe('sent');

    // A failed attempt lets go: the retry may come from another job.
    await enqueueOutbox(mail('claim-failed'), { by: 'ingest-y', at: new Date() });
    await markOutboxAttempt('claim-failed', 'connection reset');
    expect(await unsent()).toContain('claim-failed');
    expect(await notify(h.app.ctx, 'claim-failed')).toBe('sent');

    await h.smtp.waitFor(before + 2);
    await new Promise((r) => setTimeout(r, 300));
    const subjects = h.smtp.messages.slice(before).map((m) => m.parsed.subject);
    expect(subjects.sort()).toEqual(['claimed claim-failed', 'claimed claim-held']);
  });
});
