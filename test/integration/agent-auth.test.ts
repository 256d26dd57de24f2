/**
 * Sender authentication of agents' mail on real servers, in each `access.agentMail` mode:
 * DKIM-signed, DMARC-aligned mail runs its commands; the same mail altered after signing, or
 * unsigned from a p=reject domain, does not; in trusted-relay mode only the topmost
 * Authentication-Results of our own MTA counts; in token-only mode only the agent's own token.
 */
import { describe, expect, it } from 'vitest';
import { legacyPlusAddress, plusAddress, type TokenRole } from '../../src/domain/tokens.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { sealAudit } from '../../src/store/audit.js';
import { AuditEntryModel } from '../../src/store/models.js';
import {
  deliver,
  dkimSignRaw,
  SECRET,
  SUPPORT,
  useTestApp,
  waitUntil,
  type TestApp,
} from '../support/harness.js';

const PLAN = `
groups:
  - { id: desk, name: Desk, lead: lena }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [desk] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [desk], away: true }
routing: { default: desk }
`;

const token = (n: number, address: string, role: TokenRole) =>
  plusAddress(SUPPORT, SECRET, n, { address, role });

let seq = 0;
/** A raw RFC 5322 message (CRLF), optionally with header lines on top. */
const raw = (from: string, to: string, text: string, top: string[] = []) =>
  [
    ...top,
    `From: ${from}`,
    `To: ${to}`,
    `Subject: Re: [INC-000001] Printer on fire`,
    `Message-ID: <agent-${process.pid}-${++seq}@example.test>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '',
  ].join('\r\n');

interface Refusal {
  actor: { id: string };
  detail?: { command?: string; reason?: string };
}
const refusals = async () => {
  await sealAudit(); // entries are linked into the chain a moment after they are recorded
  return (await AuditEntryModel.collection
    .find({ action: 'command-refused' })
    .toArray()) as unknown as Refusal[];
};

async function openIncident(h: TestApp) {
  await deliver(h.t.mailboxUser, {
    from: 'cora@customer.example',
    to: SUPPORT,
    subject: 'Printer on fire',
    text: 'Our printer is on fire.',
  });
  await waitUntil('INC-1 assigned', async () => (await findIncident(1))?.assignee === 'alice');
}

const noteCount = async () => (await timelineOf(1)).filter((e) => e.event === 'note').length;
const waitRefused = (reason: string, count: number) =>
  waitUntil(`${count} refusal(s) ${reason}`, async () => {
    const r = (await refusals()).filter((e) => e.detail?.reason === reason);
    return r.length >= count ? r : null;
  });

describe('agentMail: dmarc (the default), with DKIM verified by incidesk', () => {
  const h = useTestApp({ plan: PLAN });
  const customerToken = () => token(1, 'cora@customer.example', 'customer');

  it('runs the commands of signed, aligned mail', async () => {
    await openIncident(h);
    const signed = await dkimSignRaw(
      raw('Alice <alice@example.test>', customerToken(), '#note signed and sealed'),
    );
    await deliver(h.t.mailboxUser, { raw: signed, from: 'alice@example.test' });
    await waitUntil('the note', async () => (await noteCount()) === 1);
  });

  it('refuses the same mail altered after signing', async () => {
    const signed = (
      await dkimSignRaw(raw('Alice <alice@example.test>', customerToken(), '#note harmless'))
    ).toString('utf8');
    const altered = signed.replace('#note harmless', '#priority P2');
    expect(altered).not.toBe(signed);
    await deliver(h.t.mailboxUser, { raw: altered, from: 'alice@example.test' });
    const [r] = await waitRefused('unauthenticated-sender', 1);
    expect(r).toMatchObject({
      actor: { id: 'alice@example.test' },
      detail: { command: '#priority' },
    });
    expect((await findIncident(1))?.priority).not.toBe('P2');
  });

  it('refuses unsigned mail from a domain with p=reject, even with the agent’s own token', async () => {
    await deliver(h.t.mailboxUser, {
      raw: raw('Alice <alice@example.test>', token(1, 'alice@example.test', 'agent'), '#note x'),
      from: 'alice@example.test',
    });
    await waitRefused('unauthenticated-sender', 2);
    const entry = await waitUntil('the unsigned message', async () =>
      (await timelineOf(1)).find((e) => e.text?.includes('#note x')),
    );
    expect(entry.unverified?.explanation).toMatch(/dmarc=fail.*policy reject/);
    expect(await noteCount()).toBe(1);
  });

  it('treats a DNS failure as a temporary refusal, never an acceptance', async () => {
    const failing = h.app.ctx.resolver;
    h.app.ctx.resolver = async (name) => {
      throw Object.assign(new Error(`queryTxt ETIMEOUT ${name}`), { code: 'ETIMEOUT' });
    };
    try {
      const signed = await dkimSignRaw(
        raw('Alice <alice@example.test>', customerToken(), '#note while DNS is down'),
      );
      await deliver(h.t.mailboxUser, { raw: signed, from: 'alice@example.test' });
      await waitRefused('unauthenticated-sender', 3);
      const entry = await waitUntil('the message', async () =>
        (await timelineOf(1)).find((e) => e.text?.includes('while DNS is down')),
      );
      expect(entry.unverified?.explanation).toMatch(/could not be verified just now/);
      expect(await noteCount()).toBe(1);
    } finally {
      h.app.ctx.resolver = failing;
    }
  });
});

describe('agentMail: trusted-relay', () => {
  const h = useTestApp({
    plan: `${PLAN}access: { agentMail: trusted-relay, authservId: mx.incidesk.test }\n`,
  });
  const to = () => token(1, 'cora@customer.example', 'customer');
  const ar = (id: string, verdict: string) =>
    `Authentication-Results: ${id};\r\n dkim=${verdict} header.d=example.test;\r\n dmarc=${verdict} (p=reject) header.from=example.test`;

  it('honours the topmost Authentication-Results of the configured authserv-id', async () => {
    await openIncident(h);
    await deliver(h.t.mailboxUser, {
      raw: raw('alice@example.test', to(), '#note relay says pass', [
        'Received: from mx.incidesk.test by imap.incidesk.test with LMTP',
        ar('mx.incidesk.test', 'pass'),
      ]),
      from: 'alice@example.test',
    });
    await waitUntil('the note', async () => (await noteCount()) === 1);
  });

  it('ignores a forged header below ours, and one of another authserv-id above it', async () => {
    // The sender's own "pass" under our MTA's "fail".
    await deliver(h.t.mailboxUser, {
      raw: raw('alice@example.test', to(), '#note forged below', [
        ar('mx.incidesk.test', 'fail'),
        ar('mx.incidesk.test', 'pass'),
      ]),
      from: 'alice@example.test',
    });
    // A "pass" from someone else on top of our "fail".
    await deliver(h.t.mailboxUser, {
      raw: raw('alice@example.test', to(), '#note forged above', [
        ar('mx.elsewhere.test', 'pass'),
        ar('mx.incidesk.test', 'fail'),
      ]),
      from: 'alice@example.test',
    });
    // Only the sender's header, with no stamp of ours above it, is no proof either when it
    // claims another id; and a mail with no header at all is unauthenticated.
    await deliver(h.t.mailboxUser, {
      raw: raw('alice@example.test', to(), '#note no stamp', [ar('MX.Elsewhere.test', 'pass')]),
      from: 'alice@example.test',
    });
    await waitRefused('unauthenticated-sender', 3);
    expect(await noteCount()).toBe(1);
  });
});

describe('agentMail: token-only', () => {
  const h = useTestApp({ plan: `${PLAN}access: { agentMail: token-only }\n` });

  it('runs commands only with the token issued to that agent', async () => {
    await openIncident(h);
    const unsigned = (to: string, text: string) =>
      deliver(h.t.mailboxUser, { raw: raw('alice@example.test', to, text), from: 'x@y.test' });
    await unsigned(token(1, 'alice@example.test', 'agent'), '#note with my own token');
    await waitUntil('the note', async () => (await noteCount()) === 1);

    await unsigned(token(1, 'cora@customer.example', 'customer'), '#note customer token');
    await unsigned(token(1, 'lena@example.test', 'agent'), '#note lena’s token');
    await unsigned(token(1, 'alice@example.test', 'customer'), '#note my address, wrong role');
    await unsigned(legacyPlusAddress(SUPPORT, SECRET, 1), '#note a legacy token');
    const refused = await waitRefused('token-not-issued-to-sender', 4);
    expect(refused.every((r) => r.actor.id === 'alice@example.test')).toBe(true);
    expect(await noteCount()).toBe(1);
  });
});
