/**
 * Post-incident review, duplicates and outage grouping end to end on real servers: agents by
 * email (commands with the token), reminders under a fake clock, and the same rules via the
 * CLI run as a child process against the same database and queues.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveIncident } from '../../src/actions/changes.js';
import { groupUnder } from '../../src/actions/links.js';
import {
  appendTimeline,
  findIncident,
  openIncident,
  recordMessage,
  timelineOf,
  updateIncident,
} from '../../src/store/incidents.js';
import { Incident, Outbox, ReviewAction } from '../../src/store/models.js';
import { timelineWithMerged } from '../../src/store/review.js';
import { deliver, operatorPlanFile, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';
import { mailExchange } from '../support/mail-exchange.js';
import { runIncidesk } from '../support/process.js';

const PLAN = `
groups:
  - { id: ops, name: Operations, lead: lena, assignment: round-robin }
agents:
  - { id: olga, name: Olga, email: olga@example.test, groups: [ops] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [ops], away: true }
classification:
  rules:
    - { name: down, when: { text: '\\bdown\\b' }, set: { category: outage, impact: high, urgency: high } }
routing: { default: ops }
review:
  requiredFor: [P1, P2]
  remindBefore: 1d
  duplicates: { within: 7d, similarity: 0.6 }
  outages: { within: 1h, similarity: 0.6, minCustomers: 3 }
access:
  agentsMay: [merge] # Olga merges duplicates herself; merging is otherwise for the lead
`;

const OLGA = 'olga@example.test';

describe('post-incident review, duplicates and outages', () => {
  let now = new Date('2026-11-23T10:00:00Z');
  const h = useTestApp({ plan: PLAN, env: { INCIDESK_SLA_SWEEP_SECONDS: '3600' }, now: () => now });
  const DAY = 86_400_000;

  const { mailsTo, mailTo, subjectHas, textHas, replyTo, sweep } = mailExchange(h);
  /** A customer's new incident, waited for until it is assigned; returns it and its notice. */
  const report = async (from: string, subject: string, text = 'Please help.') => {
    await deliver(h.t.mailboxUser, { from, to: SUPPORT, subject, text });
    const incident = await waitUntil(`"${subject}" from ${from} assigned`, async () =>
      Incident.findOne({ subject, 'customer.address': from, status: 'assigned' }).lean(),
    );
    const [notice] = await mailTo(
      OLGA,
      (m) =>
        m.parsed.subject?.startsWith(`[INC-${String(incident.number).padStart(6, '0')}]`) ===
          true && m.parsed.headers.get('x-incidesk-kind') === 'assignment',
    );
    return { incident, notice: notice! };
  };
  /** The result mail of Olga's n-th command reply on an incident. */
  const results = (number: number, count: number) =>
    mailTo(
      OLGA,
      (m) =>
        m.header('x-incidesk-incident') === `INC-${String(number).padStart(6, '0')}` &&
        m.header('x-incidesk-kind') === 'command-result',
      count,
    );
  // The CLI loads its plan from a file: the same plan as the running app's.
  const planFile = join(tmpdir(), `incidesk-review-plan-${process.pid}.yaml`);
  writeFileSync(
    planFile,
    `version: 1\norganisation: Example Corp\nacknowledgements: { perSenderPerHour: 5 }\n${PLAN}`,
  );
  const cliPlan = operatorPlanFile(planFile); // with the test operators' tokens
  const cli = (args: string[]) => runIncidesk(args, { ...h.t.env, INCIDESK_PLAN: cliPlan });

  let p1 = 0;

  it('refuses to close a P1 without lessons and owned, dated action items; closes once they exist', async () => {
    const { incident, notice } = await report('cora@bigcorp.example', 'Database down');
    expect(incident.priority).toBe('P1');
    p1 = incident.number;
    await replyTo(
      notice,
      OLGA,
      '#resolve cause: disk full; fix: freed space and added a volume\n#status closed',
    );
    const [first] = await results(p1, 1);
    expect(first!.parsed.text).toMatch(/done: #resolve/);
    expect(first!.parsed.text).toMatch(
      /refused: #status: cannot close before the review is done: P1 needs lessons learned \(#lesson <text>\); P1 needs at least one action item with an owner and a due date/,
    );
    expect((await findIncident(p1))!.status).toBe('resolved');

    await replyTo(
      notice,
      OLGA,
      '#lesson\nNo alert on disk usage.\nWe noticed only when customers did.\n\n#action olga due 2026-11-25 add disk usage alerts\n#status closed',
    );
    const [, second] = await results(p1, 2);
    expect(second!.parsed.text).toMatch(/done: #lesson: lesson recorded/);
    expect(second!.parsed.text).toMatch(
      new RegExp(`done: #action: action item ${p1}-1 for olga@example.test, due 2026-11-25`),
    );
    expect(second!.parsed.text).toMatch(/done: #status: status closed/);
    const closed = (await findIncident(p1))!;
    expect(closed.status).toBe('closed');
    expect(closed.review?.lessons?.map((l) => l.text)).toEqual([
      'No alert on disk usage.\nWe noticed only when customers did.',
    ]);
    // The shape other features read directly.
    const items = await ReviewAction.find({ incidentNumber: p1 }).lean();
    expect(items).toEqual([
      {
        _id: `${p1}-1`,
        incidentNumber: p1,
        owner: OLGA,
        text: 'add disk usage alerts',
        dueAt: new Date('2026-11-25T23:59:59.999Z'),
        createdAt: now,
      },
    ]);
    const events = (await timelineOf(p1)).map((e) => e.event);
    expect(events).toEqual(
      expect.arrayContaining(['resolved', 'lesson', 'action-added', 'status-changed']),
    );
  });

  it('reminds the owner of an overdue action item once per day', async () => {
    const overdue = textHas(`is overdue:\n\n  Action:    ${p1}-1`);
    const dueSoon = textHas(`is due soon:\n\n  Action:    ${p1}-1`);
    await sweep(); // 2026-11-23: not due for two days
    now = new Date('2026-11-25T09:00:00Z'); // within a day of the due date
    await sweep();
    await mailTo(OLGA, dueSoon);
    now = new Date('2026-11-26T08:00:00Z'); // overdue
    await sweep();
    now = new Date('2026-11-26T20:00:00Z');
    await sweep();
    const [reminder] = await mailTo(OLGA, overdue);
    expect(reminder!.parsed.text).toContain('add disk usage alerts');
    expect(reminder!.parsed.text).toContain(`#action-done ${p1}-1`);
    expect(await Outbox.countDocuments({ kind: 'review-reminder' })).toBe(2);
    expect(mailsTo(OLGA, overdue)).toHaveLength(1);
    expect((await ReviewAction.findById(`${p1}-1`).lean())!.lastRemindedAt).toEqual(
      new Date('2026-11-26T08:00:00Z'),
    );
    now = new Date(now.getTime() + DAY); // the next day: once more
    await sweep();
    await mailTo(OLGA, overdue, 2);
    // Done: no more reminders.
    const done = await cli(['review', 'done', `${p1}-1`, '--as', OLGA]);
    expect(done.stdout).toContain(`action item ${p1}-1 done`);
    now = new Date(now.getTime() + DAY);
    await sweep();
    expect(await Outbox.countDocuments({ kind: 'review-reminder' })).toBe(3);
  });

  it('flags a likely duplicate in the assignment mail, and #merge keeps every message', async () => {
    const first = await report(
      'dan@example.com',
      'Printer jammed',
      'The printer on floor 2 is jammed.',
    );
    expect(first.incident.duplicateOf).toEqual([]);
    const second = await report(
      'dan@example.com',
      'Fwd: printer JAMMED again!',
      'Still jammed, paper everywhere.',
    );
    const id = `INC-${String(first.incident.number).padStart(6, '0')}`;
    expect(second.incident.duplicateOf).toEqual([first.incident.number]);
    expect(second.notice.parsed.text).toContain(
      `Possible duplicate of ${id} (same customer, similar subject); reply #merge ${id} to merge.`,
    );
    expect(first.notice.parsed.text).not.toContain('Possible duplicate');
    await replyTo(second.notice, OLGA, `#merge ${id}`);
    const [merged] = await results(second.incident.number, 1);
    expect(merged!.parsed.text).toContain(`done: #merge: merged into ${id}`);
    expect((await findIncident(second.incident.number))!.mergedInto).toBe(first.incident.number);

    const texts = (await timelineWithMerged(first.incident.number)).map((e) => e.text ?? '');
    expect(texts.join('\n')).toContain('The printer on floor 2 is jammed.');
    expect(texts.join('\n')).toContain('Still jammed, paper everywhere.');
    const shown = await cli(['incidents', 'show', id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('Still jammed, paper everywhere.');
    expect(shown.stdout).toContain(`(INC-${String(second.incident.number).padStart(6, '0')})`);
  });

  it('groups an outage by #parent; resolving the parent tells each reporter exactly once', async () => {
    const parent = await report('amy@one.example', 'Website down');
    const c1 = await report('bob@two.example', 'website is down');
    const c2 = await report('cat@three.example', 'Website down?');
    const c3 = await report('bob@two.example', 'Our website is down');
    // Three customers within the hour: the lead hears of a possible outage, once.
    const [suggestion] = await mailTo(
      'lena@example.test',
      (m) => m.parsed.headers.get('x-incidesk-kind') === 'possible-outage',
    );
    expect(suggestion!.parsed.text).toContain(
      `#parent INC-${String(parent.incident.number).padStart(6, '0')}`,
    );
    expect(await Outbox.countDocuments({ kind: 'possible-outage' })).toBe(1);
    const pid = `INC-${String(parent.incident.number).padStart(6, '0')}`;
    for (const c of [c1, c2, c3]) await replyTo(c.notice, OLGA, `#parent ${pid}`);
    for (const c of [c1, c2, c3]) {
      const [r] = await results(c.incident.number, 1);
      expect(r!.parsed.text).toContain(`done: #parent: grouped under ${pid}`);
    }
    const children = [c1, c2, c3].map((c) => c.incident.number).sort((a, b) => a - b);
    expect(
      [...((await findIncident(parent.incident.number))!.children ?? [])].sort((a, b) => a - b),
    ).toEqual(children);

    await replyTo(parent.notice, OLGA, '#resolve cause: bad deploy; fix: rolled back the release');
    const [done] = await results(parent.incident.number, 1);
    expect(done!.parsed.text).toContain(
      'done: #resolve: resolved with 3 grouped incident(s); 3 reporter(s) told',
    );
    for (const n of [parent.incident.number, ...children])
      expect((await findIncident(n))!.status).toBe('resolved');
    const resolvedMails = await Outbox.find({
      kind: 'resolved',
      incidentNumber: { $in: [parent.incident.number, ...children] },
    }).lean();
    expect(resolvedMails.map((m) => m.to).sort()).toEqual([
      'amy@one.example',
      'bob@two.example',
      'cat@three.example',
    ]);
    for (const who of ['amy@one.example', 'bob@two.example', 'cat@three.example'])
      await mailTo(who, subjectHas('Resolved:'));
    // Children keep their own timelines.
    expect((await timelineOf(c2.incident.number)).map((e) => e.event)).toEqual(
      expect.arrayContaining(['grouped-under', 'resolved']),
    );
    expect(mailsTo('bob@two.example', subjectHas('Resolved:'))).toHaveLength(1);
  });

  it('a resolution of a parent cut off after the parent itself is finished by its retry, once', async () => {
    const ctx = h.app.ctx;
    const actor = { by: 'olga', cause: 'cmd-retry-test-0' };
    const mk = async (who: string, k: number) =>
      (
        await openIncident({
          openedBy: `retry-${k}`,
          subject: 'API down',
          customer: { address: who },
          at: now,
        })
      ).incident.number;
    const p = await mk('ivy@a.example', 1);
    const c1 = await mk('jon@b.example', 2);
    const c2 = await mk('ivy@a.example', 3); // the same reporter as the parent's
    for (const c of [c1, c2]) {
      const r = await groupUnder(ctx, (await findIncident(c))!, p, actor);
      expect(r).toEqual({ ok: true, done: expect.any(String) });
    }
    // What the first run did before it died: the parent's own resolution, nothing else.
    await updateIncident(p, { status: 'resolved', resolvedAt: now });
    await appendTimeline(p, {
      _id: `resolved-${p}-${actor.cause}`,
      at: now,
      type: 'event',
      event: 'resolved',
    });
    const resolution = { cause: 'expired key', fix: 'rotated it' };
    const again = await resolveIncident(ctx, (await findIncident(p))!, resolution, actor);
    expect(again).toEqual({
      ok: true,
      done: 'resolved with 2 grouped incident(s); 2 reporter(s) told',
    });
    for (const n of [c1, c2]) expect((await findIncident(n))!.status).toBe('resolved');
    const sent = async () =>
      (await Outbox.find({ kind: 'resolved', incidentNumber: { $in: [p, c1, c2] } }).lean())
        .map((m) => `${m.incidentNumber} ${m.to}`)
        .sort();
    expect(await sent()).toEqual([`${c1} jon@b.example`, `${p} ivy@a.example`].sort());
    await resolveIncident(ctx, (await findIncident(p))!, resolution, actor);
    expect(await sent()).toHaveLength(2);
    // Another occasion is no retry: a resolved incident cannot be resolved again.
    const other = await resolveIncident(ctx, (await findIncident(p))!, resolution, {
      ...actor,
      cause: 'x',
    });
    expect(other.ok).toBe(false);
  });

  // Incidents made directly in the store, as an operator would find them.
  const make = async (who: string, subject: string) => {
    const raw = `cli-raw-${who}-${subject}`.replace(/[^a-z0-9-]/gi, '-');
    const at = new Date();
    const { incident } = await openIncident({
      openedBy: raw,
      subject,
      customer: { address: who },
      at,
    });
    await recordMessage(incident.number, {
      _id: `msg-${raw}`,
      at,
      type: 'message',
      direction: 'inbound',
      from: who,
      subject,
      text: `${subject}: details from ${who}`,
    });
    return incident.number;
  };
  const id = (n: number) => `INC-${String(n).padStart(6, '0')}`;
  let a = 0;

  it('by CLI: review lesson, action, show and overdue; --as is required', async () => {
    a = await make('eve@example.com', 'Mail delayed');

    expect((await cli(['review', 'lesson', id(a), 'queue monitoring was missing'])).code).toBe(64);
    const nobody = await cli(['review', 'lesson', id(a), 'x', '--as', 'mallory@example.org']);
    expect(nobody.code).toBe(64);
    expect(nobody.stderr).toContain('no such agent');
    const lesson = await cli([
      'review',
      'lesson',
      id(a),
      'queue monitoring was missing',
      '--as',
      OLGA,
    ]);
    expect(lesson.code).toBe(0);
    const action = await cli([
      'review',
      'action',
      id(a),
      'add queue length alert',
      '--owner',
      'lena',
      '--due',
      '2020-01-31',
      '--as',
      'olga',
    ]);
    expect(action.code).toBe(0);
    expect(action.stdout).toContain(`action item ${a}-1 for lena@example.test, due 2020-01-31`);
    const badDue = await cli([
      'review',
      'action',
      id(a),
      'x',
      '--owner',
      'lena',
      '--due',
      '2020-02-30',
      '--as',
      'olga',
    ]);
    expect(badDue.code).toBe(64);
    const shown = await cli(['review', 'show', id(a)]);
    expect(shown.stdout).toContain('queue monitoring was missing (olga)');
    expect(shown.stdout).toMatch(
      new RegExp(`${a}-1\\s+open\\s+due 2020-01-31\\s+lena@example.test\\s+add queue length alert`),
    );
    const overdue = await cli(['review', 'overdue', '--json']);
    expect(overdue.code).toBe(0);
    expect(JSON.parse(overdue.stdout)).toContainEqual(
      expect.objectContaining({ _id: `${a}-1`, owner: 'lena@example.test', incidentNumber: a }),
    );
    expect(JSON.parse(overdue.stdout).map((r: { _id: string }) => r._id)).not.toContain(`${p1}-1`);
    const timeline = await timelineOf(a);
    expect(timeline.find((e) => e.event === 'lesson')?.detail).toEqual({ by: 'olga' });
  });

  it('by CLI: incidents merge keeps every message, and finishes a cut-off merge', async () => {
    // Merge by CLI keeps the duplicate's messages visible under the target.
    const b = await make('eve@example.com', 'Mail delayed again');
    const merged = await cli(['incidents', 'merge', id(b), id(a), '--as', OLGA]);
    expect(merged.code).toBe(0);
    expect(merged.stdout).toContain(`merged into ${id(a)}`);
    expect(await findIncident(b)).toMatchObject({ status: 'closed', mergedInto: a });
    const again = await cli(['incidents', 'merge', id(b), id(a), '--as', OLGA]);
    expect(again.code).toBe(65);
    expect(again.stderr).toContain('refused');
    expect((await cli(['incidents', 'show', id(a)])).stdout).toContain(
      'Mail delayed again: details from eve@example.com',
    );

    // A P1 cannot escape its review by being merged into an incident that needs none.
    const p1 = await make('zed@example.com', 'Everything down');
    const p3 = await make('zed@example.com', 'Everything down?');
    await updateIncident(p1, { priority: 'P1' });
    await updateIncident(p3, { priority: 'P3' });
    const skip = await cli(['incidents', 'merge', id(p1), id(p3), '--as', OLGA]);
    expect(skip.code).toBe(65);
    expect(skip.stderr).toContain(`merge ${id(p3)} into ${id(p1)}`);
    expect((await findIncident(p1))!.status).not.toBe('closed');
    expect((await cli(['incidents', 'merge', id(p3), id(p1), '--as', OLGA])).code).toBe(0);

    // A merge cut off after closing the duplicate is finished by running it again.
    const c = await make('eve@example.com', 'Mail delayed once more');
    await updateIncident(c, { status: 'closed', mergedInto: a });
    const finished = await cli(['incidents', 'merge', id(c), id(a), '--as', OLGA]);
    expect(finished.code).toBe(0);
    expect((await cli(['incidents', 'show', id(a)])).stdout).toContain(
      'Mail delayed once more: details from eve@example.com',
    );
  });

  it('merging an outage parent hands its reports to the survivor, whose resolution tells them', async () => {
    const survivor = await make('ida@example.com', 'VPN down');
    const parent = await make('jay@example.com', 'VPN is down');
    const kid = await make('kim@example.com', 'vpn down again');
    expect((await cli(['incidents', 'group', id(parent), id(kid), '--as', OLGA])).code).toBe(0);
    const intoKid = await cli(['incidents', 'merge', id(parent), id(kid), '--as', OLGA]);
    expect(intoKid.code).toBe(65);
    expect(intoKid.stderr).toContain('is grouped under this incident');

    const merged = await cli(['incidents', 'merge', id(parent), id(survivor), '--as', OLGA]);
    expect(merged.code).toBe(0);
    expect(await findIncident(kid)).toMatchObject({ parent: survivor });
    expect((await findIncident(survivor))!.children).toEqual([kid]);
    expect((await findIncident(parent))!.children ?? []).toEqual([]);

    const ctx = h.app.ctx;
    const resolution = { cause: 'expired certificate', fix: 'renewed it' };
    const done = await resolveIncident(ctx, (await findIncident(survivor))!, resolution, {
      by: 'olga',
      cause: 'cmd-handover-test-0',
    });
    expect(done).toEqual({
      ok: true,
      done: 'resolved with 1 grouped incident(s); 2 reporter(s) told',
    });
    expect((await findIncident(kid))!.status).toBe('resolved');
    const told = await Outbox.find({ kind: 'resolved', incidentNumber: { $in: [survivor, kid] } })
      .lean()
      .then((rows) => rows.map((m) => m.to).sort());
    expect(told).toEqual(['ida@example.com', 'kim@example.com']);
  });

  it('by CLI: incidents group links reports under a parent, one level deep', async () => {
    // Grouping by CLI.
    const p = await make('fay@example.com', 'Login broken');
    const kids = [
      await make('gus@example.com', 'login broken'),
      await make('hal@example.com', 'Login broken!'),
    ];
    const grouped = await cli([
      'incidents',
      'group',
      id(p),
      id(kids[0]!),
      id(kids[1]!),
      '--as',
      OLGA,
    ]);
    expect(grouped.code).toBe(0);
    expect(grouped.stdout).toContain(`${id(kids[1]!)}: grouped under ${id(p)}`);
    expect((await findIncident(p))!.children).toEqual(kids);
    expect((await findIncident(kids[0]!))!.parent).toBe(p);
    const nested = await cli(['incidents', 'group', id(kids[0]!), id(a), '--as', OLGA]);
    expect(nested.code).toBe(65);
    expect(nested.stderr).toContain(`${id(kids[0]!)} is itself grouped under ${id(p)}`);
  });
});
