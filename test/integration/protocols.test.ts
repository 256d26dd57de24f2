/**
 * Communication protocols end to end on real servers, with a real `incidesk start` process
 * killed with SIGKILL three times while protocol mail is going out: a P1 outage's stakeholder
 * briefing goes to the group lead and a distribution list at opening, at every interval and at
 * resolution; the customer update is held for the lead's approval (#approve by email, then
 * `incidesk protocol approve`) and then reaches every reporter grouped under the outage, in
 * their language. Each recipient gets each moment exactly once (one Message-ID), and every
 * message is on the parent's timeline and in `incidesk protocol log`. Then, in process: a P3
 * raised to P1 briefs the lead at the priority change, and a customer update that needs a
 * manager is refused to the lead's #approve and dropped by the manager's #reject.
 *
 * The process cannot use the test's DNS stub, so agents' mail is trusted by its token alone
 * (`agentMail: token-only`); agent-auth.test.ts covers the other modes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveIncident } from '../../src/actions/changes.js';
import { sweepProtocols } from '../../src/actions/protocols.js';
import type { AppContext } from '../../src/context.js';
import { jobIds } from '../../src/queues.js';
import { dueProtocolChecks } from '../../src/store/protocols.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import {
  Incident,
  Outbox,
  ProtocolMessage,
  TimelineEntry,
  type IncidentDoc,
  type ProtocolMessageDoc,
} from '../../src/store/models.js';
import {
  deliver,
  deliverReply,
  monitoredMongoUri,
  SUPPORT,
  testEnv,
  useTestApp,
  waitUntil,
  type TestApp,
  type TestEnv,
} from '../support/harness.js';
import { mailExchange } from '../support/mail-exchange.js';
import { runIncidesk, spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from '../support/smtp-capture.js';

const PLAN = `version: 1
organisation: Example Corp
groups: [{ id: noc, name: NOC, lead: lee, manager: max }]
agents:
  - { id: lee, name: Lee Lead, email: lee@example.test, groups: [noc] }
  - { id: max, name: Max Manager, email: max@example.test, groups: [noc] }
customers:
  - { domain: kunde.test, tier: silver, locale: de }
classification:
  rules:
    - { name: down, when: { subject: '\\bdown\\b' }, set: { category: outage, impact: high, urgency: high } }
    - { name: slow, when: { subject: '\\bslow\\b' }, set: { category: outage, impact: low, urgency: medium } }
routing: { default: noc }
access: { agentMail: token-only }
communication:
  lists:
    board: [ceo@corp.test, cfo@corp.test]
  protocols:
    - name: major
      when: { priority: P1 }
      messages:
        - { to: [lead, { list: board }], audience: internal, template: stakeholder-briefing, at: [opened, resolved], every: 12s }
    - name: customers
      when: { priority: P1, category: outage }
      messages:
        - { to: [customers], audience: external, template: stakeholder-update, at: [opened, resolved], approval: lead }
`;
const LEE = 'lee@example.test';
const STAFF = [LEE, 'ceo@corp.test', 'cfo@corp.test'];
const ALICE = 'alice@cust.test';
const BOB = 'bob@kunde.test';
const CAROL = 'carol@cust.test';
const WATCH = 'watch@corp.test';

describe('communication protocols across kill -9', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let proc: IncideskProcess | undefined;
  const log = `/tmp/incidesk-protocols-${process.pid}.log`;

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    const planFile = join(tmpdir(), `incidesk-protocols-plan-${process.pid}.yaml`);
    writeFileSync(planFile, PLAN);
    t = testEnv(smtp, { INCIDESK_PLAN: planFile, INCIDESK_SLA_SWEEP_SECONDS: '2' });
    await connectStore(t.env.MONGODB_URI!);
  });
  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await disconnectStore();
    await smtp?.close();
  });

  const start = () => spawnIncidesk(['start'], t.env, log);
  const restartAfterKill = async () => {
    expect(await proc!.kill('SIGKILL')).toBeNull();
    proc = start();
  };
  const kind = (m: CapturedMail) => m.header('x-incidesk-kind');
  const protocolMails = (to: string) =>
    smtp.messages.filter((m) => kind(m) === 'protocol' && m.envelopeTo.includes(to));
  // Generous: after a kill the restarted process first finds the killed one's jobs stalled.
  const waitForMail = (what: string, find: () => CapturedMail | undefined, timeoutMs = 150_000) =>
    waitUntil(what, async () => find(), timeoutMs);
  /** The moments a recipient heard of, by the mail's wording, each with its Message-IDs. */
  const heard = (to: string) => {
    const byMoment = new Map<string, Set<string>>();
    for (const m of protocolMails(to)) {
      const text = m.parsed.text ?? '';
      const moment =
        /is resolved|ist gelöst|problem below is resolved/.exec(text)?.[0] !== undefined
          ? 'resolved'
          : (/status update (\d+)/.exec(text)?.[0] ??
            (/was opened|working on it since/.test(text) ? 'opened' : `other: ${text}`));
      byMoment.set(moment, (byMoment.get(moment) ?? new Set()).add(m.parsed.messageId!));
    }
    return byMoment;
  };

  it(
    'tells each recipient each moment once, with approval, while the process is killed',
    { timeout: 400_000 },
    async () => {
      const t0 = Date.now();
      const marks: string[] = [];
      const mark = (what: string) =>
        marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      proc = start();
      await deliver(t.mailboxUser, {
        from: ALICE,
        to: SUPPORT,
        subject: 'Shop is down',
        text: 'Nothing loads.',
      });
      // Kill 1: as soon as the first briefing of the opening is out, the others in flight.
      await waitForMail('first opening briefing', () =>
        STAFF.flatMap(protocolMails).find(() => true),
      );
      mark('kill 1');
      await restartAfterKill();
      // The n-th distinct approval request: a mail sent just before a kill may be sent again
      // after it, with the same Message-ID (SMTP is at-least-once; the Message-ID is the mail).
      const approvalOf = (n: number) =>
        waitForMail(`approval request ${n}`, () => {
          const seen = new Map<string, CapturedMail>();
          for (const m of smtp.messages.filter((m) => kind(m) === 'protocol-approval'))
            if (!seen.has(m.parsed.messageId!)) seen.set(m.parsed.messageId!, m);
          return [...seen.values()][n - 1];
        });
      const ask = await approvalOf(1);
      expect(ask.envelopeTo).toEqual([LEE]);
      expect(ask.parsed.text).toContain(`Recipients: ${ALICE}`);
      const ref = /#approve ([0-9a-f]{6})/.exec(ask.parsed.text!)![1]!;
      const parent = (await Incident.findOne({ subject: 'Shop is down' }).lean())!;
      expect(parent.priority).toBe('P1');
      expect(protocolMails(ALICE)).toHaveLength(0); // held until approved

      mark('approval 1');
      // Two more customers report it; their reports are grouped under the outage.
      for (const from of [BOB, CAROL])
        await deliver(t.mailboxUser, { from, to: SUPPORT, subject: 'Shop is slow', text: 'Hm.' });
      const reports = await waitUntil('reports triaged', async () => {
        const found = await Incident.find({ subject: 'Shop is slow', status: 'assigned' }).lean();
        return found.length === 2 ? found : null;
      });
      expect(reports.map((r) => r.priority)).not.toContain('P1');
      mark('reports triaged');
      const id = (n: number) => `INC-${String(n).padStart(6, '0')}`;
      const group = await runIncidesk(
        [
          'incidents',
          'group',
          id(parent.number),
          ...reports.map((r) => id(r.number)),
          '--as',
          'lee',
        ],
        t.env,
      );
      expect(group.stderr).toBe('');

      mark('grouped');
      // The lead approves the opening update by email: only Alice had reported when it opened.
      await deliverReply(t.mailboxUser, ask, LEE, `#approve ${ref}`);
      await waitForMail('the approved opening update', () => protocolMails(ALICE)[0]);

      mark('approved opening sent');
      // Kill 2: right after the first interval briefing.
      await waitForMail('first interval briefing', () =>
        STAFF.flatMap(protocolMails).find((m) => m.parsed.text?.includes('status update 1')),
      );
      await restartAfterKill();

      mark('kill 2');
      // Resolved by the lead's reply to a briefing: the briefing goes out, the customer update
      // waits for approval again, now for every reporter.
      const briefing = protocolMails(LEE)[0]!;
      await deliverReply(
        t.mailboxUser,
        briefing,
        LEE,
        '#resolve cause: database failover stalled; fix: failed over by hand',
      );
      const ask2 = await approvalOf(2);
      for (const who of [ALICE, BOB, CAROL]) expect(ask2.parsed.text).toContain(who);
      mark('approval 2');
      const held = await ProtocolMessage.find({ state: 'held', moment: 'resolved' }).lean();
      expect(held.map((m) => m.recipient).sort()).toEqual([
        'customer:alice@cust.test',
        'customer:bob@kunde.test',
        'customer:carol@cust.test',
      ]);
      const approve = await runIncidesk(
        ['protocol', 'approve', id(parent.number), '--as', 'lee'],
        t.env,
      );
      expect(approve.stdout).toMatch(/approve: approved [0-9a-f]{6}: 3 message\(s\) sent/);

      mark('approved by CLI');
      // Kill 3: as the first resolution update reaches a customer.
      await waitForMail('first resolution update', () =>
        [ALICE, BOB, CAROL]
          .flatMap(protocolMails)
          .find((m) => /resolved|gelöst/.test(m.parsed.text ?? '')),
      );
      await restartAfterKill();
      mark('kill 3');
      await waitUntil('every protocol message released and its mail sent', async () => {
        const [unreleased, resolvedToCustomers, unsent] = await Promise.all([
          ProtocolMessage.countDocuments({ state: { $in: ['pending', 'held'] } }),
          ProtocolMessage.countDocuments({
            moment: 'resolved',
            audience: 'external',
            state: 'released',
          }),
          Outbox.countDocuments({ kind: /^protocol/, state: { $ne: 'sent' } }),
        ]);
        return unreleased === 0 && resolvedToCustomers === 3 && unsent === 0;
      });
      mark('all sent');
      await new Promise((r) => setTimeout(r, 4000)); // two sweeps: room for a duplicate
      await proc!.kill('SIGTERM');
      proc = undefined;
      console.log(`protocols: ${marks.join(', ')}`);

      // Staff: opened once, each interval once, resolved once; nothing after resolution.
      for (const who of STAFF) {
        const moments = heard(who);
        for (const [moment, ids] of moments)
          expect([who, moment, ids.size]).toEqual([who, moment, 1]);
        expect(moments.has('opened')).toBe(true);
        expect(moments.has('status update 1')).toBe(true);
        expect(moments.has('resolved')).toBe(true);
      }
      // Customers: Alice the opening and the resolution, the later reporters the resolution, Bob in German.
      expect([...heard(ALICE).entries()].map(([m, ids]) => [m, ids.size])).toEqual([
        ['opened', 1],
        ['resolved', 1],
      ]);
      for (const who of [BOB, CAROL])
        expect([...heard(who).entries()].map(([m, ids]) => [m, ids.size])).toEqual([
          ['resolved', 1],
        ]);
      expect(protocolMails(BOB)[0]!.parsed.text).toContain('das folgende Problem ist gelöst');
      expect(protocolMails(BOB)[0]!.parsed.subject).toContain('Gelöst');

      // One record per recipient and moment; on the parent's timeline, approvals recorded.
      const records = await ProtocolMessage.find({ incidentNumber: parent.number }).lean<
        ProtocolMessageDoc[]
      >();
      expect(records.every((r) => r.state === 'released')).toBe(true);
      const customerRecords = records.filter((r) => r.audience === 'external');
      expect(customerRecords.map((r) => [r.recipient, r.moment, r.approvedBy]).sort()).toEqual([
        ['customer:alice@cust.test', 'opened', 'lee'],
        ['customer:alice@cust.test', 'resolved', 'lee'],
        ['customer:bob@kunde.test', 'resolved', 'lee'],
        ['customer:carol@cust.test', 'resolved', 'lee'],
      ]);
      const entries = await TimelineEntry.find({
        incidentNumber: parent.number,
        event: 'protocol-message',
      }).lean();
      expect(entries).toHaveLength(records.length);
      const logOut = await runIncidesk(['protocol', 'log', id(parent.number)], t.env);
      expect(logOut.stdout.split('\n').filter((l) => l.includes('released'))).toHaveLength(
        records.length,
      );
      expect(logOut.stdout).toContain('approved by lee');
    },
  );
});

