import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planGaps, runDrill, type DrillRun } from '../../src/domain/drill.js';
import { parsePlan } from '../../src/plan/load.js';
import { parseScenario, ScenarioError } from '../../src/plan/scenario.js';

const T0 = new Date('2026-12-08T09:00:00Z');
const idle = { open: {}, lastAssigned: {} };

/** A small plan, 24x7, with a security playbook and nothing else. */
const planText = (extra = '') => `
version: 1
organisation: Drill Co
groups:
  - { id: sec, name: Security, lead: lena, manager: max, assignment: least-loaded }
  - { id: desk, name: Desk, lead: dora, manager: max }
agents:
  - { id: lena, name: Lena, email: lena@x.test, groups: [sec] }
  - { id: sam, name: Sam, email: sam@x.test, groups: [sec], maxOpen: 2 }
  - { id: max, name: Max, email: max@x.test, groups: [sec, desk] }
  - { id: dora, name: Dora, email: dora@x.test, groups: [desk] }
classification:
  rules:
    - { name: sec, when: { text: 'ransomware|breach' }, set: { category: security, impact: high, urgency: high } }
routing:
  rules: [{ name: sec, when: { category: security }, group: sec }]
  default: desk
sla:
  P1: { firstResponse: 15m, resolution: 4h }
  P2: { firstResponse: 1h, resolution: 8h }
  P3: { firstResponse: 4h, resolution: 3d }
  P4: { firstResponse: 1d, resolution: 10d }
escalation: { chain: [lead, manager, { transfer: desk }], repeatAfter: 30m }
playbooks:
  remindEvery: 1h
  categories:
    security:
      - { phase: containment, title: Isolate, deadline: 30m, mandatory: true }
      - { phase: verification, title: Verify, owner: lead, mandatory: true }
${extra}`;

const scenario = (events: string, incident = "subject: 'ransomware on laptop'") =>
  parseScenario(`
name: test
duration: 6h
incidents:
  - id: a
    from: u@customer.test
    ${incident}
events:
${events}
`);

const events = (run: DrillRun, event: string) => run.entries.filter((e) => e.event === event);

