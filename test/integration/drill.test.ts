/**
 * Table-top drills on the real store and a real SMTP server, through the real command: the
 * shipped scenarios run against the example plan and print a timeline; a plan with deliberate
 * gaps gets them named; no mail goes out unless --mail-to is given, and then only to that one
 * mailbox, marked; real incidents, their timelines, the outbox and the counters are untouched;
 * each run is stored with its findings and audited.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { connectStore, db, disconnectStore } from '../../src/store/db.js';
import { AuditEntryModel, Counter, DrillRunModel, Incident } from '../../src/store/models.js';
import { AGENT_TOKEN, testEnv, type TestEnv } from '../support/harness.js';
import { runIncidesk } from '../support/process.js';
import { PROJECT_ROOT } from '../support/services.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const SCENARIOS = readdirSync(`${PROJECT_ROOT}/scenarios`)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const scenario = (name: string) => `${PROJECT_ROOT}/scenarios/${name}`;

/** Every document of the collections a drill must never write, as they are now. */
async function untouchable() {
  const dump = async (name: string) =>
    db()
      .collection(name)
      .find({}, { sort: { _id: 1 } })
      .toArray();
  return {
    incidents: await dump('incidents'),
    timeline: await dump('timeline'),
    outbox: await dump('outbox'),
    counters: await dump('counters'),
    playbookSteps: await dump('playbook_steps'),
    groupState: await dump('group_state'),
  };
}

