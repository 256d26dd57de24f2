/**
 * For tests that work a running app by mail: find the mail it sent, reply to it as someone
 * (threaded, with a quoted part as mail clients add), and run the periodic SLA sweep.
 */
import { expect } from 'vitest';
import { deliverReply, waitUntil, type TestApp } from './harness.js';
import type { CapturedMail } from './smtp-capture.js';

export function mailExchange(h: TestApp) {
  const mailsTo = (address: string, match: (m: CapturedMail) => boolean) =>
    h.smtp.messages.filter((m) => m.envelopeTo.includes(address) && match(m));
  return {
    mailsTo,
    /** Waits until `count` mails to `address` match, and returns them. */
    mailTo: (address: string, match: (m: CapturedMail) => boolean, count = 1) =>
      waitUntil(`${count} mail(s) to ${address}`, async () => {
        const found = mailsTo(address, match);
        return found.length >= count ? found : null;
      }),
    subjectHas: (s: string) => (m: CapturedMail) => m.parsed.subject?.includes(s) === true,
    textHas: (s: string) => (m: CapturedMail) => m.parsed.text?.includes(s) === true,
    replyTo: (original: CapturedMail, from: string, text: string) =>
      deliverReply(h.t.mailboxUser, original, from, text),
    /** One run of the periodic sweep (SLA checks, reminders, chasing), waited for. */
    sweep: async () => {
      const job = await h.app.ctx.queues.sla.add('sweep', { incident: 0 });
      await waitUntil(
        'sweep done',
        async () => (await job.isCompleted()) || (await job.isFailed()),
      );
      expect(await job.isFailed()).toBe(false);
    },
  };
}