describe('communication protocols: a priority change, and approval that is refused or rejected', () => {
  let now = new Date();
  const h = useTestApp({
    now: () => now,
    plan: `
groups: [{ id: desk, name: Desk, lead: lee, manager: max }]
agents:
  - { id: lee, name: Lee Lead, email: lee@example.test, groups: [desk] }
  - { id: max, name: Max Manager, email: max@example.test }
routing: { default: desk }
communication:
  protocols:
    - name: major
      when: { priority: P1 }
      messages:
        - { to: [lead], audience: internal, template: stakeholder-briefing, at: [opened, priority-changed] }
        - { to: [customers], audience: external, template: stakeholder-update, at: [priority-changed], approval: manager }
`,
  });
  const { mailTo, mailsTo, replyTo, sweep } = mailExchange(h);
  const kindIs = (k: string) => (m: CapturedMail) => m.header('x-incidesk-kind') === k;

  it('raised to P1: the lead is briefed, the customer update waits for a manager, who rejects it', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'pat@cust.test',
      to: SUPPORT,
      subject: 'Printer jams',
      text: 'Every page.',
    });
    const [assignment] = await mailTo(LEE, kindIs('assignment'));
    await replyTo(assignment!, LEE, '#priority P1');
    const [briefing] = await mailTo(LEE, kindIs('protocol'));
    expect(briefing!.parsed.text).toContain('status change.');
    expect(briefing!.parsed.text).toContain('Priority:  P1');
    const [ask] = await mailTo('max@example.test', kindIs('protocol-approval'));
    // What the customer would read, as the real mail writes it.
    expect(ask!.parsed.text).toContain('An update on the problem you reported');
    expect(ask!.parsed.text).toContain('Kind regards,\nExample Support');
    const ref = /#approve ([0-9a-f]{6})/.exec(ask!.parsed.text!)![1]!;

    // The lead may not release what needs a manager.
    await replyTo(assignment!, LEE, `#approve ${ref}`);
    const results = await mailTo(LEE, kindIs('command-result'), 2);
    expect(results[1]!.parsed.text).toContain(
      'refused: #approve: these messages need a manager’s approval',
    );
    await replyTo(ask!, 'max@example.test', `#reject ${ref}`);
    await waitUntil('rejected', () =>
      ProtocolMessage.findOne({ state: 'rejected', approvedBy: 'max' }).lean(),
    );
    expect(mailsTo('pat@cust.test', kindIs('protocol'))).toHaveLength(0);
    const incident = (await Incident.findOne({ subject: 'Printer jams' }).lean())!;
    const told = await TimelineEntry.find({
      incidentNumber: incident.number,
      event: 'protocol-message',
    }).lean();
    expect(told.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        protocol: 'major',
        moment: 'priority-changed',
        occurrence: 1,
        recipient: 'role:lead',
        to: [LEE],
      }),
    ]);
    // The sweep's replay of the opening judges it as it was opened (P3): no late "opened".
    now = new Date(now.getTime() + 60_000);
    await sweep();
    expect(await ProtocolMessage.countDocuments({ moment: 'opened' })).toBe(0);
  });
});

