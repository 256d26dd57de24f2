/**
 * What agents receive about an incident, on the real services: one thread per incident and
 * person (one subject, References back to the first mail), subjects without stacked prefixes
 * or foreign tags, and command results that say whether everything was done.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Incident, RawMessage } from '../../src/store/models.js';
import { deliver, deliverReply, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';
import { runIncidesk } from '../support/process.js';
import { type CapturedMail } from '../support/smtp-capture.js';

const PLAN = `
groups:
  - { id: desk, name: Service Desk, lead: lena, assignment: round-robin }
  - { id: ops, name: Operations, lead: otto, manager: mia }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [desk] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [desk], away: true }
  - { id: otto, name: Otto Lead, email: otto@example.test, groups: [ops] }
  - { id: mia, name: Mia Manager, email: mia@example.test, groups: [ops], away: true }
classification:
  defaults: { category: general, impact: medium, urgency: medium }
  rules:
    - { name: ops, when: { subject: '\\bserver\\b' }, set: { category: ops } }
routing:
  rules:
    - { name: ops, when: { category: ops }, group: ops }
  default: desk
attachments:
  toAgentsMaxMB: 1
`;

const ALICE = 'alice@example.test';

describe('agent mail: threads and subjects', () => {
  const h = useTestApp({ plan: PLAN });
  const kind = (m: CapturedMail) => m.parsed.headers.get('x-incidesk-kind');
  const mailsTo = (address: string, incident: string) =>
    h.smtp.messages.filter(
      (m) =>
        m.envelopeTo.includes(address) && m.parsed.headers.get('x-incidesk-incident') === incident,
    );
  const mailTo = (address: string, incident: string, k: string, count = 1) =>
    waitUntil(`${count} ${k} mail(s) to ${address} about ${incident}`, async () => {
      const found = mailsTo(address, incident).filter((m) => kind(m) === k);
      return found.length >= count ? found[count - 1]! : null;
    });
  const replyTo = (
    original: CapturedMail,
    from: string,
    text: string,
    attachments: { filename: string; content: Buffer; contentType?: string }[] = [],
  ) => deliverReply(h.t.mailboxUser, original, from, text, attachments);

  it('opens a new incident for a stranger\u2019s "Re: [INC-…]" mail and acknowledges it with only its own tag and one Re:', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'ann@example.com',
      to: SUPPORT,
      subject: 'Invoice 2026-11 charged twice',
      text: 'We were charged twice.',
    });
    await mailTo('ann@example.com', 'INC-000001', 'ack');
    // Someone who is not a participant answers with INC-000001's subject: a new incident.
    await deliver(h.t.mailboxUser, {
      from: 'bert@example.org',
      to: SUPPORT,
      subject: 'Re: Re: [INC-000001] Invoice 2026-11 charged twice',
      text: 'Same here, charged twice.',
    });
    const ack = await mailTo('bert@example.org', 'INC-000002', 'ack');
    expect(ack.parsed.subject).toBe('[INC-000002] Re: Invoice 2026-11 charged twice');
    const assignment = await mailTo(ALICE, 'INC-000002', 'assignment');
    expect(assignment.parsed.subject).toBe('[INC-000002] Invoice 2026-11 charged twice');
  });

  it('keeps every mail an agent gets about an incident in one thread, results replying to the command', async () => {
    const first = await mailTo(ALICE, 'INC-000001', 'assignment');
    const ack = await mailTo('ann@example.com', 'INC-000001', 'ack');
    // The customer writes again; Alice is told.
    await replyTo(ack, 'ann@example.com', 'Any news? It is still charged twice.');
    const told = await mailTo(ALICE, 'INC-000001', 'customer-reply');
    // Alice answers that mail with one command that works and one that cannot.
    const command = await replyTo(told, ALICE, '#note checked the ledger\n#status flying\n');
    const result = await mailTo(ALICE, 'INC-000001', 'command-result');

    const subject = '[INC-000001] Invoice 2026-11 charged twice';
    for (const m of [first, told, result]) expect(m.parsed.subject).toBe(subject);
    // One thread root for Alice and this incident: named by every mail, carried by none.
    const root = first.parsed.inReplyTo!;
    expect(root).toMatch(/^<INC-000001\.thread-/);
    expect(first.parsed.references).toBe(root);
    expect(told.parsed.inReplyTo).toBe(root);
    expect(told.parsed.references).toBe(root);
    expect([first, told, result].map((m) => m.parsed.messageId)).not.toContain(root);
    // The result answers Alice's own mail, and its References start at the root.
    expect(result.parsed.inReplyTo).toBe(command);
    expect(result.parsed.references).toEqual([root, command]);
    expect(result.parsed.text).toContain('Partly done: your reply about INC-000001');
    expect(result.parsed.text).toContain(
      'unknown status "flying" (use pending, in-progress, closed;',
    );
    // Each mail still carries its own (recipient-bound) Message-ID.
    expect(new Set([first, told, result].map((m) => m.parsed.messageId)).size).toBe(3);
    // Another agent's thread about the same incident has a root of their own.
    await replyTo(result, ALICE, '#escalate the customer is upset');
    const toLead = await mailTo('lena@example.test', 'INC-000001', 'escalation');
    expect(toLead.parsed.subject).toBe(subject);
    expect(toLead.parsed.inReplyTo).toMatch(/^<INC-000001\.thread-/);
    expect(toLead.parsed.inReplyTo).not.toBe(root);
    const second = await mailTo(ALICE, 'INC-000001', 'command-result', 2);
    expect(second.parsed.text).toContain('Done: your reply about INC-000001');
    expect((second.parsed.references as string[])[0]).toBe(root);
  });

  it('sends customer files with the assignee\u2019s mail up to the plan\u2019s limit, lists the rest, and never to another customer', async () => {
    const statement = randomBytes(40 * 1024); // attached: within the 1 MB limit
    const scan = randomBytes(1536 * 1024); // listed: over it
    await deliver(h.t.mailboxUser, {
      from: 'carol@example.com',
      to: SUPPORT,
      subject: 'Refund missing',
      text: 'Statement and scan attached.',
      attachments: [
        { filename: 'bank statement.png', content: statement, contentType: 'image/png' },
        { filename: '../scan.bin', content: scan, contentType: 'application/octet-stream' },
      ],
    });
    const assignment = await mailTo(ALICE, 'INC-000003', 'assignment');
    expect(assignment.parsed.attachments.map((a) => a.filename)).toEqual(['bank statement.png']);
    expect(assignment.parsed.attachments[0]!.content.equals(statement)).toBe(true);
    expect(assignment.parsed.text).toContain(
      'Attached to this mail:\n  #1 bank statement.png (image/png, 40.0 KB)',
    );
    expect(assignment.parsed.text).toContain(
      'Too large to attach here:\n  #2 ../scan.bin (application/octet-stream, 1.5 MB)\nFetch with: incidesk attachments get INC-000003 2 -o DIR',
    );

    // The listed file, byte for byte, under a safe name; then all of them.
    const one = mkdtempSync(path.join(tmpdir(), 'incidesk-att-'));
    const got = await runIncidesk(['attachments', 'get', 'INC-000003', '2', '-o', one], h.t.env);
    expect(got.stderr).toBe('');
    expect(got.code).toBe(0);
    expect(readdirSync(one)).toEqual(['scan.bin']);
    expect(readFileSync(path.join(one, 'scan.bin')).equals(scan)).toBe(true);
    const all = mkdtempSync(path.join(tmpdir(), 'incidesk-att-'));
    expect((await runIncidesk(['attachments', 'get', 'INC-3', '-o', all], h.t.env)).code).toBe(0);
    expect(readdirSync(all).sort()).toEqual(['bank statement.png', 'scan.bin']);
    expect(readFileSync(path.join(all, 'bank statement.png')).equals(statement)).toBe(true);
    // Never over an existing file (73); a number or incident that does not exist (66); usage (64).
    const again = await runIncidesk(['attachments', 'get', 'INC-3', '1', '-o', all], h.t.env);
    expect(again.code).toBe(73);
    expect(again.stderr).toContain('exists already');
    expect((await runIncidesk(['attachments', 'get', 'INC-3', '9', '-o', one], h.t.env)).code).toBe(
      66,
    );
    expect((await runIncidesk(['attachments', 'get', 'INC-99', '-o', one], h.t.env)).code).toBe(66);
    expect((await runIncidesk(['attachments', 'get', 'INC-3', 'x', '-o', one], h.t.env)).code).toBe(
      64,
    );
    // `incidents show` lists each file under its message, with the same numbers.
    const shown = await runIncidesk(['incidents', 'show', 'INC-000003'], h.t.env);
    expect(shown.stdout).toContain('attachment #1 bank statement.png (image/png, 40.0 KB)');
    expect(shown.stdout).toContain('attachment #2 ../scan.bin (application/octet-stream, 1.5 MB)');

    // The customer sends another file: it reaches the assignee with the "customer replied" mail.
    const ack = await mailTo('carol@example.com', 'INC-000003', 'ack');
    const receipt = randomBytes(2000);
    await replyTo(ack, 'carol@example.com', 'And the receipt.', [
      { filename: 'receipt.pdf', content: receipt, contentType: 'application/pdf' },
    ]);
    const told = await mailTo(ALICE, 'INC-000003', 'customer-reply');
    expect(told.parsed.attachments.map((a) => [a.filename, a.content.equals(receipt)])).toEqual([
      ['receipt.pdf', true],
    ]);
    expect(told.parsed.text).toContain('#3 receipt.pdf (application/pdf, 2.0 KB)');

    // Another customer: Alice answers them; none of Carol's files go with it.
    await deliver(h.t.mailboxUser, {
      from: 'dave@example.net',
      to: SUPPORT,
      subject: 'Refund missing too',
      text: 'Where is my refund?',
    });
    const toAlice = await mailTo(ALICE, 'INC-000004', 'assignment');
    expect(toAlice.parsed.attachments).toEqual([]);
    await replyTo(toAlice, ALICE, 'Your refund is on its way.');
    const toDave = await mailTo('dave@example.net', 'INC-000004', 'reply');
    expect(toDave.parsed.text).toContain('Your refund is on its way.');
    expect(toDave.parsed.attachments).toEqual([]);
    const carolsBytes = [statement, scan, receipt];
    for (const m of h.smtp.messages.filter((m) => m.envelopeTo.includes('dave@example.net')))
      for (const bytes of carolsBytes)
        expect(m.raw.includes(bytes.subarray(0, 64).toString('base64'))).toBe(false);
  });

  it('passes over a lead who is the assignee when escalating, and says so', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'erin@example.com',
      to: SUPPORT,
      subject: 'Server unreachable',
      text: 'Our server does not answer.',
    });
    const incident = await waitUntil('assigned to otto', async () =>
      Incident.findOne({ subject: 'Server unreachable', assignee: 'otto' }).lean(),
    );
    const id = `INC-${String(incident.number).padStart(6, '0')}`;
    const assignment = await mailTo('otto@example.test', id, 'assignment');
    await replyTo(assignment, 'otto@example.test', '#escalate need a second opinion');
    const result = await mailTo('otto@example.test', id, 'command-result');
    expect(result.parsed.text).toContain(
      'done: #escalate: escalated (level 1: lead; the lead (otto) is the assignee: told the manager)',
    );
    const toMia = await mailTo('mia@example.test', id, 'escalation');
    expect(toMia.parsed.text).toContain('escalated to you as manager');
    expect(mailsTo('otto@example.test', id).filter((m) => kind(m) === 'escalation')).toEqual([]);
  });

  it('keeps an out-of-office reply that threads to nothing without opening an incident', async () => {
    const before = await Incident.countDocuments();
    await deliver(h.t.mailboxUser, {
      from: 'away@example.com',
      to: SUPPORT,
      subject: 'Out of office: back on Monday',
      headers: { 'Auto-Submitted': 'auto-replied' },
      text: 'I am out of the office until Monday.',
    });
    const kept = await waitUntil('the auto-reply kept', async () =>
      RawMessage.findOne({ kind: 'auto-reply' }).lean(),
    );
    expect(kept).toMatchObject({ state: 'ingested' });
    expect(kept.incidentNumber).toBeUndefined();
    // A later message is processed after it: by then the auto-reply had its chance to open one.
    await deliver(h.t.mailboxUser, {
      from: 'fred@example.com',
      to: SUPPORT,
      subject: 'Printer jammed',
      text: 'Paper stuck.',
    });
    await waitUntil('the next message opened an incident', async () =>
      Incident.findOne({ subject: 'Printer jammed' }).lean(),
    );
    expect(await Incident.countDocuments()).toBe(before + 1);
    expect(await Incident.findOne({ subject: /Out of office/ }).lean()).toBeNull();
  });

  it('tells an agent that a reply to a customer without a reply address was NOT delivered', async () => {
    const raw = [
      'From: "Nobody" <>',
      `To: ${SUPPORT}`,
      'Subject: Scanner offline',
      'Message-ID: <no-sender-1@example.org>',
      'Date: Mon, 07 Dec 2026 09:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'The scanner is offline again.',
      '',
    ].join('\r\n');
    await deliver(h.t.mailboxUser, { raw, from: '' });
    const incident = await waitUntil('assigned to alice', async () =>
      Incident.findOne({ subject: 'Scanner offline', assignee: 'alice' }).lean(),
    );
    const id = `INC-${String(incident.number).padStart(6, '0')}`;
    const assignment = await mailTo(ALICE, id, 'assignment');
    await replyTo(assignment, ALICE, 'We restarted the scanner.');
    const result = await mailTo(ALICE, id, 'command-result');
    expect(result.parsed.text).toContain('Not done: your reply about');
    expect(result.parsed.text).toContain('your reply could NOT be delivered');
    expect(result.parsed.text).not.toContain('sent your reply');
    expect(
      h.smtp.messages.filter(
        (m) => kind(m) === 'reply' && m.parsed.headers.get('x-incidesk-incident') === id,
      ),
    ).toEqual([]);
  });
});
