/**
 * Several support mailboxes in one incidesk, on the real Dovecot: mail to each becomes an
 * incident in that mailbox's group, acknowledged from its own address; replies thread back by
 * each address's plus-address tokens; and a mailbox whose password is wrong leaves the other
 * two working, with `status` and `check --connect` naming the broken one.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDigest, digestRecipients, loadDigestInputs } from '../../src/actions/digest.js';
import { startApp, type RunningApp } from '../../src/app.js';
import { periodContaining } from '../../src/domain/digest-schedule.js';
import { countIncidents, findIncident, timelineOf } from '../../src/store/incidents.js';
import {
  deliver,
  deliverReply,
  testEnv,
  testLogger,
  testPlan,
  testResolver,
  waitUntil,
  type TestEnv,
} from '../support/harness.js';
import { runIncidesk, spawnIncidesk } from '../support/process.js';
import { freePort, uniqueName } from '../support/services.js';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from '../support/smtp-capture.js';

const PLAN = `
groups:
  - { id: helpdesk, name: Help Desk }
  - { id: security, name: Security, lead: sam, manager: hana }
  - { id: billing, name: Billing }
agents:
  - { id: hana, name: Hana, email: hana@example.test, groups: [helpdesk] }
  - { id: sam, name: Sam, email: sam@example.test, groups: [security] }
  - { id: bea, name: Bea, email: bea@example.test, groups: [billing] }
routing:
  rules: []
  default: helpdesk
`;

/** Three Dovecot users as three support mailboxes; `billingPass` breaks the third one. */
function threeMailboxes(
  smtpPort: number,
  billingPass = 'secret',
  extra: Record<string, string> = {},
) {
  const address = {
    support: `${uniqueName('support')}@example.test`,
    security: `${uniqueName('security')}@example.test`,
    billing: `${uniqueName('billing')}@example.test`,
  };
  const t: TestEnv = testEnv(
    { port: smtpPort },
    {
      IMAP_USER: address.support,
      SUPPORT_ADDRESS: address.support,
      SUPPORT_NAME: 'Example Support',
      INCIDESK_MAILBOXES: 'security, billing',
      MAILBOX_SECURITY_IMAP_USER: address.security,
      MAILBOX_SECURITY_IMAP_PASS: 'secret',
      MAILBOX_SECURITY_SUPPORT_ADDRESS: address.security,
      MAILBOX_SECURITY_SUPPORT_NAME: 'Example Security',
      MAILBOX_SECURITY_GROUP: 'security',
      MAILBOX_BILLING_IMAP_USER: address.billing,
      MAILBOX_BILLING_IMAP_PASS: billingPass,
      MAILBOX_BILLING_SUPPORT_ADDRESS: address.billing,
      MAILBOX_BILLING_SUPPORT_NAME: 'Example Billing',
      MAILBOX_BILLING_GROUP: 'billing',
      MAILBOX_BILLING_CATEGORY: 'billing',
      INCIDESK_PLAN: planFile(),
      ...extra,
    },
  );
  return { address, t };
}

/** The plan as a file, as a spawned incidesk reads it. */
const planDir = mkdtempSync(join(tmpdir(), 'incidesk-mailboxes-'));
const planPath = join(planDir, 'plan.yaml');
writeFileSync(planPath, `version: 1\norganisation: Example Corp\n${PLAN}`);
const planFile = () => planPath;

/** A customer writes to one of the mailboxes (`headers`: say, Content-Language). */
const writes = (
  address: ReturnType<typeof threeMailboxes>['address'],
  box: keyof ReturnType<typeof threeMailboxes>['address'],
  from: string,
  headers: Record<string, string> = {},
) =>
  deliver(address[box], {
    from,
    to: address[box],
    subject: 'Hello',
    text: 'Please help.',
    headers,
  });

/** `body` with the three mailboxes served by one in-process app, stopped after it. */
async function servingThree(
  extra: Record<string, string>,
  body: (h: {
    address: ReturnType<typeof threeMailboxes>['address'];
    t: TestEnv;
    smtp: SmtpCapture;
    app: RunningApp;
    /** The first mail of this kind (X-Incidesk-Kind) to this address. */
    mailTo: (to: string, kind: string) => Promise<CapturedMail>;
  }) => Promise<void>,
): Promise<void> {
  const smtp = await startSmtpCapture();
  const { address, t } = threeMailboxes(smtp.port, 'secret', extra);
  const app = await startApp(t.config, testPlan(PLAN), testLogger(), { resolver: testResolver });
  const mailTo = (to: string, kind: string) =>
    waitUntil(`${kind} mail to ${to}`, async () =>
      smtp.messages.find((m) => m.envelopeTo[0] === to && m.header('x-incidesk-kind') === kind),
    );
  try {
    await body({ address, t, smtp, app, mailTo });
  } finally {
    await app.stop();
    await smtp.close();
  }
}

