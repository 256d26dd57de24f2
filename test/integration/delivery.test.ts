/** Outbound delivery: robots cannot make us loop, SMTP failures are retried or recorded, bounces are understood. */
import { describe, expect, it } from 'vitest';
import { Address, Incident, Outbox, RawMessage } from '../../src/store/models.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { deliver, SUPPORT, testPlan, waitUntil, useTestApp } from '../support/harness.js';

const settle = (ms = 1500) => new Promise((r) => setTimeout(r, ms));

describe('outbound delivery', () => {
  const h = useTestApp();

  it('an auto-responder answering every acknowledgement gets at most the allowed number, then silence', async () => {
    const robot = 'robot@example.net';
    // The worst robot: no Auto-Submitted, no In-Reply-To, a fresh subject every time.
    let answered = 0;
    let running = true;
    const responder = (async () => {
      while (running) {
        const acks = h.smtp.messages.filter((m) => m.envelopeTo.includes(robot));
        while (answered < acks.length) {
          answered++;
          await deliver(h.t.mailboxUser, {
            from: robot,
            to: SUPPORT,
            subject: `Auto: received ${answered}`,
            text: 'Your message was received.',
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await deliver(h.t.mailboxUser, {
      from: robot,
      to: SUPPORT,
      subject: 'Hello',
      text: 'First contact.',
    });
    const limit = testPlan().acknowledgements.perSenderPerHour;
    await waitUntil(
      'the robot to be cut off',
      async () => (await Incident.countDocuments({ 'customer.address': robot })) > limit,
    );
    await settle(3000);
    running = false;
    await responder;
    const acksToRobot = h.smtp.messages.filter((m) => m.envelopeTo.includes(robot)).length;
    expect(acksToRobot).toBe(limit);
    // The message that found the limit reached is recorded, and silence follows.
    expect(await Incident.countDocuments({ 'customer.address': robot })).toBe(limit + 1);
  });

  it('a well-behaved auto-reply to an acknowledgement is recorded on the incident and not answered', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'dana@example.com',
      to: SUPPORT,
      subject: 'VPN down',
      text: 'VPN is down.',
    });
    const ack = (await h.smtp.waitFor(h.smtp.messages.length + 1)).at(-1)!;
    const number = (await Incident.findOne({ 'customer.address': 'dana@example.com' }).lean())!
      .number;
    const before = h.smtp.messages.length;
    await deliver(h.t.mailboxUser, {
      from: 'dana@example.com',
      to: SUPPORT,
      subject: `Automatic reply: ${ack.parsed.subject}`,
      inReplyTo: ack.parsed.messageId,
      headers: { 'Auto-Submitted': 'auto-replied', 'X-Auto-Response-Suppress': 'All' },
      text: 'I am out of the office until Monday.',
    });
    await waitUntil(
      'auto-reply on the timeline',
      async () => (await findIncident(number))!.messageCount === 2,
    );
    await settle();
    expect(h.smtp.messages.length).toBe(before);
  });

  it('retries a temporary SMTP failure until the acknowledgement goes through', async () => {
    h.smtp.failWith(451);
    const before = h.smtp.messages.length;
    await deliver(h.t.mailboxUser, {
      from: 'erin@example.com',
      to: SUPPORT,
      subject: 'Printer jam',
      text: 'Jammed.',
    });
    await waitUntil(
      'a failed attempt',
      async () =>
        (await Outbox.findOne({ to: 'erin@example.com', attempts: { $gte: 1 } })) !== null,
    );
    h.smtp.failWith(null);
    await h.smtp.waitFor(before + 1, 30_000);
    // The worker records the delivery just after the server has accepted it.
    const ack = await waitUntil('the acknowledgement recorded as sent', () =>
      Outbox.findOne({ to: 'erin@example.com', state: 'sent' }).lean(),
    );
    expect(ack!.lastError).toMatch(/451/);
  });

  it('records a permanent SMTP failure on the incident and stops writing to that address', async () => {
    h.smtp.failWith(550);
    await deliver(h.t.mailboxUser, {
      from: 'frank@example.com',
      to: SUPPORT,
      subject: 'Mailbox full?',
      text: 'Hello.',
    });
    const failed = await waitUntil('permanent failure', async () =>
      Outbox.findOne({ to: 'frank@example.com', state: 'failed' }).lean(),
    );
    h.smtp.failWith(null);
    expect(failed.lastError).toMatch(/550/);
    expect((await timelineOf(failed.incidentNumber)).map((e) => e.event)).toContain(
      'delivery-failed',
    );
    expect(await Address.findById('frank@example.com').lean()).toMatchObject({
      undeliverable: true,
    });

    await deliver(h.t.mailboxUser, {
      from: 'frank@example.com',
      to: SUPPORT,
      subject: 'Another one',
      text: 'Hello again.',
    });
    const second = await waitUntil('second incident from frank', async () =>
      Incident.findOne({
        'customer.address': 'frank@example.com',
        number: { $ne: failed.incidentNumber },
      }).lean(),
    );
    await waitUntil('ack suppressed', async () =>
      (await timelineOf(second.number)).some((e) => e.event === 'acknowledgement-suppressed'),
    );
  });

  it('understands a bounce of its own acknowledgement and opens no incident for it', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'gone@example.org',
      to: SUPPORT,
      subject: 'Old account',
      text: 'Hi.',
    });
    const ackDoc = await waitUntil('ack sent to gone@', async () =>
      Outbox.findOne({ to: 'gone@example.org', state: 'sent' }).lean(),
    );
    const incidents = await Incident.countDocuments();
    const boundary = 'dsn-boundary-1';
    const dsn = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.example.org>',
      `To: ${SUPPORT}`,
      'Subject: Undelivered Mail Returned to Sender',
      'Auto-Submitted: auto-replied',
      'Message-ID: <dsn-1@mx.example.org>',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      'MIME-Version: 1.0',
      '',
      `--${boundary}`,
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      `--${boundary}`,
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.org',
      '',
      'Final-Recipient: rfc822; gone@example.org',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
      '',
      `--${boundary}`,
      'Content-Type: text/rfc822-headers',
      '',
      `From: ${SUPPORT}`,
      'To: gone@example.org',
      `Message-ID: ${ackDoc.messageId}`,
      `Subject: ${ackDoc.subject}`,
      '',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    await deliver(h.t.mailboxUser, { raw: dsn, from: '' });
    await waitUntil(
      'bounce recorded',
      async () => (await RawMessage.findOne({ kind: 'bounce' })) !== null,
    );
    const events = await timelineOf(ackDoc.incidentNumber);
    expect(events.find((e) => e.event === 'delivery-failed')?.detail).toMatchObject({
      status: '5.1.1',
      recipients: ['gone@example.org'],
    });
    expect(await Address.findById('gone@example.org').lean()).toMatchObject({
      undeliverable: true,
    });
    expect(await Incident.countDocuments()).toBe(incidents);
  });
});
