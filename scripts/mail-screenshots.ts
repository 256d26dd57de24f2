/**
 * Screenshots of the mail customers receive, for docs/images/: the real compose path
 * (composeMail with the example plan) renders each mail, headless Chromium photographs its
 * HTML part. Usage: node --import tsx scripts/mail-screenshots.ts [out-dir]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppContext } from '../src/context.js';
import { composeAcknowledgement, composeMail } from '../src/mail/compose.js';
import { parsePlan } from '../src/plan/load.js';

const out = process.argv[2] ?? 'docs/images';
const plan = parsePlan(readFileSync('plan.example.yaml', 'utf8'), 'plan.example.yaml');
const ctx = {
  plan,
  config: {
    supportAddress: 'support@example.com',
    supportName: 'Example Corp Support',
    secret: 'screenshot-secret-not-used-for-mail',
  },
} as unknown as Pick<AppContext, 'config' | 'plan'>;
const receivedAt = new Date('2026-12-07T13:30:00Z');

/** Acknowledged before triage (no group: the plan's zone); later in the office group's. */
function incident(locale: string, group?: string) {
  return {
    number: 42,
    subject: locale === 'de' ? 'VPN-Verbindung bricht ständig ab' : 'VPN keeps disconnecting',
    customer: { address: 'jana@customer.example', name: 'Jana Schulz' },
    group,
    locale,
    lastMessageAt: receivedAt,
  };
}

const inbound = { messageId: '<m1@customer.example>', references: [] };
const mails = {
  'acknowledgement-en': composeAcknowledgement(ctx, incident('en'), inbound, 'raw-en'),
  'acknowledgement-de': composeAcknowledgement(ctx, incident('de'), inbound, 'raw-de'),
  'agent-reply': composeMail(ctx, {
    id: 'reply-1',
    kind: 'reply',
    incident: incident('en', 'service-desk'),
    to: 'jana@customer.example',
    audience: 'customer',
    subjectPrefix: 'Re',
    template: 'agent-reply',
    data: {
      customerName: 'Jana Schulz',
      agentName: 'Bob Chen',
      body: [
        'Hello Jana,',
        '',
        'thanks for the logs. The disconnects come from the gateway in Frankfurt, which is',
        'overloaded since the update on *Friday*. Until it is fixed, please:',
        '',
        '- switch the client to the **Hamburg** gateway (Settings → Server),',
        '- keep "Reconnect automatically" switched on.',
        '',
        'You can follow the work on [our status page](https://status.example.com/vpn).',
        '',
        'Best regards,',
      ].join('\n'),
    },
  }),
  resolved: composeMail(ctx, {
    id: 'resolved-1',
    kind: 'resolved',
    incident: incident('de', 'service-desk'),
    to: 'jana@customer.example',
    audience: 'customer',
    subjectPrefix: 'Resolved',
    template: 'resolved',
    data: {
      customerName: 'Jana Schulz',
      fix: 'Wir haben ein zweites VPN-Gateway in Frankfurt in Betrieb genommen.',
      workaround: '',
      reopenDays: plan.lifecycle.reopenWindowDays,
      resolvedAt: new Date('2026-12-08T09:15:00Z'),
    },
  }),
};

const dir = mkdtempSync(join(tmpdir(), 'mail-shots-'));
for (const [name, mail] of Object.entries(mails)) {
  const file = join(dir, `${name}.html`);
  writeFileSync(file, mail.html ?? '');
  execFileSync('chromium', [
    '--headless',
    '--no-sandbox',
    '--hide-scrollbars',
    `--screenshot=${join(out, `${name}.png`)}`,
    `--window-size=680,${name === 'resolved' ? 480 : 440}`,
    file,
  ]);
  console.log(`${join(out, `${name}.png`)}  (${mail.subject})`);
}
