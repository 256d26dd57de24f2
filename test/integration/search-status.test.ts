/**
 * The search index follows an incident's life on real servers: its status after triage,
 * assignment, an agent's reply and resolution; the resolution's cause and fix as their own
 * fields, never as message text (an agent's `#resolve` line); similar-incident hints that
 * show them as such.
 */
import { describe, expect, it } from 'vitest';
import { search } from '../../src/actions/search.js';
import { termWeights } from '../../src/domain/search.js';
import { indexSnapshot } from '../../src/store/search-index.js';
import { deliver, deliverReply, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';
import type { CapturedMail } from '../support/smtp-capture.js';

const PLAN = `
groups:
  - { id: desk, name: Desk }
agents:
  - { id: anna, name: Anna Agent, email: anna@example.test, groups: [desk] }
routing:
  default: desk
`;

const VPN_TEXT = 'The VPN tunnel from the Hamburg office drops every ten minutes.';
const CAUSE = 'concentrator licence pool exhausted';
const FIX = 'added fifty licences to the concentrator';

describe('search follows status changes and indexes the resolution as fields', () => {
  const h = useTestApp({ plan: PLAN });

  const mailTo = (address: string, match: (m: CapturedMail) => boolean) =>
    waitUntil(`mail to ${address}`, async () =>
      h.smtp.messages.find((m) => m.envelopeTo.includes(address) && match(m)),
    );
  const assignmentAbout = (subject: string) =>
    mailTo(
      'anna@example.test',
      (m) =>
        m.header('x-incidesk-kind') === 'assignment' &&
        m.parsed.subject?.includes(subject) === true,
    );
  const replyTo = (original: CapturedMail, text: string) =>
    deliverReply(h.t.mailboxUser, original, 'anna@example.test', text);
  const statusInSearch = (query: string, ref: string, status: string) =>
    waitUntil(`${ref} ${status} in search`, async () => {
      const hit = (await search(query, 10)).find((r) => r.record.ref === ref);
      return hit?.record.status === status ? hit : null;
    });

  it('shows the status an incident has now, at each step', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'olaf@hamburg.example',
      to: SUPPORT,
      subject: 'VPN tunnel keeps dropping',
      text: VPN_TEXT,
    });
    await statusInSearch('vpn tunnel', 'INC-000001', 'assigned');
    const assignment = await assignmentAbout('VPN tunnel keeps dropping');
    await replyTo(assignment, 'We are looking into the tunnel now.');
    await statusInSearch('vpn tunnel', 'INC-000001', 'in-progress');
    await replyTo(assignment, `#resolve cause: ${CAUSE}; fix: ${FIX}`);
    const hit = await statusInSearch('vpn tunnel', 'INC-000001', 'resolved');
    expect(hit.record.resolution).toMatchObject({ cause: CAUSE, fix: FIX });
  });

  it('indexes cause and fix as fields, and the agent’s command line not as message text', async () => {
    // Exactly the subject, what the customer and the agent wrote, the cause and the fix.
    const expected = termWeights({
      subject: 'VPN tunnel keeps dropping',
      bodies: [VPN_TEXT, 'We are looking into the tunnel now.'],
      cause: CAUSE,
      fix: FIX,
    });
    const indexed = await waitUntil('the resolution indexed', async () => {
      const terms = (await indexSnapshot()).records['1'];
      return terms?.some(([t]) => t === 'concentrator') ? terms : null;
    });
    expect(Object.fromEntries(indexed)).toEqual(Object.fromEntries(expected));
    // The agent's message and its relay to the customer carry the same text: counted once,
    // and none of our template's words ("reference", "support") come with it.
    expect(indexed.find(([t]) => t === 'look')?.[1]).toBe(expected.get('look'));
    expect(indexed.map(([t]) => t)).not.toContain('referenc');
  });

  it('offers the solved incident to a similar report, with cause and fix as such, and not to an unrelated one', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'greta@hamburg.example',
      to: SUPPORT,
      subject: 'VPN tunnel drops in Hamburg',
      text: 'Our VPN tunnel in the Hamburg office keeps dropping since this morning.',
    });
    const similar = await assignmentAbout('VPN tunnel drops in Hamburg');
    expect(similar.parsed.text).toContain('Similar, already solved:');
    expect(similar.parsed.text).toContain('INC-000001: VPN tunnel keeps dropping');
    expect(similar.parsed.text).toContain(`Cause:      ${CAUSE}`);
    expect(similar.parsed.text).toContain(`Fix:        ${FIX}`);

    await deliver(h.t.mailboxUser, {
      from: 'billing@shop.example',
      to: SUPPORT,
      subject: 'Invoice 2026-11 charged twice',
      text: 'We were charged twice for the licences on invoice 2026-11; please refund one.',
    });
    const billing = await assignmentAbout('Invoice 2026-11 charged twice');
    expect(billing.parsed.text).not.toContain('Similar, already solved');
  });
});
