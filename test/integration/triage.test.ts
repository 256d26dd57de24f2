/**
 * Triage end to end on real servers: classification, routing, assignment, agents working by
 * email (replies and commands), lifecycle, and SLA escalation under a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { transferIncident } from '../../src/actions/changes.js';
import { issuedToken, plusAddress } from '../../src/domain/tokens.js';
import { jobIds } from '../../src/queues.js';
import { findArchivedIncident, moveIncidents } from '../../src/store/archive.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { Incident } from '../../src/store/models.js';
import {
  deliver,
  deliverReply,
  SECRET,
  SUPPORT,
  waitUntil,
  useTestApp,
} from '../support/harness.js';
import { type CapturedMail } from '../support/smtp-capture.js';

export const TRIAGE_PLAN = `
groups:
  - { id: service-desk, name: Service Desk, lead: lena, manager: max, assignment: round-robin }
  - { id: network, name: Network Operations, lead: nora, manager: max, assignment: least-loaded }
  - { id: legal, name: Legal, lead: lou }
  - { id: billing, name: Billing, lead: max }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [service-desk] }
  - { id: anton, name: Anton, email: anton@example.test, groups: [service-desk] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [service-desk], away: true }
  - { id: nina, name: Nina, email: nina@example.test, groups: [network] }
  - { id: nick, name: Nick, email: nick@example.test, groups: [network], skills: [vpn] }
  - { id: nora, name: Nora Lead, email: nora@example.test, groups: [network], away: true }
  - { id: max, name: Max Manager, email: max@example.test, groups: [service-desk, network], away: true }
  - { id: lou, name: Lou Lawyer, email: lou@example.test, groups: [legal], away: true }
  - { id: bill, name: Bill, email: bill@example.test, groups: [billing], maxOpen: 1 }
customers:
  - { domain: bigcorp.example, tier: gold }
classification:
  defaults: { category: general, impact: medium, urgency: medium }
  rules:
    - { name: outage, when: { text: '\\b(down|outage)\\b' }, set: { category: outage, impact: high } }
    - { name: vpn, when: { text: '\\bvpn\\b' }, set: { category: network } }
    - { name: gold, when: { tier: gold }, set: { urgency: high } }
    - { name: legal, when: { text: '\\blawsuit\\b' }, set: { category: legal } }
    - { name: billing, when: { text: '\\binvoice\\b' }, set: { category: billing } }
routing:
  rules:
    - { name: network, when: { category: [network, outage] }, group: network }
    - { name: legal, when: { category: legal }, group: legal }
    - { name: billing, when: { category: billing }, group: billing }
  default: service-desk
sla:
  P1: { firstResponse: 15m, resolution: 1h }
  P2: { firstResponse: 30m, resolution: 4h }
  P3: { firstResponse: 4h, resolution: 3d }
  P4: { firstResponse: 1d, resolution: 10d }
  warnAt: 0.75
escalation:
  chain: [lead, manager, { transfer: service-desk }]
  repeatAfter: 10m
access:
  agentsMay: [assign-other, transfer, priority-p1, merge] # these tests are about the effects
`;

const MINUTE = 60_000;

describe('triage, assignment and agents working by email', () => {
  const h = useTestApp({
    plan: TRIAGE_PLAN,
    env: { INCIDESK_SLA_SWEEP_SECONDS: '3600' },
    now: () => now,
  });
  let now = new Date('2026-11-23T10:00:00Z');
  const advance = (ms: number) => (now = new Date(now.getTime() + ms));

  const kindIs = (kind: string) => (m: CapturedMail) =>
    m.parsed.headers.get('x-incidesk-kind') === kind;
  const mailTo = (address: string, match: (m: CapturedMail) => boolean = () => true, count = 1) =>
    waitUntil(`${count} mail(s) to ${address}`, async () => {
      const found = h.smtp.messages.filter((m) => m.envelopeTo.includes(address) && match(m));
      return found.length >= count ? found : null;
    });
  const incidentWhere = (
    number: number,
    what: string,
    ok: (i: NonNullable<Awaited<ReturnType<typeof findIncident>>>) => boolean,
  ) =>
    waitUntil(what, async () => {
      const i = await findIncident(number);
      return i && ok(i) ? i : null;
    });
  /** Reply to one of our messages the way a mail client does. */
  const replyTo = (
    original: CapturedMail,
    from: string,
    text: string,
    attachments: { filename: string; content: Buffer }[] = [],
  ) => deliverReply(h.t.mailboxUser, original, from, text, attachments);
  const sweep = async () => {
    const job = await h.app.ctx.queues.sla.add('sweep', { incident: 0 });
    await waitUntil('sweep done', async () => (await job.isCompleted()) || (await job.isFailed()));
  };

  it('classifies, prioritises, routes and assigns a new incident, and notifies the agent', async () => {
    await deliver(h.t.mailboxUser, {
      from: '"Cora Customer" <cora@bigcorp.example>',
      to: SUPPORT,
      subject: 'VPN down for the whole office',
      text: 'Nobody in Hamburg can connect to the VPN since 09:40.',
      messageId: '<cora-1@bigcorp.example>',
    });
    const incident = await incidentWhere(1, 'INC-1 assigned', (i) => i.status === 'assigned');
    expect(incident).toMatchObject({
      category: 'outage',
      impact: 'high',
      urgency: 'high',
      priority: 'P1',
      group: 'network',
      assignee: 'nina',
    });
    expect(incident.triage?.rules).toEqual(['outage', 'vpn', 'gold']);
    const [notice] = await mailTo('nina@example.test');
    // Issued to Nina as an agent: her replies carrying it are hers to make.
    const token = issuedToken(SECRET, 1, { address: 'nina@example.test', role: 'agent' });
    expect(notice!.parsed.subject).toBe('[INC-000001] VPN down for the whole office');
    expect(notice!.parsed.text).toContain('INC-000001 is assigned to you.');
    expect(notice!.parsed.replyTo?.value[0]?.address).toBe(
      `support+INC-000001.${token}@example.test`,
    );
    expect(notice!.parsed.messageId).toContain(token);
    expect(notice!.parsed.text).toContain('Nobody in Hamburg can connect');
    expect(notice!.parsed.text).toContain('#resolve cause:');
    const events = (await timelineOf(1)).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['opened', 'triaged', 'assigned']));

    // Least-loaded: the next network incident goes to the other agent.
    await deliver(h.t.mailboxUser, {
      from: 'dan@example.com',
      to: SUPPORT,
      subject: 'VPN slow',
      text: 'The VPN is slow.',
    });
    expect(await incidentWhere(2, 'INC-2 assigned', (i) => i.status === 'assigned')).toMatchObject({
      group: 'network',
      assignee: 'nick',
      priority: 'P3',
    });
  });

  it("relays the agent's reply to the customer on the same thread, after running its commands", async () => {
    const [notice] = await mailTo('nina@example.test');
    await replyTo(
      notice!,
      'nina@example.test',
      '#priority P2\n#note checking the VPN concentrator logs\n\nHello Cora, we are on it and will update you within the hour.',
      [{ filename: 'vpn-setup.pdf', content: Buffer.from('%PDF-1.4 instructions') }],
    );
    const [toCustomer] = await mailTo(
      'cora@bigcorp.example',
      (m) => m.parsed.subject?.includes('Re: VPN down') === true && !m.header('auto-submitted'),
    );
    expect(toCustomer!.parsed.inReplyTo).toBe('<cora-1@bigcorp.example>');
    expect(toCustomer!.parsed.subject).toBe('[INC-000001] Re: VPN down for the whole office');
    expect(toCustomer!.parsed.text).toContain('we are on it');
    expect(toCustomer!.parsed.text).not.toMatch(/concentrator|#priority|#note|Nobody in Hamburg/);
    expect(toCustomer!.parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['vpn-setup.pdf', '%PDF-1.4 instructions'],
    ]);
    const [result] = await mailTo('nina@example.test', kindIs('command-result'));
    expect(result!.parsed.text).toContain('Done: your reply about INC-000001');
    // The matrix gives P1 for this incident's impact and urgency: P2 was set directly.
    expect(result!.parsed.text).toContain(
      'done: #priority: priority P2, set directly: it overrides the matrix, which gives P1 for impact high, urgency high',
    );
    expect(result!.parsed.text).toMatch(/done: #note/);
    const incident = await incidentWhere(
      1,
      'P2 and in progress',
      (i) => i.priority === 'P2' && i.status === 'in-progress',
    );
    expect(incident.firstRespondedAt).toBeTruthy();
    expect(incident.sla?.firstResponse?.stoppedAt).toBeTruthy();
    const note = (await timelineOf(1)).find((e) => e.event === 'note');
    expect(note?.text).toBe('checking the VPN concentrator logs');
  });

  it('pauses the resolution clock while waiting for the customer, and resumes on their reply', async () => {
    const [notice] = await mailTo('nina@example.test');
    await replyTo(notice!, 'nina@example.test', '#status pending');
    const pending = await incidentWhere(1, 'pending', (i) => i.status === 'pending-customer');
    expect(pending.sla?.resolution?.runningSince).toBeNull();
    const [agentReply] = await mailTo(
      'cora@bigcorp.example',
      (m) => m.parsed.text?.includes('we are on it') === true,
    );
    await replyTo(
      agentReply!,
      'cora@bigcorp.example',
      'Here is the error message: TLS handshake failed.',
    );
    const resumed = await incidentWhere(1, 'in progress again', (i) => i.status === 'in-progress');
    expect(resumed.sla?.resolution?.runningSince).toBeTruthy();
    const [forwarded] = await mailTo('nina@example.test', kindIs('customer-reply'));
    expect(forwarded!.parsed.text).toContain('TLS handshake failed');
    // Waiting for the customer is not a closure: the incident resumes, it is not reopened.
    expect(forwarded!.parsed.text).toContain('(the customer answered: work resumes');
    expect(forwarded!.parsed.text).not.toContain('reopened');
  });

  it('transfers between groups and reassigns by command', async () => {
    const [notice] = await mailTo('nina@example.test');
    await replyTo(notice!, 'nina@example.test', '#transfer service-desk');
    await incidentWhere(
      1,
      'in service desk, assigned to alice',
      (i) => i.group === 'service-desk' && i.assignee === 'alice',
    );
    const [toAlice] = await mailTo('alice@example.test', kindIs('assignment'));
    await replyTo(toAlice!, 'alice@example.test', '#assign anton');
    await incidentWhere(1, 'assigned to anton', (i) => i.assignee === 'anton');
    await mailTo('anton@example.test', kindIs('assignment'));
    const events = (await timelineOf(1)).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['transferred', 'assigned']));
  });

  it('requires a cause and a fix to resolve, tells the customer, and reopens when they write back', async () => {
    const [toAnton] = await mailTo('anton@example.test', kindIs('assignment'));
    await replyTo(toAnton!, 'anton@example.test', '#resolve cause: expired certificate');
    const [refusal] = await mailTo(
      'anton@example.test',
      (m) => m.parsed.text?.includes('refused: #resolve') === true,
    );
    expect(refusal!.parsed.text).toMatch(/fix|workaround/);
    expect((await findIncident(1))!.status).toBe('in-progress');

    await replyTo(
      toAnton!,
      'anton@example.test',
      '#resolve cause: expired certificate; fix: renewed the VPN gateway certificate',
    );
    const resolved = await incidentWhere(1, 'resolved', (i) => i.status === 'resolved');
    expect(resolved.resolution).toMatchObject({
      cause: 'expired certificate',
      fix: 'renewed the VPN gateway certificate',
      by: 'anton',
    });
    expect(resolved.slaCheckAt).toBeNull();
    const [told] = await mailTo(
      'cora@bigcorp.example',
      (m) => m.parsed.subject?.includes('Resolved:') === true,
    );
    expect(told!.parsed.text).toContain('renewed the VPN gateway certificate');
    expect(told!.parsed.text).toMatch(/reply to this email within 14 days/);

    await replyTo(told!, 'cora@bigcorp.example', 'Sorry, it is broken again.');
    await incidentWhere(1, 'reopened', (i) => i.status === 'in-progress');
    // The event is appended just after the status changes.
    await waitUntil('the reopened event', async () =>
      (await timelineOf(1)).some((e) => e.event === 'reopened'),
    );
    await mailTo('anton@example.test', (m) => m.parsed.text?.includes('broken again') === true);
  });

  it('does not execute forged commands', async () => {
    const before = await findIncident(1);
    // A stranger who learned the reply address: the text is kept, nothing is executed.
    await deliver(h.t.mailboxUser, {
      from: 'mallory@example.org',
      to: plusAddress(SUPPORT, SECRET, 1, { address: 'cora@bigcorp.example', role: 'customer' }),
      subject: 'Re: [INC-000001] VPN down',
      text: '#resolve cause: none; fix: none\n#assign alice',
    });
    await waitUntil('mallory recorded', async () =>
      (await timelineOf(1)).some((e) => e.from === 'mallory@example.org'),
    );
    // An agent without the token (a new mail naming the incident): refused, and told why.
    await deliver(h.t.mailboxUser, {
      from: 'alice@example.test',
      to: SUPPORT,
      subject: '[INC-000001] priority',
      text: '#priority P4',
    });
    const [refused] = await mailTo(
      'alice@example.test',
      (m) => m.parsed.text?.includes('Not done: your reply about INC-000001') === true,
    );
    expect(refused!.parsed.text).toMatch(/only accepted in a reply/);
    const after = await findIncident(1);
    expect(after).toMatchObject({
      status: before!.status,
      priority: before!.priority,
      assignee: before!.assignee,
    });
  });

  it('merges a duplicate into the original, and later mail on the duplicate lands on the original', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'cora@bigcorp.example',
      to: SUPPORT,
      subject: 'Still no VPN',
      text: 'Same problem as before.',
    });
    const duplicate = await waitUntil('duplicate assigned', async () =>
      Incident.findOne({ subject: 'Still no VPN', status: 'assigned' }).lean(),
    );
    const agent = duplicate.assignee!;
    const [notice] = await mailTo(
      `${agent}@example.test`,
      (m) => m.parsed.subject?.includes('Still no VPN') === true,
    );
    await replyTo(notice!, `${agent}@example.test`, '#merge INC-000001');
    await incidentWhere(
      duplicate.number,
      'merged',
      (i) => i.status === 'closed' && i.mergedInto === 1,
    );
    const [ack] = await mailTo(
      'cora@bigcorp.example',
      (m) =>
        m.parsed.subject?.includes('Still no VPN') === true &&
        m.header('auto-submitted') === 'auto-replied',
    );
    const count = (await findIncident(1))!.messageCount!;
    await replyTo(ack!, 'cora@bigcorp.example', 'Any news?');
    await incidentWhere(1, 'reply on the original', (i) => i.messageCount === count + 1);
  });

  it('recomputes priority from impact and urgency, and escalates on request', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'pat@example.com',
      to: SUPPORT,
      subject: 'Question about reports',
      text: 'How do I export?',
    });
    const incident = await waitUntil('assigned', async () =>
      Incident.findOne({ subject: 'Question about reports', status: 'assigned' }).lean(),
    );
    expect(incident.priority).toBe('P3');
    const agent = `${incident.assignee}@example.test`;
    const [notice] = await mailTo(
      agent,
      (m) => m.parsed.subject?.includes('Question about reports') === true,
    );
    await replyTo(notice!, agent, '#impact high\n#urgency high\n#escalate the customer is the CFO');
    await incidentWhere(
      incident.number,
      'P1',
      (i) => i.priority === 'P1' && i.impact === 'high' && i.urgency === 'high',
    );
    const [toLead] = await mailTo(
      'lena@example.test',
      (m) => m.parsed.subject?.includes('Question about reports') === true,
    );
    expect(toLead!.parsed.text).toContain('escalated to you as lead');
    expect(toLead!.parsed.text).toContain('the customer is the CFO');
    expect((await findIncident(incident.number))!.sla?.escalationLevel).toBe(1);
  });

  it('opens a new linked incident when the customer writes long after closure', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'lee@example.com',
      to: SUPPORT,
      subject: 'Password reset',
      text: 'I cannot reset my password.',
      messageId: '<lee-1@example.com>',
    });
    const incident = await waitUntil('assigned', async () =>
      Incident.findOne({ subject: 'Password reset', status: 'assigned' }).lean(),
    );
    const agent = `${incident.assignee}@example.test`;
    const [notice] = await mailTo(
      agent,
      (m) => m.parsed.subject?.includes('Password reset') === true,
    );
    await replyTo(
      notice!,
      agent,
      '#resolve cause: account locked; fix: unlocked the account\n#status closed',
    );
    await incidentWhere(incident.number, 'closed', (i) => i.status === 'closed');
    const [resolvedMail] = await mailTo(
      'lee@example.com',
      (m) => m.parsed.subject?.includes('Resolved:') === true,
    );
    advance(20 * 24 * 60 * MINUTE); // beyond the 14-day reopen window
    await replyTo(resolvedMail!, 'lee@example.com', 'It happened again.');
    const linked = await waitUntil('linked incident', async () =>
      Incident.findOne({ linkedTo: incident.number }).lean(),
    );
    expect(linked.customer?.address).toBe('lee@example.com');
    expect((await findIncident(incident.number))!.status).toBe('closed');
    await waitUntil('the old incident points at the new one', async () =>
      (await timelineOf(incident.number)).some((e) => e.event === 'continued-in'),
    );

    // Once maintenance has archived the old incident, a reply to it still leads back to it.
    await moveIncidents([incident.number], 'archive', now);
    expect(await findIncident(incident.number)).toBeNull();
    await replyTo(resolvedMail!, 'lee@example.com', 'And once more, months later.');
    const fromArchive = await waitUntil('an incident linked to the archived one', async () =>
      Incident.findOne({ linkedTo: incident.number, number: { $ne: linked.number } }).lean(),
    );
    expect(fromArchive.customer?.address).toBe('lee@example.com');
    expect((await findArchivedIncident(incident.number))!.incident.status).toBe('closed');
  });

  it('tells the lead when nobody in the group is available, who then assigns by name', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'sue@example.com',
      to: SUPPORT,
      subject: 'Contract question',
      text: 'We are considering a lawsuit.',
    });
    const incident = await waitUntil('routed to legal', async () =>
      Incident.findOne({ subject: 'Contract question', group: 'legal' }).lean(),
    );
    const [notice] = await mailTo(
      'lou@example.test',
      (m) => m.parsed.text?.includes('routed to Legal, but nobody there') === true,
    );
    expect(notice!.parsed.text).toMatch(/all away or at capacity/);
    expect((await findIncident(incident.number))!.status).toBe('triaged');
    await replyTo(notice!, 'lou@example.test', '#assign lou');
    await incidentWhere(
      incident.number,
      'assigned to lou',
      (i) => i.assignee === 'lou' && i.status === 'assigned',
    );
  });

  it('gives a waiting incident to the first agent who becomes available, most urgent first', async () => {
    const invoice = (from: string, subject: string) =>
      deliver(h.t.mailboxUser, {
        from,
        to: SUPPORT,
        subject,
        text: `About my invoice: ${subject}`,
      });
    const assignedTo = (subject: string, agent: string) =>
      waitUntil(`${subject} assigned to ${agent}`, async () =>
        Incident.findOne({ subject, assignee: agent }).lean(),
      );
    await invoice('pat@example.com', 'Invoice wrong');
    const first = await assignedTo('Invoice wrong', 'bill'); // Bill takes one at a time
    await invoice('quinn@example.com', 'Invoice missing');
    await mailTo(
      'max@example.test',
      (m) =>
        m.parsed.subject?.endsWith('] Invoice missing') === true &&
        m.parsed.text?.includes('routed to Billing, but nobody there') === true,
    );
    const waiting = (await Incident.findOne({ subject: 'Invoice missing' }).lean())!;
    expect(waiting).toMatchObject({ status: 'triaged', group: 'billing' });
    expect(waiting.assignee).toBeUndefined();

    // While Bill is busy, each sweep tries again, quietly: one event, one mail to the lead.
    const retried = async () => {
      advance(MINUTE);
      await sweep();
      await waitUntil('the retried assignment', async () =>
        (
          await h.app.ctx.queues.assign.getJob(jobIds.assign(waiting.number, 'triage'))
        )?.isCompleted(),
      );
    };
    await retried();
    expect((await findIncident(waiting.number))!.assignee).toBeUndefined();
    expect(
      (await timelineOf(waiting.number)).filter(
        (e) => e.type === 'event' && e.event === 'unassigned',
      ),
    ).toHaveLength(1);

    const [toBill] = await mailTo(
      'bill@example.test',
      (m) => kindIs('assignment')(m) && m.parsed.subject?.includes('Invoice wrong') === true,
    );
    await replyTo(
      toBill!,
      'bill@example.test',
      '#resolve cause: rounding; fix: corrected the invoice',
    );
    await incidentWhere(first.number, 'the first resolved', (i) => i.status === 'resolved');
    await retried();
    await assignedTo('Invoice missing', 'bill');
    await mailTo(
      'bill@example.test',
      (m) => kindIs('assignment')(m) && m.parsed.subject?.includes('Invoice missing') === true,
    );
  });

  it('refuses a transfer made from an outdated view of the incident', async () => {
    const { number } = (await Incident.findOne({ subject: 'Invoice missing' }).lean())!;
    const stale = (await findIncident(number))!;
    const move = (group: string, cause: string) =>
      transferIncident(h.app.ctx, stale, group, { by: 'escalation', cause });
    expect(await move('service-desk', 'test-move-1')).toMatchObject({ ok: true });
    const moved = await incidentWhere(
      number,
      'reassigned in the service desk',
      (i) => i.group === 'service-desk' && !!i.assignee,
    );
    // The same view again (a retried or concurrent step) must not undo that assignment.
    expect(await move('legal', 'test-move-2')).toMatchObject({ ok: false, raced: true });
    expect(await findIncident(number)).toMatchObject({
      group: 'service-desk',
      assignee: moved.assignee,
    });
  });

  it('warns before the SLA target, then escalates along the chain at each breach', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'ops@bigcorp.example',
      to: SUPPORT,
      subject: 'Website down',
      text: 'Our site is down.',
    });
    const incident = await waitUntil('P1 assigned', async () =>
      Incident.findOne({ subject: 'Website down', status: 'assigned' }).lean(),
    );
    expect(incident.priority).toBe('P1');
    const n = incident.number;
    const assignee = `${incident.assignee}@example.test`;
    advance(12 * MINUTE); // 80% of the 15-minute first-response target
    await sweep();
    const [warning] = await mailTo(assignee, kindIs('sla-warning'));
    expect(warning!.parsed.text).toContain('The first response target of');
    // In the agent's zone (the plan's: UTC here), written out; never an ISO timestamp.
    expect(warning!.parsed.text).toMatch(
      /(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} 2026, \d\d:\d\d UTC/,
    );

    advance(4 * MINUTE); // past 15 minutes: breach, first escalation step (the lead)
    await sweep();
    await mailTo(
      'nora@example.test',
      // Other incidents of this file escalate under the same clock: match this one's subject.
      (m) =>
        m.parsed.text?.includes('escalated to you as lead') === true &&
        m.parsed.subject?.includes('Website down') === true,
    );
    advance(10 * MINUTE); // still breached after repeatAfter: the manager
    await sweep();
    await mailTo(
      'max@example.test',
      // Other incidents of this file escalate under the same clock: match this one's subject.
      (m) =>
        m.parsed.text?.includes('escalated to you as manager') === true &&
        m.parsed.subject?.includes('Website down') === true,
    );
    advance(10 * MINUTE); // then a transfer to the service desk
    await sweep();
    const transferred = await incidentWhere(
      n,
      'transferred',
      (i) => i.group === 'service-desk' && !!i.assignee,
    );
    expect(transferred.sla?.escalationLevel).toBe(3);
    const events = (await timelineOf(n)).filter((e) => e.type === 'event').map((e) => e.event);
    expect(events).toEqual(
      expect.arrayContaining(['sla-breached', 'escalated', 'transferred', 'assigned']),
    );
    expect(events.filter((e) => e === 'escalated')).toHaveLength(3);
    // Further sweeps do nothing more: the chain is exhausted.
    advance(30 * MINUTE);
    await sweep();
    expect((await timelineOf(n)).filter((e) => e.event === 'escalated').length).toBe(3);
  });
});