const counting = new AsyncLocalStorage<true>();
/** One protocol sweep; what it sent, and each database command it sent (op collection). */
const countedSweep = async (ctx: AppContext) => {
  const commands: string[] = [];
  const client = mongoose.connection.getClient();
  const seen = (e: CommandStartedEvent) => {
    if (counting.getStore()) commands.push(`${e.commandName} ${String(e.command[e.commandName])}`);
  };
  client.on('commandStarted', seen);
  try {
    const sent = await counting.run(true, () => sweepProtocols(ctx));
    return { sent, commands };
  } finally {
    client.off('commandStarted', seen);
  }
};

/**
 * An app whose P1 incidents brief WATCH (`message`: when, and how often), on a database of its
 * own whose commands are counted; its own sweeps stay out of the way: a test runs each itself.
 */
const p1App = (database: string, now: () => Date, message: string) =>
  useTestApp({
    now,
    env: { MONGODB_URI: monitoredMongoUri(database), INCIDESK_SLA_SWEEP_SECONDS: '3600' },
    plan: `
classification:
  rules:
    - { name: down, when: { subject: '\\bdown\\b' }, set: { category: outage, impact: high, urgency: high } }
communication:
  protocols:
    - name: major
      when: { priority: P1 }
      messages:
        - { to: [{ address: ${WATCH} }], audience: internal, template: stakeholder-briefing, ${message} }
`,
  });