describe('runDrill', () => {
  it('classifies, routes, assigns and lists the playbook at minute 0, with whom it tells', () => {
    const run = runDrill(parsePlan(planText()), scenario('  - { at: 1m, do: respond }'), idle, T0);
    const first = run.entries.filter((e) => e.minute === 0).map((e) => e.event);
    expect(first).toEqual(['opened', 'classified', 'routed', 'playbook', 'assigned']);
    expect(events(run, 'classified')[0]!.text).toContain('security, impact high, urgency high: P1');
    expect(events(run, 'assigned')[0]!.message).toEqual({
      template: 'assignment',
      to: ['lena@x.test'],
      recipients: 1,
    });
    expect(events(run, 'opened')[0]!.message?.template).toBe('acknowledgement');
    expect(run.findings).toEqual([]);
  });

  it('warns, breaches and escalates along the chain when nobody answers', () => {
    const run = runDrill(
      parsePlan(planText()),
      scenario('  - { at: 0m, do: done, step: 1 }'),
      idle,
      T0,
    );
    // First response: warned at 75 % of 15m, breached at 15m, then lead, manager, transfer.
    expect(events(run, 'sla-warning')[0]).toMatchObject({ minute: 12 });
    expect(events(run, 'sla-breached')[0]).toMatchObject({ minute: 15 });
    const esc = events(run, 'escalated');
    expect(esc.map((e) => e.minute)).toEqual([15, 45, 75]);
    // The lead is the assignee: the manager is told instead (escalationRecipient).
    expect(esc[0]!.message?.to).toEqual(['max@x.test']);
    expect(esc[2]!.text).toContain('transfer from sec to desk');
    // After the transfer the desk gets it by its strategy (round-robin: max, first in plan order).
    expect(events(run, 'assigned').at(-1)).toMatchObject({ minute: 75 });
    expect(events(run, 'assigned').at(-1)!.text).toMatch(/^max in desk/);
    expect(run.incidents[0]).toMatchObject({ group: 'desk', assignee: 'max', escalationLevel: 3 });
    expect(run.incidents[0]!.breaches).toContain('firstResponse');
  });

  it('chases an overdue step once per remindEvery, and the resolve gate holds until it is done', () => {
    const run = runDrill(
      parsePlan(planText()),
      scenario(
        [
          '  - { at: 5m, do: respond }',
          '  - { at: 100m, do: resolve }',
          '  - { at: 110m, do: done, step: 1 }',
          '  - { at: 110m, do: skip, step: 2, reason: nothing to verify }',
          '  - { at: 111m, do: resolve }',
        ].join('\n'),
      ),
      idle,
      T0,
    );
    expect(events(run, 'step-overdue').map((e) => e.minute)).toEqual([31]);
    expect(events(run, 'step-reminder').map((e) => e.minute)).toEqual([31, 90]);
    expect(events(run, 'resolve-refused')[0]!.text).toContain('open: 1 "Isolate", 2 "Verify"');
    expect(events(run, 'resolved')[0]).toMatchObject({ minute: 111 });
    expect(events(run, 'resolved')[0]!.message?.template).toBe('resolved');
    expect(run.minutes).toBe(111);
    expect(run.incidents[0]!.resolvedAtMinute).toBe(111);
  });

  it('retargets the clocks on a priority change, keeping the time used', () => {
    const run = runDrill(
      parsePlan(planText()),
      scenario(
        '  - { at: 10m, priority: P4 }\n  - { at: 20m, priority: P1 }',
        "subject: 'a question'",
      ),
      idle,
      T0,
    );
    expect(events(run, 'classified')[0]!.text).toContain(
      'general, impact medium, urgency medium: P3',
    );
    expect(events(run, 'reprioritised').map((e) => e.text)).toEqual([
      'P3 → P4: SLA targets follow',
      'P4 → P1: SLA targets follow',
    ]);
    // 20 minutes used against P1's 15m first response: it breaches at once.
    expect(events(run, 'sla-breached')[0]).toMatchObject({ minute: 20 });
  });

  it('nobody-answers takes a group out of assignment: the lead is asked, once, and a finding names it', () => {
    const run = runDrill(
      parsePlan(planText()),
      parseScenario(`
name: t
duration: 1h
incidents:
  - { id: a, from: u@c.test, subject: ransomware }
  - { id: b, at: 5m, from: v@c.test, subject: another ransomware }
events:
  - { at: 1m, do: nobody-answers }
`),
      idle,
      T0,
    );
    const un = events(run, 'unassigned');
    expect(un).toHaveLength(1);
    expect(un[0]).toMatchObject({ incident: 'b', minute: 5 });
    expect(un[0]!.message).toEqual({ template: 'unassigned', to: ['lena@x.test'], recipients: 1 });
    expect(run.findings).toContainEqual(
      expect.objectContaining({ kind: 'nobody-available', subject: 'group sec' }),
    );
  });

  it('counts every reporter of an outage and uses the staffing it is given', () => {
    const sc = parseScenario(`
name: t
duration: 30m
incidents:
  - { id: a, from: u@c.test, subject: ransomware everywhere, reporters: 40 }
events:
  - { at: 1m, do: respond }
`);
    // Sam has the fewest open incidents: least-loaded picks him.
    const run = runDrill(
      parsePlan(planText()),
      sc,
      { open: { lena: 3, sam: 1, max: 2 }, lastAssigned: {} },
      T0,
    );
    expect(events(run, 'opened')[0]!.message).toEqual({
      template: 'acknowledgement',
      to: ['u@c.test'],
      recipients: 40,
    });
    expect(events(run, 'outage')[0]!.message).toEqual({
      template: 'possible-outage',
      to: ['lena@x.test'],
      recipients: 1,
    });
    expect(run.incidents[0]!.assignee).toBe('sam');
  });

  it('names a category without a playbook', () => {
    const run = runDrill(
      parsePlan(planText()),
      scenario('  - { at: 1m, do: respond }', "subject: 'printer jam'"),
      idle,
      T0,
    );
    expect(events(run, 'playbook')[0]!.text).toBe(
      'none: the plan has no playbook for category general',
    );
    expect(run.findings).toEqual([
      {
        kind: 'no-playbook',
        subject: 'category general',
        text: 'category general has no playbook (a)',
      },
    ]);
  });
});