describe('incidesk drill', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let before: Awaited<ReturnType<typeof untouchable>>;
  const dir = mkdtempSync(join(tmpdir(), 'incidesk-drill-'));

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp);
    await connectStore(t.config.mongoUri);
    // Real work in progress: dave (security) has an open incident, the counter is at 7.
    const now = new Date();
    await Incident.collection.insertOne({
      _id: 7,
      number: 7,
      openedBy: 'raw-7',
      subject: 'Suspicious login',
      customer: { address: 'c@bigbank.example' },
      participants: ['c@bigbank.example'],
      status: 'assigned',
      category: 'security',
      priority: 'P2',
      group: 'security',
      assignee: 'dave',
      createdAt: now,
      updatedAt: now,
    } as never);
    await Counter.collection.insertOne({ _id: 'incident', seq: 7 } as never);
    await db()
      .collection('timeline')
      .insertOne({ _id: 'opened-7', incidentNumber: 7, at: now, type: 'event' } as never);
    before = await untouchable();
  });
  afterAll(async () => {
    await disconnectStore();
    await smtp?.close();
  });

  it('ships three scenarios, and an agent may not run one (it takes a lead)', async () => {
    expect(SCENARIOS).toEqual([
      'database-outage.yaml',
      'leaked-credential.yaml',
      'ransomware-laptop.yaml',
    ]);
    const r = await runIncidesk(['drill', '--scenario', scenario(SCENARIOS[0]!)], {
      ...t.env,
      INCIDESK_TOKEN: AGENT_TOKEN,
    });
    expect(r.code).toBe(77);
    expect(r.stderr).toContain('it needs lead');
  });

  it('runs each shipped scenario against the example plan and prints its timeline, sending nothing', async () => {
    const plan = parseYaml(readFileSync(`${PROJECT_ROOT}/plan.example.yaml`, 'utf8')) as {
      communication?: { protocols?: { name: string; messages: { template: string }[] }[] };
    };
    // The protocols' templates this checkout lacks: the only gaps the example plan may show.
    const missing = (plan.communication?.protocols ?? []).flatMap((p) =>
      p.messages
        .filter((m) => !existsSync(`${PROJECT_ROOT}/templates/en/${m.template}.text.hbs`))
        .map(
          (m) => `  - [protocol-gap] protocol "${p.name}": template "${m.template}" does not exist`,
        ),
    );
    for (const file of SCENARIOS) {
      const r = await runIncidesk(['drill', '--scenario', scenario(file)], t.env);
      expect(r.stderr, file).toBe('');
      const out = r.stdout;
      expect(out, file).toMatch(/^drill drill-\d{8}T\d{6}Z-[0-9a-f]{6}: /);
      expect(out, file).toMatch(/^ {3}\+0m \d\d:\d\d {2}\S+ +opened /m);
      expect(out, file).toMatch(/ assigned {8}\w+ in [a-z-]+ \(/);
      expect(out, file).toMatch(/ resolved {8}by \w+/);
      expect(out, file).toContain('→ assignment to ');
      expect(out, file).toMatch(/^outcome:\n.* resolved at \+\d+m/m);
      // Dave (security) is busy with a real incident: security work goes to mia, who is also
      // the group's manager, so the chain's manager step has nobody left to tell.
      const staffed =
        file === 'ransomware-laptop.yaml'
          ? ['  - [told-nobody] laptop: escalation level 2 (manager) told nobody']
          : [];
      if (file !== 'database-outage.yaml')
        expect(out, file).toMatch(
          / assigned +mia in security \(least-loaded: least loaded \(0 open\)/,
        );
      const expected = [...missing, ...staffed];
      expect(r.code, file).toBe(expected.length ? 65 : 0);
      const findings = out.slice(out.indexOf('\nfindings')).trim().split('\n');
      if (expected.length) expect(findings.slice(1).sort(), file).toEqual(expected.sort());
      else expect(findings, file).toEqual(['findings: none']);
    }
    const outage = await runIncidesk(
      ['drill', '--scenario', scenario('database-outage.yaml'), '--json'],
      t.env,
    );
    const run = JSON.parse(outage.stdout) as {
      entries: {
        event: string;
        text: string;
        message?: { template: string; recipients: number };
      }[];
      incidents: { assignee: string; escalationLevel: number; breaches: string[] }[];
    };
    // Nobody in network answers: breach, lead → manager → transfer to the service desk.
    expect(run.incidents[0]).toMatchObject({ escalationLevel: 3, breaches: ['firstResponse'] });
    expect(run.entries.find((e) => e.event === 'opened')?.message).toMatchObject({
      template: 'acknowledgement',
      recipients: 40,
    });
    expect(
      run.entries.some(
        (e) => e.event === 'escalated' && /transfer from network to service-desk/.test(e.text),
      ),
    ).toBe(true);
    // The example plan's protocols: stakeholders briefed at opening, every reporter updated.
    expect(
      run.entries.filter((e) => e.event === 'protocol').map((e) => e.message?.template),
    ).toContain('stakeholder-briefing');
    expect(smtp.messages).toHaveLength(0);
  });

  it('names the gaps of a plan that has them', async () => {
    const plan = parseYaml(readFileSync(`${PROJECT_ROOT}/plan.example.yaml`, 'utf8')) as {
      groups: { id: string; lead?: string }[];
      agents: { id: string; away?: boolean }[];
      playbooks: { categories: Record<string, unknown> };
    };
    // No security playbook, no security lead, and the whole service desk away.
    delete plan.playbooks.categories.security;
    delete plan.groups.find((g) => g.id === 'security')!.lead;
    for (const a of plan.agents) if (['alice', 'erik'].includes(a.id)) a.away = true;
    plan.agents.find((a) => a.id === 'mia')!.away = true;
    const file = join(dir, 'gaps.yaml');
    writeFileSync(file, stringifyYaml(plan));
    const env = testEnv(smtp, { INCIDESK_PLAN: file, MONGODB_URI: t.env.MONGODB_URI! }).env;
    const r = await runIncidesk(['drill', '--scenario', scenario('ransomware-laptop.yaml')], env);
    expect(r.code).toBe(65);
    expect(r.stdout).toContain('[no-playbook] category security has no playbook (laptop)');
    expect(r.stdout).toContain(
      "[empty-role] group security's escalation step 1 tells the lead, and group security has no lead",
    );
    expect(r.stdout).toContain(
      '[nobody-available] nobody in group service-desk can take an incident now (every member away or at maxOpen)',
    );
    expect(r.stdout).toContain(
      "[escalation-to-empty-group] group network's escalation step 3 transfers to group service-desk, where nobody can take an incident now",
    );
    expect(smtp.messages).toHaveLength(0);
  });

  it('with --mail-to sends each would-be message, marked as a drill, to that one mailbox only', async () => {
    const r = await runIncidesk(
      [
        'drill',
        '--scenario',
        scenario('leaked-credential.yaml'),
        '--mail-to',
        'drill@example.test',
        '--json',
      ],
      t.env,
    );
    const run = JSON.parse(r.stdout) as { _id: string; entries: { message?: unknown }[] };
    const expected = run.entries.filter((e) => e.message).length;
    expect(expected).toBeGreaterThan(3);
    const mail = await smtp.waitFor(expected);
    expect(mail).toHaveLength(expected);
    for (const m of mail) {
      expect(m.envelopeTo).toEqual(['drill@example.test']);
      expect(m.parsed.to).toMatchObject({ value: [{ address: 'drill@example.test' }] });
      expect(m.parsed.cc).toBeUndefined();
      expect(m.parsed.subject).toMatch(/^\[DRILL\] Leaked credential: /);
      expect(m.header('x-incidesk-drill')).toBe('yes');
      expect(m.parsed.text).toMatch(/^THIS IS A DRILL\./);
    }
    expect(mail[0]!.parsed.text).toContain('Here incidesk would send "acknowledgement" to');
    expect(mail[0]!.parsed.text).toContain(`incidesk drill show ${run._id}`);
    const stored = await DrillRunModel.findById(run._id).lean();
    expect(stored).toMatchObject({ mailedTo: 'drill@example.test', mailed: expected });
  });

  it('stores every run with its findings, audited, lists and shows them, and touched nothing real', async () => {
    const runs = await DrillRunModel.find().sort({ ranAt: 1 }).lean();
    expect(runs).toHaveLength(6);
    expect(runs.map((r) => r.scenario)).toContain('Ransomware on a laptop');
    const gaps = runs.find((r): r is typeof r & { _id: string } =>
      (r.findings as { kind: string }[]).some((f) => f.kind === 'no-playbook'),
    );
    expect(gaps).toBeDefined();
    const audited = await AuditEntryModel.collection
      .find<{ detail: { run: string }; actor: unknown }>({ action: 'drill-run' })
      .toArray();
    expect(audited.map((a) => a.detail.run).sort()).toEqual(runs.map((r) => r._id).sort());
    expect(audited[0]!.actor).toEqual({ kind: 'operator', id: 'test-admin' });

    const list = await runIncidesk(['drill', 'list'], { ...t.env, INCIDESK_TOKEN: AGENT_TOKEN });
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(
      /^RUN +RAN +SCENARIO +PLAN +BY +FINDINGS +MAILED TO$/,
    );
    expect(list.stdout).toContain(gaps!._id);
    const show = await runIncidesk(['drill', 'show', gaps!._id], t.env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('[no-playbook] category security has no playbook (laptop)');
    const none = await runIncidesk(['drill', 'show', 'drill-nope'], t.env);
    expect(none.code).toBe(66);

    // Real incidents, timelines, outbox, counters, playbook steps, round-robin pointers.
    expect(await untouchable()).toEqual(before);
  });

  it('refuses a scenario with mistakes, naming each, before touching anything', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'name: bad\nincidents: [{ id: a, from: nobody, subject: x }]\nevents: [{ at: 5m, do: skip, step: 1 }]\n',
    );
    const r = await runIncidesk(['drill', '--scenario', file], t.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('incidents.0.from: must be an email address');
    expect(r.stderr).toContain('events.0: `do: skip` needs a `reason`');
    expect(await DrillRunModel.countDocuments()).toBe(6);
  });
});