/** Open `count` P1 incidents (one customer each) at the app's `now`; wait for their openings. */
const openP1Incidents = async (h: TestApp, first: number, count: number) => {
  for (let i = first; i < first + count; i++)
    await deliver(h.t.mailboxUser, {
      from: `customer${i}@cust${i}.test`,
      to: SUPPORT,
      subject: `Site ${i} is down`,
      text: 'Nothing loads.',
    });
  await waitUntil(
    `${first + count} openings announced`,
    async () =>
      (await ProtocolMessage.countDocuments({ moment: 'opened', state: 'released' })) ===
      first + count,
  );
  return Incident.find({ priority: 'P1' }).sort({ number: 1 }).skip(first).lean<IncidentDoc[]>();
};

describe('communication protocols: the interval sweep reads only the incidents due', () => {
  const T0 = new Date();
  let now = T0;
  const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);
  const h = p1App('protocol_sweep', () => now, 'at: [opened], every: 1h');
  const { mailsTo } = mailExchange(h);
  const updates = (n: number) =>
    mailsTo(WATCH, (m) => m.parsed.text?.includes(`status update ${n}.`) === true);

  const openIncidents = (first: number, count: number) => openP1Incidents(h, first, count);
  const sweepAt = (at: Date) => {
    now = at;
    return countedSweep(h.app.ctx);
  };

  it(
    'sends each interval update at its period, and reads the same for 50 incidents as for 5',
    { timeout: 300_000 },
    async () => {
      await openIncidents(0, 5);
      // On time: not a minute early, at the boundary itself.
      expect((await sweepAt(minutes(59))).sent).toBe(0);
      expect((await sweepAt(minutes(60))).sent).toBe(5);
      await waitUntil('5 first updates mailed', async () => updates(1).length === 5);

      // Nothing due: what a sweep costs when every period's message went out already.
      const five = await sweepAt(minutes(61));
      expect(five.sent).toBe(0);
      await openIncidents(5, 45);
      // The new ones' first period and the first five's second, in one sweep.
      expect((await sweepAt(minutes(121))).sent).toBe(50);
      await waitUntil(
        '45 first and 5 second updates mailed',
        async () => updates(1).length === 50 && updates(2).length === 5,
      );
      const fifty = await sweepAt(minutes(122));
      expect(fifty.sent).toBe(0);
      console.log(
        `protocol sweep with nothing due: ${five.commands.length} commands for 5 open P1 incidents, ${fifty.commands.length} for 50`,
      );
      expect(fifty.commands).toEqual(five.commands);
      // One query for the incidents due, none per incident.
      expect(fifty.commands.filter((c) => c === 'find incidents')).toHaveLength(1); // the due
      expect(fifty.commands.filter((c) => c.endsWith(' protocol_messages'))).toEqual([
        'find protocol_messages', // pending messages a crash left unreleased
      ]);
      // Each recipient heard each period once.
      expect(new Set(updates(1).map((m) => m.parsed.messageId)).size).toBe(50);
    },
  );

  it('looks once at an incident stored before protocol checks existed, then schedules it', async () => {
    // As an older release stored it: no protocolCheckAt. Start-up makes such incidents due.
    const legacy = (await Incident.findOne({ subject: 'Site 0 is down' }).lean())!;
    await Incident.updateOne({ _id: legacy._id }, { $unset: { protocolCheckAt: 1 } });
    now = minutes(185);
    expect(await dueProtocolChecks(now, false)).toBe(1);
    expect(await dueProtocolChecks(now, false)).toBe(0); // once
    // Its third period (at 180 min) had not been swept: it goes out, the others' checks wait.
    const { sent } = await sweepAt(minutes(185));
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(
      await ProtocolMessage.countDocuments({
        incidentNumber: legacy.number,
        moment: 'interval',
        occurrence: 3,
      }),
    ).toBe(1);
    const after = (await Incident.findById(legacy._id).lean())!;
    expect(after.protocolCheckAt).toEqual(minutes(240));
  });
});