describe('runDrill: who is told what under the communication protocols', () => {
  const withProtocols = planText(`
communication:
  lists: { board: [board@x.test] }
  protocols:
    - name: major
      when: { priority: P1 }
      messages:
        - { to: [assignee, manager, { list: board }], audience: internal, template: brief, at: [opened, priority-changed, resolved], every: 1h }
    - name: customers
      when: { category: security }
      messages:
        - { to: [customers], audience: external, template: update, at: [resolved], approval: lead }
`);

  it('tells each recipient at opening, every interval, a priority change and resolution, once each', () => {
    const sc = parseScenario(`
name: t
duration: 4h
incidents:
  - { id: a, from: u@c.test, subject: ransomware, reporters: 3 }
events:
  - { at: 1m, do: respond }
  - { at: 1m, do: done, step: 1 }
  - { at: 1m, do: done, step: 2 }
  - { at: 90m, priority: P2 }
  - { at: 100m, priority: P1 }
  - { at: 150m, do: resolve }
`);
    const run = runDrill(parsePlan(withProtocols), sc, idle, T0, new Set(['brief', 'update']));
    const told = events(run, 'protocol').map((e) => [
      e.minute,
      e.text,
      e.message?.to,
      e.message?.recipients,
    ]);
    expect(told).toEqual([
      [0, 'major: brief (internal, opened)', ['lena@x.test', 'max@x.test', 'board@x.test'], 3],
      [60, 'major: brief (internal, update #1)', ['lena@x.test', 'max@x.test', 'board@x.test'], 3],
      // Lowered from P1: those told of the P1 hear of it (the old priority matched).
      [
        90,
        'major: brief (internal, priority-changed)',
        ['lena@x.test', 'max@x.test', 'board@x.test'],
        3,
      ],
      [
        100,
        'major: brief (internal, priority-changed)',
        ['lena@x.test', 'max@x.test', 'board@x.test'],
        3,
      ],
      [120, 'major: brief (internal, update #2)', ['lena@x.test', 'max@x.test', 'board@x.test'], 3],
      [150, 'major: brief (internal, resolved)', ['lena@x.test', 'max@x.test', 'board@x.test'], 3],
      // Every reporter once, held for the lead.
      [
        150,
        'customers: update (external, resolved), held until the lead approves it',
        ['u@c.test'],
        3,
      ],
    ]);
    expect(run.findings).toEqual([]);
  });

  it('names a protocol template that does not exist and a role nobody held', () => {
    const sc = parseScenario(`
name: t
duration: 30m
incidents:
  - { id: a, from: u@c.test, subject: ransomware }
  - { id: b, at: 1m, from: v@c.test, subject: more ransomware }
events:
  - { at: 0m, do: nobody-answers }
`);
    const run = runDrill(parsePlan(withProtocols), sc, idle, T0, new Set(['brief']));
    expect(events(run, 'protocol').find((e) => e.incident === 'b')?.text).toBe(
      'major: brief (internal, opened); nobody is the assignee',
    );
    expect(run.findings.filter((f) => f.kind !== 'nobody-available')).toEqual([
      {
        kind: 'protocol-gap',
        subject: 'protocol "customers": template "update" does not exist',
        text: 'protocol "customers": template "update" does not exist',
      },
      {
        kind: 'told-nobody',
        subject: 'protocol major assignee',
        text: 'b: protocol major tells the assignee, and nobody was the assignee',
      },
    ]);
  });
});

