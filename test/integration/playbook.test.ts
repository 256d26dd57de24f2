/**
 * Playbooks end to end on real servers: a security incident gets its category's playbook in
 * the assignment mail, overdue steps are chased under a fake clock, steps are ticked off by
 * email (#done, #skip) and with the CLI (a child process on the same database), and the
 * resolve gate holds a P1 until every mandatory step is done or skipped with a reason.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { AuditEntryModel, Incident, Outbox, PlaybookStep } from '../../src/store/models.js';
import { deliver, operatorPlanFile, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';
import { mailExchange } from '../support/mail-exchange.js';
import { runIncidesk } from '../support/process.js';
import { type CapturedMail } from '../support/smtp-capture.js';

const PLAN = `
groups:
  - { id: security, name: Security, lead: lena, assignment: round-robin }
agents:
  - { id: olga, name: Olga, email: olga@example.test, groups: [security] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [security], away: true }
classification:
  rules:
    - { name: breach, when: { text: 'compromised|phishing' }, set: { category: security, impact: high, urgency: high } }
routing: { default: security }
playbooks:
  requiredFor: [P1, P2]
  remindEvery: 1h
  categories:
    security:
      - { phase: containment, title: Isolate the affected laptop, deadline: 30m, mandatory: true }
      - { phase: eradication, title: Reset the user's credentials, owner: lead, deadline: 1h, mandatory: true }
      - { phase: recovery, title: Reimage the laptop }
      - { phase: verification, title: Check sign-ins for 7 days, mandatory: true }
`;

const OLGA = 'olga@example.test';
const LENA = 'lena@example.test';
const MIN = 60_000;

describe('playbooks', () => {
  let now = new Date('2026-11-23T10:00:00Z');
  const h = useTestApp({ plan: PLAN, env: { INCIDESK_SLA_SWEEP_SECONDS: '3600' }, now: () => now });

  const { mailsTo, mailTo, replyTo, sweep } = mailExchange(h);
  const kindIs = (kind: string) => (m: CapturedMail) => m.header('x-incidesk-kind') === kind;
  /** The reminder about the step with this title (all staff mail shares the incident's subject). */
  const reminderFor = (title: string) => (m: CapturedMail) =>
    kindIs('playbook-reminder')(m) && m.parsed.text?.includes(title) === true;
  /** The result mail of Olga's n-th command reply on the incident. */
  const results = (id: string, count: number) =>
    mailTo(
      OLGA,
      (m) => m.header('x-incidesk-incident') === id && kindIs('command-result')(m),
      count,
    );
  const planFile = join(tmpdir(), `incidesk-playbook-plan-${process.pid}.yaml`);
  writeFileSync(
    planFile,
    `version: 1\norganisation: Example Corp\nacknowledgements: { perSenderPerHour: 5 }\n${PLAN}`,
  );
  const cliPlan = operatorPlanFile(planFile);
  const cli = (args: string[]) => runIncidesk(args, { ...h.t.env, INCIDESK_PLAN: cliPlan });

  let number = 0;
  let id = '';
  let notice: CapturedMail;

  it('a security incident gets its playbook, in the assignment mail and on the timeline', async () => {
    const triagedAt = now;
    await deliver(h.t.mailboxUser, {
      from: 'sam@customer.example',
      to: SUPPORT,
      subject: 'My laptop is compromised',
      text: 'I clicked a phishing link and now the mouse moves by itself.',
    });
    const incident = await waitUntil('incident assigned', async () =>
      Incident.findOne({ subject: 'My laptop is compromised', status: 'assigned' }).lean(),
    );
    number = incident.number;
    id = `INC-${String(number).padStart(6, '0')}`;
    expect([incident.category, incident.priority, incident.assignee]).toEqual([
      'security',
      'P1',
      'olga',
    ]);
    [notice] = (await mailTo(OLGA, kindIs('assignment'))) as [CapturedMail];
    const text = notice.parsed.text!;
    expect(text).toContain(
      'Playbook for security (tick steps off with #done <n> or #skip <n> <reason>):',
    );
    expect(text).toContain(
      '  1. [containment] Isolate the affected laptop\n       owner assignee, due Mon, 23 Nov 2026, 10:30 UTC, mandatory',
    );
    expect(text).toContain(
      "  2. [eradication] Reset the user's credentials\n       owner lead, due Mon, 23 Nov 2026, 11:00 UTC, mandatory",
    );
    expect(text).toContain('  3. [recovery] Reimage the laptop\n       owner assignee\n');
    expect(text).toContain('#done <step>           #skip <step> <reason>');

    const steps = await PlaybookStep.find({ incidentNumber: number }).sort({ step: 1 }).lean();
    expect(steps.map((s) => [s._id, s.state, s.mandatory, s.dueAt?.getTime() ?? null])).toEqual([
      [`${number}-1`, 'open', true, triagedAt.getTime() + 30 * MIN],
      [`${number}-2`, 'open', true, triagedAt.getTime() + 60 * MIN],
      [`${number}-3`, 'open', false, null],
      [`${number}-4`, 'open', true, null],
    ]);
    const attached = (await timelineOf(number)).find((e) => e.event === 'playbook-attached');
    expect(attached?.detail).toMatchObject({ category: 'security', steps: 4, mandatory: 3 });
  });

  it('chases the owner of each overdue step once per period, even across repeated sweeps', async () => {
    const step1 = reminderFor('1. [containment] Isolate the affected laptop');
    const step2 = reminderFor("2. [eradication] Reset the user's credentials");
    now = new Date('2026-11-23T10:20:00Z');
    await sweep(); // nothing overdue yet
    now = new Date('2026-11-23T10:31:00Z');
    await sweep();
    await sweep();
    const [first] = await mailTo(OLGA, step1);
    expect(first!.parsed.text).toContain('#done 1');
    expect(first!.parsed.text).toContain(
      'Mandatory: the incident cannot be resolved while this step is open',
    );
    now = new Date('2026-11-23T11:05:00Z'); // step 2 overdue; step 1 still within its hour
    await sweep();
    await mailTo(LENA, step2); // owner: lead
    now = new Date('2026-11-23T11:32:00Z'); // step 1 an hour and a minute overdue
    await sweep();
    await sweep();
    await mailTo(OLGA, step1, 2);
    expect(mailsTo(OLGA, step1)).toHaveLength(2);
    expect(mailsTo(LENA, step2)).toHaveLength(1);
    expect(await Outbox.countDocuments({ kind: 'playbook-reminder' })).toBe(3);
  });

  it('the resolve gate holds while mandatory steps are open, and steps are ticked by email', async () => {
    await replyTo(notice, OLGA, '#resolve cause: phishing; fix: reimaged the laptop');
    const [first] = await results(id, 1);
    expect(first!.parsed.text).toContain(
      'refused: #resolve: cannot resolve before the playbook is done: P1 needs every mandatory playbook step done or skipped with a reason; open: 1 "Isolate the affected laptop", 2 "Reset the user\'s credentials", 4 "Check sign-ins for 7 days"',
    );
    expect((await findIncident(number))!.status).not.toBe('resolved');

    await replyTo(
      notice,
      OLGA,
      '#done 1\n#skip 2\n#skip 4 reason: sign-ins are checked by the customer\n#done 9\n#resolve cause: phishing; fix: reimaged the laptop',
    );
    const [, second] = await results(id, 2);
    const text = second!.parsed.text!;
    expect(text).toContain('done: #done: step 1 "Isolate the affected laptop" done');
    expect(text).toMatch(/#skip 2.*use "#skip <step number> <why it does not apply>"/);
    expect(text).toContain('done: #skip: step 4 "Check sign-ins for 7 days" skipped');
    expect(text).toContain('refused: #done: the playbook has steps 1 to 4, no step 9');
    expect(text).toContain(
      'refused: #resolve: cannot resolve before the playbook is done: P1 needs every mandatory playbook step done or skipped with a reason; open: 2 "Reset the user\'s credentials"',
    );
    expect((await findIncident(number))!.status).not.toBe('resolved');
  });

  it('the CLI shows and ticks steps; with no mandatory step open the incident resolves', async () => {
    const shown = await cli(['playbook', 'show', id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('1. done    [containment] Isolate the affected laptop');
    expect(shown.stdout).toContain('by olga');
    expect(shown.stdout).toContain('because: sign-ins are checked by the customer');
    expect(shown.stdout).toContain('cannot resolve yet');

    const noReason = await cli(['playbook', 'skip', id, '2', '--as', OLGA]);
    expect(noReason.code).not.toBe(0);
    expect(noReason.stderr).toMatch(/--reason/);
    const done = await cli(['playbook', 'done', id, '2', '--as', 'lena']);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`done: step 2 "Reset the user's credentials" done`);
    const again = await cli(['playbook', 'done', id, '2', '--as', 'lena']);
    expect(again.stdout).toContain('step 2 was already done');

    now = new Date('2026-11-23T12:40:00Z');
    await sweep(); // step 2 is closed: nobody is chased about it any more
    expect(
      mailsTo(LENA, reminderFor("2. [eradication] Reset the user's credentials")),
    ).toHaveLength(1);

    await replyTo(notice, OLGA, '#resolve cause: phishing; fix: reimaged the laptop');
    const [, , third] = await results(id, 3);
    expect(third!.parsed.text).toContain('done: #resolve');
    expect((await findIncident(number))!.status).toBe('resolved');

    // Every step on the timeline, and in the audit chain with who did it.
    const events = (await timelineOf(number))
      .filter((e) => e.event?.startsWith('playbook-step-'))
      .map((e) => [
        e.event,
        (e.detail as { step: number; by: string }).step,
        (e.detail as { by: string }).by,
      ]);
    expect(events).toEqual([
      ['playbook-step-done', 1, 'olga'],
      ['playbook-step-skipped', 4, 'olga'],
      ['playbook-step-done', 2, 'lena'],
    ]);
    const audited = await AuditEntryModel.collection
      .find({ action: 'playbook-step', 'subject.id': String(number) })
      .sort({ _id: 1 })
      .toArray();
    expect(audited.map((a) => [a.changes[0].field, a.changes[0].after, a.actor.id])).toEqual([
      ['playbook.1', 'done', OLGA],
      ['playbook.4', 'skipped', OLGA],
      ['playbook.2', 'done', expect.any(String)],
    ]);
  });
});