describe('communication protocols: the sweep replays an opening or resolution once, after the grace', () => {
  const T0 = new Date();
  let now = T0;
  const seconds = (n: number) => new Date(T0.getTime() + n * 1000);
  const h = p1App('protocol_replay', () => now, 'at: [opened, resolved]');
  const { mailsTo } = mailExchange(h);
  const sweepAt = (at: Date) => {
    now = at;
    return countedSweep(h.app.ctx);
  };
  const released = (moment: string) =>
    ProtocolMessage.countDocuments({ moment, state: 'released' });
  /** The briefings WATCH got about one incident at one moment (a replay has the same Message-ID). */
  const briefings = (number: number, moment: 'opened' | 'resolved') =>
    mailsTo(
      WATCH,
      (m) =>
        m.parsed.subject?.includes(`INC-${String(number).padStart(6, '0')}`) === true &&
        /is resolved/.test(m.parsed.text ?? '') === (moment === 'resolved'),
    ).length;

  const openIncidents = (first: number, count: number) => openP1Incidents(h, first, count);
  /** Resolve these incidents at `at` (each tells WATCH, in process). */
  const resolveAll = async (incidents: readonly IncidentDoc[], at: Date) => {
    now = at;
    for (const incident of incidents) {
      const current = (await Incident.findById(incident._id).lean<IncidentDoc>())!;
      const result = await resolveIncident(
        h.app.ctx,
        current,
        { cause: 'disk full', fix: 'freed space' },
        { by: 'system', cause: `test-resolve-${incident.number}` },
      );
      expect(result.ok).toBe(true);
    }
  };

  it(
    'reads the same for 50 incidents opened and resolved in the last hour as for 5',
    { timeout: 300_000 },
    async () => {
      const first = await openIncidents(0, 5);
      await resolveAll(first.slice(0, 2), seconds(5));
      // Each one's look after its moments: nothing was missing, so nothing is sent.
      expect((await sweepAt(seconds(20))).sent).toBe(0);
      const five = await sweepAt(seconds(80));
      expect(five.sent).toBe(0);

      now = seconds(80);
      const more = await openIncidents(5, 45);
      await resolveAll(more.slice(0, 18), seconds(85));
      const looks = await sweepAt(seconds(100));
      expect(looks.sent).toBe(0);
      const fifty = await sweepAt(seconds(160)); // all 50 opened, 20 resolved, within the hour
      expect(fifty.sent).toBe(0);
      console.log(
        `protocol sweep after openings and resolutions whose messages went out: ${five.commands.length} commands for 5, ${fifty.commands.length} for 50; the sweep that looked at the 45 new ones: ${looks.commands.length}`,
      );
      expect(fifty.commands).toEqual(five.commands);
      expect(fifty.commands.filter((c) => c === 'find incidents')).toHaveLength(1);
      // Each opening and resolution was heard once.
      expect(await released('opened')).toBe(50);
      expect(await released('resolved')).toBe(20);
      await waitUntil(
        'every briefing mailed',
        async () => mailsTo(WATCH, () => true).length === 70,
      );
      const ids = new Set(mailsTo(WATCH, () => true).map((m) => m.parsed.messageId));
      expect(ids.size).toBe(70);
    },
  );

  it('replays an opening, and a resolution, whose messages a killed process never recorded', async () => {
    now = seconds(300);
    const [incident] = await openIncidents(50, 1);
    const { number } = incident!;
    await waitUntil('the opening mailed', async () => briefings(number, 'opened') === 1);
    /** As if the process had died after the change, before its messages were recorded. */
    const forget = async (moment: 'opened' | 'resolved') => {
      const records = await ProtocolMessage.find({ incidentNumber: number, moment }).lean();
      expect(records).toHaveLength(1);
      await ProtocolMessage.deleteMany({ _id: { $in: records.map((r) => r._id) } });
      await TimelineEntry.deleteMany({ _id: { $in: records.map((r) => `protocol-${r._id}`) } });
      // Its mail too: the outbox message and the job that sent it (job ids are deterministic).
      const mails = await Outbox.find({ incidentNumber: number, kind: 'protocol' }).lean();
      for (const mail of mails) {
        const job = (await h.app.ctx.queues.notify.getJob(jobIds.notify(String(mail._id))))!;
        await waitUntil('its job finished', () => job.isCompleted());
        await job.remove();
      }
      await Outbox.deleteMany({ _id: { $in: mails.map((m) => m._id) } });
    };
    await forget('opened');
    // Within the grace the moment is its own job's: the sweep does not look yet.
    expect((await sweepAt(seconds(305))).sent).toBe(0);
    expect(await ProtocolMessage.countDocuments({ incidentNumber: number })).toBe(0);
    // After it, the sweep replays the opening once.
    expect((await sweepAt(seconds(310))).sent).toBe(1);
    expect((await sweepAt(seconds(320))).sent).toBe(0);
    await waitUntil('the replayed opening mailed', async () => briefings(number, 'opened') === 2);

    await resolveAll([incident!], seconds(400));
    await waitUntil('the resolution mailed', async () => briefings(number, 'resolved') === 1);
    await forget('resolved');
    expect((await sweepAt(seconds(405))).sent).toBe(0);
    expect((await sweepAt(seconds(410))).sent).toBe(1);
    expect((await sweepAt(seconds(470))).sent).toBe(0);
    await waitUntil(
      'the replayed resolution mailed',
      async () => briefings(number, 'resolved') === 2,
    );
    const after = (await Incident.findById(incident!._id).lean<IncidentDoc>())!;
    expect(after.protocolCheckAt).toBeNull(); // resolved: nothing more to look at
    await new Promise((r) => setTimeout(r, 1000));
    expect([briefings(number, 'opened'), briefings(number, 'resolved')]).toEqual([2, 2]);
  });
});
