/**
 * An outbound mail is on its incident's timeline from the moment it is decided, written with
 * the decision; sending it only marks the outbox. So a reply can thread to a mail not yet
 * sent, a resend after a crash adds nothing to the history, and a mail stored before this was
 * so still gets its entry when it is sent.
 */
import { describe, expect, it } from 'vitest';
import { notify } from '../../src/actions/notify.js';
import { incidentDetail } from '../../src/cli/format.js';
import { findIncidentRecord } from '../../src/store/archive.js';
import { messageIdHolder } from '../../src/store/incidents.js';
import { Incident, Outbox, TimelineEntry, type OutboxDoc } from '../../src/store/models.js';
import { deliver, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';

/** The outbound timeline entries holding this Message-ID. */
const entriesOf = (messageId: string) =>
  TimelineEntry.find({ messageId, direction: 'outbound' }).lean();

describe('outbound mail on the timeline', () => {
  const h = useTestApp();

  it('is there before the mail is sent, shown as not sent, and a reply to it threads meanwhile', async () => {
    const customer = 'gina@example.com';
    h.smtp.failWith(451);
    let ack: OutboxDoc;
    try {
      await deliver(h.t.mailboxUser, {
        from: customer,
        to: SUPPORT,
        subject: 'Scanner offline',
        text: 'The scanner on floor 2 is offline.',
      });
      ack = await waitUntil('an acknowledgement refused once', () =>
        Outbox.findOne({ to: customer, kind: 'ack', attempts: { $gte: 1 } }).lean<OutboxDoc>(),
      );
      expect(ack.state).toBe('pending');
      const [entry, ...more] = await entriesOf(ack.messageId);
      expect(more).toHaveLength(0);
      expect(entry).toMatchObject({
        _id: `out-${ack._id}`,
        incidentNumber: ack.incidentNumber,
        type: 'message',
        event: 'ack',
        from: SUPPORT,
        to: [customer],
        subject: ack.subject,
        text: ack.text,
      });
      // Written with the incident's first entries: dated at the message's arrival.
      const opened = await TimelineEntry.findOne({
        incidentNumber: ack.incidentNumber,
        event: 'opened',
      }).lean();
      expect(entry!.at).toEqual(opened!.at);
      // Our Message-ID is known to threading (with who was on that mail) before it goes out.
      expect(await messageIdHolder([ack.messageId])).toEqual({
        incidentNumber: ack.incidentNumber,
        parties: [SUPPORT, customer],
      });
      const record = (await findIncidentRecord(ack.incidentNumber))!;
      expect(incidentDetail(record.incident, record.timeline)).toContain('[ack, not sent yet]');

      // The customer answers the mail we have not managed to send (another copy reached them).
      await deliver(h.t.mailboxUser, {
        from: customer,
        to: SUPPORT,
        subject: 'Also the printer',
        inReplyTo: ack.messageId,
        text: 'And the printer next to it.',
      });
      await waitUntil(
        'the reply on the same incident',
        async () => (await Incident.findById(ack.incidentNumber).lean())?.messageCount === 2,
      );
      expect(await Incident.countDocuments({ 'customer.address': customer })).toBe(1);
      expect((await Outbox.findById(ack._id).lean())!.state).toBe('pending');
    } finally {
      h.smtp.failWith(null);
    }
    await waitUntil('the acknowledgement sent', () =>
      Outbox.findOne({ _id: ack._id, state: 'sent' }).lean(),
    );
    expect(await entriesOf(ack.messageId)).toHaveLength(1);
    const record = (await findIncidentRecord(ack.incidentNumber))!;
    const shown = incidentDetail(record.incident, record.timeline);
    expect(shown).toContain('[ack]');
    expect(shown).not.toContain('not sent yet');
  });

  it('a mail sent again after the process died between SMTP and the "sent" mark is on the timeline once', async () => {
    const customer = 'hank@example.com';
    const mailer = h.app.ctx.mailer;
    const send = mailer.send.bind(mailer);
    let died = false;
    // The first send of this customer's acknowledgement goes out, then nothing after it runs:
    // as a process killed right after the server's 250.
    mailer.send = async (message, attachments) => {
      await send(message, attachments);
      if (message.to === customer && !died) {
        died = true;
        throw new Error('killed after SMTP accepted the message');
      }
    };
    try {
      await deliver(h.t.mailboxUser, {
        from: customer,
        to: SUPPORT,
        subject: 'Badge reader',
        text: 'My badge does not open the door.',
      });
      const ack = await waitUntil('the acknowledgement sent', () =>
        Outbox.findOne({ to: customer, kind: 'ack', state: 'sent' }).lean<OutboxDoc>(),
      );
      expect(died).toBe(true);
      const copies = h.smtp.messages.filter((m) => m.envelopeTo.includes(customer));
      // SMTP's at-least-once: the same message (one Message-ID) twice, never more.
      expect(copies).toHaveLength(2);
      expect(new Set(copies.map((m) => m.parsed.messageId))).toEqual(new Set([ack.messageId]));
      expect(await entriesOf(ack.messageId)).toHaveLength(1);
    } finally {
      mailer.send = send;
    }
  });

  it('a mail stored pending before entries were written at the decision gets its entry when sent, once', async () => {
    const customer = 'ivy@example.com';
    await deliver(h.t.mailboxUser, {
      from: customer,
      to: SUPPORT,
      subject: 'Monitor flickers',
      text: 'It flickers.',
    });
    const ack = await waitUntil('the acknowledgement sent', () =>
      Outbox.findOne({ to: customer, kind: 'ack', state: 'sent' }).lean<OutboxDoc>(),
    );
    // As an older version stored it: no `onTimeline`, no entry, created an hour ago.
    const createdAt = new Date(Date.now() - 3600_000);
    await Outbox.collection.insertOne({
      _id: 'legacy-update-1' as never,
      kind: 'customer-update',
      incidentNumber: ack.incidentNumber,
      to: customer,
      from: SUPPORT,
      messageId: '<legacy-update-1@example.test>',
      references: [],
      subject: ack.subject,
      text: 'We are looking into it.',
      attachmentIds: [],
      state: 'pending',
      attempts: 0,
      createdAt,
      updatedAt: createdAt,
    });
    expect(await entriesOf('<legacy-update-1@example.test>')).toHaveLength(0);
    expect(await notify(h.app.ctx, 'legacy-update-1')).toBe('sent');
    const [entry, ...more] = await entriesOf('<legacy-update-1@example.test>');
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({
      _id: 'out-legacy-update-1',
      incidentNumber: ack.incidentNumber,
      at: createdAt,
      event: 'customer-update',
      to: [customer],
      text: 'We are looking into it.',
    });
    // Sent again (a rerun that found it pending once more): still one entry.
    await Outbox.updateOne({ _id: 'legacy-update-1' }, { $set: { state: 'pending' } });
    expect(await notify(h.app.ctx, 'legacy-update-1')).toBe('sent');
    expect(await entriesOf('<legacy-update-1@example.test>')).toHaveLength(1);
  });
});
