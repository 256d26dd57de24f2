/** The intake resumes without loss or duplicates after a dropped connection or a UIDVALIDITY change. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { Incident, MailboxState, RawMessage } from '../../src/store/models.js';
import {
  deliver,
  imapSession,
  SUPPORT,
  testEnv,
  testLogger,
  testPlan,
  waitUntil,
  type TestEnv,
} from '../support/harness.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { inject } from 'vitest';

const message = (i: number) =>
  [
    `From: person${i}@example.com`,
    `To: ${SUPPORT}`,
    `Subject: Resume test ${i}`,
    `Message-ID: <resume-${i}@example.com>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    '',
    `Body of message ${i}.`,
    '',
  ].join('\r\n');

describe('intake resume', () => {
  let smtp: SmtpCapture;
  let app: RunningApp | undefined;
  beforeAll(async () => {
    smtp = await startSmtpCapture();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });
  afterAll(async () => smtp?.close());

  it('stops promptly when stopped while its session is still being set up', async () => {
    const started = await startApp(testEnv(smtp).config, testPlan(), testLogger());
    const stopped = started.stop().then(() => 'stopped');
    const late = new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000));
    expect(await Promise.race([stopped, late])).toBe('stopped');
  });

  it('reconnects after the IMAP connection is cut and takes in what arrived meanwhile', async () => {
    const proxy = await TcpProxy.start(inject('services').imapPort);
    const t: TestEnv = testEnv(smtp, { IMAP_PORT: String(proxy.port) });
    try {
      app = await startApp(t.config, testPlan(), testLogger());
      await deliver(t.mailboxUser, { raw: message(1), from: 'person1@example.com' });
      await waitUntil('first incident', async () => (await Incident.countDocuments()) === 1);

      proxy.cut();
      await deliver(t.mailboxUser, { raw: message(2), from: 'person2@example.com' });
      await deliver(t.mailboxUser, { raw: message(3), from: 'person3@example.com' });
      await waitUntil(
        'all three incidents',
        async () => (await Incident.countDocuments()) === 3,
        30_000,
      );
      expect(proxy.connections).toBeGreaterThanOrEqual(2);
      expect(app.intake!.status.reconnects).toBeGreaterThanOrEqual(1);
      expect(await RawMessage.countDocuments()).toBe(3);
    } finally {
      await proxy.close();
    }
  });

  it('rescans after a UIDVALIDITY change without duplicating what it already took in', async () => {
    const t = testEnv(smtp, { IMAP_MAILBOX: 'Support' });
    const imap = await imapSession(t.mailboxUser);
    try {
      await imap.mailboxCreate('Support');
      for (const i of [1, 2, 3]) await imap.append('Support', message(i));
      app = await startApp(t.config, testPlan(), testLogger());
      await waitUntil('three incidents', async () => (await Incident.countDocuments()) === 3);
      const before = await MailboxState.findOne().lean();
      await app.stop();
      app = undefined;

      // Recreating the mailbox gives it a new UIDVALIDITY: every old UID is void.
      await imap.mailboxDelete('Support');
      await imap.mailboxCreate('Support');
      for (const i of [1, 2, 3, 4]) await imap.append('Support', message(i));

      app = await startApp(t.config, testPlan(), testLogger());
      await waitUntil('the fourth incident', async () => (await Incident.countDocuments()) === 4);
      await app.intake!.synced();
      const after = await MailboxState.findOne().lean();
      expect(after!.uidValidity).not.toBe(before!.uidValidity);
      expect(after!.resets).toBe(1);
      expect(after!.lastUid).toBe(4);
      expect(await RawMessage.countDocuments()).toBe(4);
      expect(await Incident.countDocuments()).toBe(4);
    } finally {
      await imap.logout();
    }
  });
});
