/**
 * Customer mail in the customer's language, with an HTML part, on real servers: the locale
 * from Content-Language, from the plan's customer record, or the default; times in the
 * reader's zone; an agent's markdown reply as escaped HTML; the resolved notice.
 */
import { describe, expect, it } from 'vitest';
import { findIncident } from '../../src/store/incidents.js';
import { deliver, deliverReply, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';
import type { CapturedMail } from '../support/smtp-capture.js';

const PLAN = `
timezone: Europe/Berlin
locale: en
calendars:
  office: { timezone: Europe/Berlin, hours: 24x7 }
groups:
  - { id: desk, name: Desk, calendar: office }
agents:
  - { id: anna, name: Anna Agent, email: anna@example.test, groups: [desk], timezone: America/New_York }
customers:
  - { domain: kunde.example, tier: standard, locale: de }
routing:
  default: desk
`;

describe('localised HTML customer mail', () => {
  // 13:30 UTC: 14:30 in Berlin (CET), 08:30 in New York.
  const h = useTestApp({ plan: PLAN, now: () => new Date('2026-12-07T13:30:00Z') });

  const mailTo = (address: string, match: (m: CapturedMail) => boolean = () => true) =>
    waitUntil(`mail to ${address}`, async () =>
      h.smtp.messages.find((m) => m.envelopeTo.includes(address) && match(m)),
    );
  const kind = (k: string) => (m: CapturedMail) => m.header('x-incidesk-kind') === k;
  const replyTo = (original: CapturedMail, from: string, text: string) =>
    deliverReply(h.t.mailboxUser, original, from, text);

  it('acknowledges a German message (Content-Language: de) in German, HTML and text, in local time', async () => {
    await deliver(h.t.mailboxUser, {
      from: '"Jana Schulz" <jana@firma.example>',
      to: SUPPORT,
      subject: 'VPN-Verbindung bricht ab',
      text: 'Seit heute Morgen bricht die VPN-Verbindung alle paar Minuten ab.',
      headers: { 'Content-Language': 'de-DE' },
    });
    const ack = await mailTo('jana@firma.example', kind('ack'));
    expect(ack.parsed.subject).toBe('[INC-000001] AW: VPN-Verbindung bricht ab');
    expect(ack.parsed.text).toContain('Guten Tag Jana Schulz,');
    expect(ack.parsed.text).toContain('am Mo., 7. Dez. 2026, 14:30 MEZ');
    expect(ack.parsed.text).toContain('den Vorgang INC-000001 angelegt');
    expect(ack.parsed.html).toContain('<html lang="de">');
    expect(ack.parsed.html).toContain('>Mo., 7. Dez. 2026, 14:30 MEZ</span>');
    expect(ack.parsed.html).toContain('Mit freundlichen Grüßen');
    expect((await findIncident(1))?.locale).toBe('de');
  });

  it('writes to a customer in the language of their plan record, and to others in the default', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'max@it.kunde.example',
      to: SUPPORT,
      subject: 'Drucker druckt nicht',
      text: 'Der Drucker im 2. Stock druckt nicht mehr.',
    });
    await deliver(h.t.mailboxUser, {
      from: 'paul@societe.example',
      to: SUPPORT,
      subject: 'Imprimante en panne',
      text: 'L’imprimante ne marche plus.',
      headers: { 'Content-Language': 'fr', 'Accept-Language': 'fr, it;q=0.5' },
    });
    const max = await mailTo('max@it.kunde.example', kind('ack'));
    expect(max.parsed.text).toContain('Guten Tag,');
    const paul = await mailTo('paul@societe.example', kind('ack'));
    expect(paul.parsed.subject).toMatch(/^\[INC-\d{6}\] Re: Imprimante en panne$/);
    expect(paul.parsed.text).toContain('Hello,');
    expect(paul.parsed.text).toContain('on Mon, 7 Dec 2026, 14:30 CET');
    expect(paul.parsed.html).toContain('<html lang="en">');
    const locales = await Promise.all(
      [2, 3].map(async (n) => [
        (await findIncident(n))?.customer.address,
        (await findIncident(n))?.locale,
      ]),
    );
    expect(Object.fromEntries(locales)).toEqual({
      'max@it.kunde.example': 'de',
      'paul@societe.example': 'en',
    });
  });

  it('tells the agent due times in their own zone', async () => {
    const assignment = await mailTo(
      'anna@example.test',
      (m) => kind('assignment')(m) && m.parsed.subject?.includes('VPN-Verbindung') === true,
    );
    // P3 first response: 4 h of 24x7 business time after 13:30 UTC = 12:30 in New York.
    expect(assignment.parsed.text).toContain('First response due: Mon, 7 Dec 2026, 12:30 GMT-5');
    expect(assignment.parsed.html).toBeFalsy();
  });

  it('sends an agent’s markdown reply as escaped HTML plus text, in the customer’s language', async () => {
    const assignment = await mailTo(
      'anna@example.test',
      (m) => kind('assignment')(m) && m.parsed.subject?.includes('VPN-Verbindung') === true,
    );
    const body = [
      'Hallo Frau Schulz,',
      '',
      'bitte probieren Sie Folgendes:',
      '',
      '- den *VPN-Client* neu starten',
      '- sich mit <b onclick="x()">Ihrem</b> Konto neu anmelden',
      '',
      '1. Einstellungen öffnen',
      '2. Profil löschen',
      '',
      'Der Status steht auf [unserer Statusseite](https://status.example.test/vpn?a=1&b=2).',
      '<script>alert(1)</script>',
    ].join('\n');
    await replyTo(assignment, 'anna@example.test', body);
    const reply = await mailTo('jana@firma.example', kind('reply'));
    const html = reply.parsed.html as string;
    expect(html).toContain('<li>den <em>VPN-Client</em> neu starten</li>');
    expect(html).toContain('<ol>\n<li>Einstellungen öffnen</li>');
    expect(html).toContain(
      '<a href="https://status.example.test/vpn?a=1&amp;b=2">unserer Statusseite</a>',
    );
    expect(html).toContain('&lt;b onclick=&quot;x()&quot;&gt;Ihrem&lt;/b&gt;');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<script|<b |onclick="/);
    expect(html).toContain('Antworten Sie einfach auf diese E-Mail');
    expect(reply.parsed.text).toContain('- den *VPN-Client* neu starten');
    expect(reply.parsed.text).toContain('Vorgang INC-000001.');
  });

  it('tells the customer of the resolution in their language and zone', async () => {
    const assignment = await mailTo(
      'anna@example.test',
      (m) => kind('assignment')(m) && m.parsed.subject?.includes('VPN-Verbindung') === true,
    );
    await replyTo(
      assignment,
      'anna@example.test',
      '#resolve cause: VPN-Gateway überlastet; fix: zweites Gateway in Betrieb genommen',
    );
    const resolved = await mailTo('jana@firma.example', kind('resolved'));
    expect(resolved.parsed.subject).toMatch(/^\[INC-\d{6}\] Gelöst: /);
    expect(resolved.parsed.text).toContain(
      'wir haben den Vorgang INC-000001 am Mo., 7. Dez. 2026, 14:30 MEZ gelöst',
    );
    expect(resolved.parsed.text).toContain(
      'Was wir getan haben: zweites Gateway in Betrieb genommen',
    );
    expect(resolved.parsed.html).toContain('<strong>Was wir getan haben:</strong>');
  });
});
