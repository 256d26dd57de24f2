/**
 * Screenshots of the mail customers receive, for docs/images/: the real compose path
 * (composeMail with the example plan) renders each mail, headless Chromium photographs its
 * HTML part. Usage: node --import tsx scripts/mail-screenshots.ts [out-dir [name …]]
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
    mailboxes: [{ supportAddress: 'support@example.com', supportName: 'Example Corp Support' }],
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
const mails: Record<string, ReturnType<typeof composeMail>> = {
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

/** A P1 outage under the example plan's communication protocols, at one moment. */
function protocolMail(
  name: string,
  template: string,
  locale: string,
  moment: { opened?: boolean; update?: boolean; resolved?: boolean; updateNumber?: number },
) {
  const outage = {
    ...incident(locale, 'network'),
    subject: locale === 'de' ? 'Online-Shop nicht erreichbar' : 'Web shop is down',
  };
  const external = template === 'stakeholder-update';
  const spec = {
    id: `protocol-${name}`,
    kind: 'protocol',
    incident: outage,
    to: external ? 'jana@customer.example' : 'cto@example.test',
    template,
    data: {
      locale,
      priority: 'P1',
      category: 'outage',
      status: moment.resolved ? 'resolved' : 'in-progress',
      group: 'Network Operations',
      assignee: 'Nina Rossi',
      reports: 14,
      openedAt: new Date('2026-12-07T13:05:00Z'),
      resolvedAt: new Date('2026-12-07T15:40:00Z'),
      fix:
        locale === 'de'
          ? 'Wir haben auf das zweite Rechenzentrum umgeschaltet.'
          : 'We failed over to the second data centre.',
      workaround: '',
      opened: false,
      update: false,
      resolved: false,
      updateNumber: 0,
      ...moment,
      protocol: external ? 'customer-outage' : 'major-incident',
    },
  };
  return composeMail(
    ctx,
    external
      ? { ...spec, audience: 'customer', subjectPrefix: moment.resolved ? 'Resolved' : 'Re' }
      : { ...spec, audience: 'staff' },
  );
}
Object.assign(mails, {
  'stakeholder-update-en': protocolMail('update-en', 'stakeholder-update', 'en', { opened: true }),
  'stakeholder-update-de': protocolMail('update-de', 'stakeholder-update', 'de', {
    resolved: true,
  }),
  'stakeholder-briefing': protocolMail('briefing', 'stakeholder-briefing', 'en', {
    update: true,
    updateNumber: 2,
  }),
});
const only = process.argv.slice(3);

const dir = mkdtempSync(join(tmpdir(), 'mail-shots-'));
for (const [name, mail] of Object.entries(mails)) {
  if (only.length && !only.includes(name)) continue;
  const file = join(dir, `${name}.html`);
  writeFileSync(file, mail.html ?? '');
  execFileSync('chromium', [
    '--headless',
    '--no-sandbox',
    '--hide-scrollbars',
    `--screenshot=${join(out, `${name}.png`)}`,
    `--window-size=680,${{ resolved: 480, 'stakeholder-update-de': 420, 'stakeholder-briefing': 450 }[name] ?? 440}`,
    file,
  ]);
  console.log(`${join(out, `${name}.png`)}  (${mail.subject})`);
}