describe('several mailboxes', () => {
  it('mail to each becomes an incident in its group, answered from its own address, and replies thread back', async () => {
    await servingThree({}, async ({ address, t, smtp }) => {
      expect(t.config.mailboxes.map((m) => [m.name, m.supportAddress, m.group])).toEqual([
        ['default', address.support, undefined],
        ['security', address.security, 'security'],
        ['billing', address.billing, 'billing'],
      ]);
      const boxes = ['support', 'security', 'billing'] as const;
      for (const box of boxes)
        await deliver(address[box], {
          from: `${box}-customer@example.com`,
          to: address[box],
          subject: `Question for ${box}`,
          text: 'Please help.',
        });
      const acks = await waitUntil('three acknowledgements', async () => {
        const found = smtp.messages.filter((m) => m.header('x-incidesk-kind') === 'ack');
        return found.length === 3 && found;
      });
      const names = {
        support: 'Example Support',
        security: 'Example Security',
        billing: 'Example Billing',
      };
      for (const box of boxes) {
        const ack = acks.find((m) => m.envelopeTo[0] === `${box}-customer@example.com`)!;
        // From, envelope sender and Reply-To are the address the customer wrote to.
        expect(ack.envelopeFrom).toBe(address[box]);
        expect(ack.parsed.from?.value).toEqual([{ name: names[box], address: address[box] }]);
        const local = address[box].split('@')[0]!;
        expect(ack.parsed.replyTo?.value[0]?.address).toMatch(
          new RegExp(`^${local}\\+INC-\\d{6}\\.[a-z0-9]+@example\\.test$`),
        );
        expect(ack.parsed.messageId).toMatch(/@example\.test>$/);
      }
      const incidents = await waitUntil('three triaged incidents', async () => {
        const all = await Promise.all([1, 2, 3].map((n) => findIncident(n)));
        return all.every((i) => i?.group) && all;
      });
      const byMailbox = Object.fromEntries(incidents.map((i) => [i!.mailbox, i!]));
      expect(byMailbox[address.support]!.group).toBe('helpdesk');
      expect(byMailbox[address.security]!.group).toBe('security');
      expect(byMailbox[address.billing]!.group).toBe('billing');
      expect(byMailbox[address.billing]!.category).toBe('billing');
      expect(byMailbox[address.support]!.category).toBe('general');

      // Each customer replies to the Reply-To alone: no In-Reply-To, no subject tag.
      for (const box of boxes) {
        const ack = acks.find((m) => m.envelopeTo[0] === `${box}-customer@example.com`)!;
        const replyTo = ack.parsed.replyTo!.value[0]!.address!;
        await deliver(replyTo, {
          from: `${box}-customer@example.com`,
          to: replyTo,
          subject: 'more details',
          text: `Here is more for ${box}.`,
        });
      }
      for (const box of boxes) {
        const incident = byMailbox[address[box]]!;
        await waitUntil(`the ${box} reply on its incident`, async () =>
          (await timelineOf(incident.number)).some(
            (e) => e.direction === 'inbound' && e.text?.includes(`Here is more for ${box}.`),
          ),
        );
      }
      expect(await countIncidents()).toBe(3);
    });
  }, 180_000);

  it('everything about an incident goes out from the address the customer wrote to, and the digest links write to it', async () => {
    await servingThree({}, async ({ address, app, mailTo: mail }) => {
      const local = (a: string) => a.split('@')[0]!;
      // INC-000001 by the security mailbox, INC-000002 by the first one.
      await writes(address, 'security', 'cara@example.com');
      await mail('cara@example.com', 'ack');
      await writes(address, 'support', 'dan@example.com');
      await mail('dan@example.com', 'ack');
      const assignment = await mail('sam@example.test', 'assignment');
      await waitUntil('INC-000002 triaged', async () => (await findIncident(2))?.group);

      // The managers' digest: each incident's link writes to its own mailbox's address.
      const recipient = digestRecipients(
        testPlan(
          `${PLAN}digests:\n  recipients:\n    - { agent: hana, hour: 7, timezone: UTC, periods: [daily] }\n`,
        ),
      )[0]!;
      const now = new Date();
      const digest = await buildDigest(
        app.ctx,
        recipient,
        await loadDigestInputs(periodContaining('daily', now, 'UTC'), now),
        now,
      );
      const links = [...digest.rendered.html.matchAll(/href="mailto:([^"?]+)\?/g)].map((m) =>
        decodeURIComponent(m[1]!),
      );
      const link = (n: number) => links.find((l) => l.includes(`+INC-00000${n}.`));
      expect(link(1)).toMatch(new RegExp(`^${local(address.security)}\\+INC-000001\\.`));
      expect(link(2)).toMatch(new RegExp(`^${local(address.support)}\\+INC-000002\\.`));
      // Writing to the link threads to the incident, through the security mailbox.
      await deliver(address.security, {
        from: 'hana@example.test',
        to: link(1)!,
        subject: '[INC-000001]',
        text: 'Seen in the digest.',
      });
      await waitUntil('the manager’s mail on INC-000001', async () =>
        (await timelineOf(1)).some((e) => e.text?.includes('Seen in the digest.')),
      );

      // Sam answers the customer, escalates, then resolves: the reply, the escalation, the
      // command results and the resolution all go out from the security address, as the
      // acknowledgement did.
      await deliverReply(address.security, assignment, 'sam@example.test', 'We are on it.');
      const reply = await mail('cara@example.com', 'reply');
      // An escalation (the chain's lead, then the manager: Hana, of another group).
      await deliverReply(address.security, assignment, 'sam@example.test', '#escalate urgent');
      const escalation = await mail('hana@example.test', 'escalation');
      await deliverReply(
        address.security,
        assignment,
        'sam@example.test',
        '#resolve cause: password reuse; fix: rotated',
      );
      const resolved = await mail('cara@example.com', 'resolved');
      const result = await mail('sam@example.test', 'command-result');
      const sent = [
        await mail('cara@example.com', 'ack'),
        assignment,
        reply,
        escalation,
        result,
        resolved,
      ];
      for (const m of sent) {
        expect(m.envelopeFrom).toBe(address.security);
        expect(m.parsed.from?.value[0]?.address).toBe(address.security);
        expect(m.parsed.replyTo?.value[0]?.address).toMatch(
          new RegExp(`^${local(address.security)}\\+INC-000001\\.`),
        );
      }
      expect((await mail('dan@example.com', 'ack')).envelopeFrom).toBe(address.support);
      expect(await countIncidents()).toBe(2);
    });
  }, 180_000);

  it('each mailbox answers in its own locale and with its own templates, falling back to the shipped ones', async () => {
    // Billing's own acknowledgement (English, text part only): the HTML part stays the shipped one.
    const own = join(planDir, 'billing-templates');
    mkdirSync(join(own, 'en'), { recursive: true });
    writeFileSync(
      join(own, 'en', 'acknowledgement.text.hbs'),
      'Dear {{customerName}},\n\nBilling has your message as {{incidentId}}. We answer invoices within two working days.\n\n{{supportName}}\n',
    );
    const extra = { MAILBOX_SECURITY_LOCALE: 'de', MAILBOX_BILLING_TEMPLATES: own };
    await servingThree(extra, async ({ address, t, mailTo }) => {
      expect(t.config.mailboxes.map((m) => [m.name, m.locale, m.templates])).toEqual([
        ['default', undefined, undefined],
        ['security', 'de', undefined],
        ['billing', undefined, own],
      ]);
      const check = await runIncidesk(['check'], t.env);
      expect(check.stdout).not.toMatch(/^(warning|error):/m);
      expect(check.code).toBe(0);
      const ackTo = (customer: string) => mailTo(customer, 'ack');
      await writes(address, 'security', 'Greta <greta@example.com>');
      await writes(address, 'security', 'Emma <emma@example.com>', { 'Content-Language': 'en' });
      await writes(address, 'billing', 'Bill <bill@example.com>');
      await writes(address, 'support', 'Sue <sue@example.com>');

      // The German mailbox: German when the mail does not say, the mail's language when it does.
      const greta = await ackTo('greta@example.com');
      expect(greta.parsed.text).toMatch(/^Guten Tag Greta,/);
      expect(greta.parsed.subject).toMatch(/^\[INC-\d{6}\] AW: Hello$/);
      expect(greta.envelopeFrom).toBe(address.security);
      const emma = await ackTo('emma@example.com');
      expect(emma.parsed.text).toMatch(/^Hello Emma,/);
      // Billing's own text, the shipped HTML; the other mailboxes the shipped text.
      const bill = await ackTo('bill@example.com');
      expect(bill.parsed.text).toMatch(
        /^Dear Bill,\n\nBilling has your message as INC-\d{6}\. We answer invoices within two working days\.\n\nExample Billing\n?$/,
      );
      expect(bill.parsed.html).toContain('Thank you for contacting Example Corp');
      const sue = await ackTo('sue@example.com');
      expect(sue.parsed.text).toMatch(/^Hello Sue,\n\nThank you for contacting Example Corp\./);
      expect(sue.parsed.text).not.toContain('two working days');
    });
  }, 180_000);

  it('a mailbox that refuses its password leaves the other two working, and status names it', async () => {
    const smtp = await startSmtpCapture();
    const { address, t } = threeMailboxes(smtp.port, 'not-the-password');
    const check = await runIncidesk(['check', '--connect'], t.env);
    expect(check.code).toBe(77);
    expect(check.stdout).toMatch(new RegExp(`^IMAP\\s+ok .* for ${address.support}:`, 'm'));
    expect(check.stdout).toMatch(new RegExp(`^IMAP\\s+ok .* for ${address.security}:`, 'm'));
    expect(check.stdout).toMatch(
      new RegExp(
        `^IMAP\\s+SIGN-IN REFUSED .* as ${address.billing} for ${address.billing}: Authentication failed`,
        'm',
      ),
    );

    const httpPort = await freePort();
    const proc = spawnIncidesk(['start'], {
      ...t.env,
      LOG_LEVEL: 'info',
      INCIDESK_HTTP_PORT: String(httpPort),
    });
    let out = '';
    proc.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      for (const box of ['support', 'security'] as const)
        await deliver(address[box], {
          from: `${box}-customer@example.com`,
          to: address[box],
          subject: `Still working for ${box}?`,
          text: 'Hello.',
        });
      const acks = await waitUntil('two acknowledgements', async () => {
        const found = smtp.messages.filter((m) => m.header('x-incidesk-kind') === 'ack');
        return found.length === 2 && found;
      });
      expect(acks.map((m) => m.envelopeFrom).sort()).toEqual(
        [address.security, address.support].sort(),
      );
      await waitUntil(
        'the refusal in the log',
        async () => /IMAP sign-in refused/.test(out),
        60_000,
      );
      const status = await runIncidesk(['status'], t.env);
      expect(status.stdout).toMatch(
        new RegExp(
          `^sign-in:\\s+IMAP ${address.billing}@127\\.0\\.0\\.1 REFUSED: Authentication failed`,
          'm',
        ),
      );
      // One row per mailbox: the broken one says so in its own row, the others are connected.
      const row = (address: string) =>
        status.stdout.split('\n').find((l) => l.startsWith(`mailbox:  ${address}  `));
      expect(row(address.billing)).toMatch(
        /^mailbox: {2}\S+ {2}AUTH REFUSED: Authentication failed.*; last checkpoint (never|\d+ s ago), backlog 0/,
      );
      for (const box of ['support', 'security'] as const)
        expect(row(address[box])).toMatch(
          /^mailbox: {2}\S+ {2}connected; last checkpoint \d+ s ago, backlog 0, last UID 1/,
        );
      // /healthz: unhealthy, and it says which mailbox, in its own row too.
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      expect(health.status).toBe(503);
      const body = await health.text();
      const rows = (JSON.parse(body) as { mailboxes: { address: string; state: string }[] })
        .mailboxes;
      expect(rows.map((r) => [r.address, r.state])).toEqual([
        [address.support, 'connected'],
        [address.security, 'connected'],
        [address.billing, 'auth refused'],
      ]);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(metrics).toContain(
        `incidesk_mailbox_up{address="${address.billing}",state="auth refused"} 0`,
      );
      expect(metrics).toContain(
        `incidesk_mailbox_up{address="${address.security}",state="connected"} 1`,
      );
      expect(body).toContain(
        `intake: not connected to IMAP (${address.billing}: Authentication failed.)`,
      );
      expect(body).toContain(`imap: ${address.billing}@127.0.0.1 sign-in refused since`);
      expect(status.stdout).not.toMatch(new RegExp(`sign-in:.*${address.support}`));
      expect(status.stdout).not.toMatch(new RegExp(`sign-in:.*${address.security}`));
    } finally {
      expect(await proc.kill('SIGTERM')).toBe(0);
      await smtp.close();
    }
  }, 180_000);
});