describe('planGaps', () => {
  it('is empty for a plan whose roles are filled and whose groups can take work', () => {
    expect(planGaps(parsePlan(planText()), idle)).toEqual([]);
  });

  it('names an empty role, a group with nobody available and a chain ending in it', () => {
    const plan = parsePlan(
      planText().replace(
        '{ id: desk, name: Desk, lead: dora, manager: max }',
        '{ id: desk, name: Desk }',
      ),
    );
    const gaps = planGaps(plan, idle);
    expect(gaps.map((g) => g.text)).toEqual([
      'group desk has neither lead nor manager: when nobody can take an incident, nobody is told',
      "group desk's escalation step 1 tells the lead, and group desk has no lead",
      "group desk's escalation step 2 tells the manager, and group desk has no manager",
    ]);
    // Everyone in desk away or at capacity: the sec chain's transfer lands nowhere.
    const away = parsePlan(
      planText().replace(
        '{ id: dora, name: Dora, email: dora@x.test, groups: [desk] }',
        '{ id: dora, name: Dora, email: dora@x.test, groups: [desk], away: true }',
      ),
    );
    const busy = planGaps(away, { open: { max: 0 }, lastAssigned: {} });
    expect(busy).toEqual([]); // max (in desk too) is still available
    const full = parsePlan(
      planText()
        .replace('groups: [desk] }', 'groups: [desk], away: true }')
        .replace('groups: [sec, desk] }', 'groups: [sec, desk], maxOpen: 1 }'),
    );
    expect(planGaps(full, { open: { max: 1 }, lastAssigned: {} })).toEqual([
      {
        kind: 'escalation-to-empty-group',
        subject: 'group sec',
        text: "group sec's escalation step 3 transfers to group desk, where nobody can take an incident now",
      },
      {
        kind: 'nobody-available',
        subject: 'group desk',
        text: 'nobody in group desk can take an incident now (every member away or at maxOpen)',
      },
      {
        kind: 'escalation-to-empty-group',
        subject: 'group desk',
        text: "group desk's escalation step 3 transfers to group desk, where nobody can take an incident now",
      },
    ]);
  });
});

describe('parseScenario', () => {
  it('reports every problem with its place', () => {
    expect(() =>
      parseScenario('name: t\nincidents: [{ id: a, from: nobody, subject: x }]\n', 'f.yaml'),
    ).toThrow('invalid drill scenario f.yaml:\n  - incidents.0.from: must be an email address');
    try {
      parseScenario(`
name: t
duration: 1h
incidents: [{ id: a, at: 10m, from: u@x.test, subject: x }]
events:
  - { at: 5m, do: resolve }
  - { at: 20m, do: skip, step: 1 }
  - { at: 20m, do: resolve, priority: P1 }
  - { at: 2h, incident: zz, do: respond }
`);
      expect.unreachable();
    } catch (err) {
      expect((err as ScenarioError).problems).toEqual([
        'events.1: `do: skip` needs a `reason`',
        'events.2: give exactly one of `do` or `priority`',
        'events.0.at: before incident "a" arrives (at 10m)',
        'events.3.incident: no incident "zz" in the scenario',
        'events.3.at: after the drill ends (duration 60m)',
      ]);
    }
  });

  it('reads every shipped scenario, and each runs to its end against the example plan', () => {
    const plan = parsePlan(readFileSync('plan.example.yaml', 'utf8'), 'plan.example.yaml');
    const files = readdirSync('scenarios').filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual([
      'database-outage.yaml',
      'leaked-credential.yaml',
      'ransomware-laptop.yaml',
    ]);
    for (const f of files) {
      const sc = parseScenario(readFileSync(`scenarios/${f}`, 'utf8'), f);
      const run = runDrill(plan, sc, idle, new Date(sc.start!));
      expect(run.findings, f).toEqual([]);
      expect(
        run.incidents.every((i) => i.resolvedAtMinute !== null),
        f,
      ).toBe(true);
    }
  });
});
