import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  mayApprove,
  messageKey,
  nextIntervalAt,
  parseApprovalRef,
  protocolGaps,
  protocolMatches,
  protocolMessagesDue,
  recipientAddresses,
  recipientFromKey,
  recipientKey,
  owesMessagesAt,
  rescheduledCheckAt,
  type ProtocolIncident,
} from '../../src/domain/protocols.js';
import { parsePlan } from '../../src/plan/load.js';

const plan = parsePlan(`
version: 1
organisation: X
locale: en
agents:
  - { id: lee, name: Lee, email: lee@x.test, groups: [noc] }
  - { id: max, name: Max, email: max@x.test, groups: [noc] }
  - { id: ann, name: Ann, email: ann@x.test, groups: [desk] }
groups:
  - { id: noc, name: NOC, lead: lee, manager: max }
  - { id: desk, name: Desk }
routing: { default: noc }
communication:
  lists:
    board: [ceo@x.test, cfo@x.test]
  protocols:
    - name: major
      when: { priority: P1 }
      messages:
        - to: [lead, manager, { list: board }, { address: PR@x.test }]
          audience: internal
          template: stakeholder-briefing
          at: [opened, priority-changed, resolved]
          every: 30m
    - name: outage-customers
      when: { priority: [P1, P2], category: outage }
      messages:
        - to: [customers]
          audience: external
          template: stakeholder-update
          at: [opened, resolved]
          every: 1h
          approval: lead
`);
const OPENED = new Date('2026-12-07T10:00:00Z');
const MIN = 60_000;
const outage = (over: Partial<ProtocolIncident> = {}): ProtocolIncident => ({
  number: 12,
  priority: 'P1',
  category: 'outage',
  status: 'assigned',
  openedAt: OPENED,
  reporters: [
    { number: 12, address: 'a@cust.test', locale: 'en' },
    { number: 13, address: 'b@kunde.test', locale: 'de' },
    { number: 14, address: 'A@cust.test', locale: 'en' },
  ],
  locale: 'en',
  ...over,
});
const due = (i: ProtocolIncident, m: Parameters<typeof protocolMessagesDue>[2]) =>
  protocolMessagesDue(plan.communication, i, m, plan.locale);

describe('protocolMessagesDue', () => {
  it('at opening: every recipient of every matching protocol once, reporters one by one', () => {
    const out = due(outage(), { kind: 'opened' });
    expect(out.map((m) => m.key)).toEqual([
      'INC-000012/major/stakeholder-briefing/opened#0/role:lead',
      'INC-000012/major/stakeholder-briefing/opened#0/role:manager',
      'INC-000012/major/stakeholder-briefing/opened#0/list:board',
      'INC-000012/major/stakeholder-briefing/opened#0/address:pr@x.test',
      'INC-000012/outage-customers/stakeholder-update/opened#0/customer:a@cust.test',
      'INC-000012/outage-customers/stakeholder-update/opened#0/customer:b@kunde.test',
    ]);
    const customer = out.find((m) => m.key.endsWith('b@kunde.test'))!;
    expect(customer).toMatchObject({
      audience: 'external',
      approval: 'lead',
      locale: 'de',
      recipient: { kind: 'customer', address: 'b@kunde.test', incident: 13 },
    });
    expect(out[0]).toMatchObject({ audience: 'internal', approval: null, locale: 'en' });
  });

  it('is the same list with the same keys however often the moment is replayed', () => {
    expect(due(outage(), { kind: 'opened' })).toEqual(due(outage(), { kind: 'opened' }));
  });

  it('ticks: the n-th whole period since opening, while open; nothing before the first', () => {
    expect(due(outage(), { kind: 'interval', at: new Date(OPENED.getTime() + 29 * MIN) })).toEqual(
      [],
    );
    const at45 = due(outage(), { kind: 'interval', at: new Date(OPENED.getTime() + 45 * MIN) });
    expect(at45.map((m) => `${m.protocol} ${m.moment}#${m.occurrence}`)).toEqual(
      Array(4).fill('major interval#1'),
    );
    const at2h = due(outage(), { kind: 'interval', at: new Date(OPENED.getTime() + 125 * MIN) });
    expect(new Set(at2h.map((m) => `${m.protocol}#${m.occurrence}`))).toEqual(
      new Set(['major#4', 'outage-customers#2']),
    );
    expect(
      due(outage({ status: 'resolved' }), {
        kind: 'interval',
        at: new Date(OPENED.getTime() + 125 * MIN),
      }),
    ).toEqual([]);
  });

  it('a priority change reaches the protocols of the old priority and of the new', () => {
    const lowered = due(outage({ priority: 'P3' }), {
      kind: 'priority-changed',
      from: 'P1',
      occurrence: 2,
    });
    expect(lowered.map((m) => m.key)).toContain(
      'INC-000012/major/stakeholder-briefing/priority-changed#2/role:lead',
    );
    // The customer message is not sent at priority changes.
    expect(lowered.every((m) => m.protocol === 'major')).toBe(true);
    const raised = due(outage({ priority: 'P1', category: 'network' }), {
      kind: 'priority-changed',
      from: 'P3',
      occurrence: 1,
    });
    expect(raised).toHaveLength(4);
  });

  it('resolution: occurrence 1 unless the caller counts a later one', () => {
    expect(due(outage({ status: 'resolved' }), { kind: 'resolved' })[0]!.occurrence).toBe(1);
    expect(
      due(outage({ status: 'resolved' }), { kind: 'resolved', occurrence: 2 })[0]!.key,
    ).toContain('resolved#2');
  });

  it('sends nothing for an incident no protocol covers, or a report grouped under an outage', () => {
    expect(due(outage({ priority: 'P3', category: 'billing' }), { kind: 'opened' })).toEqual([]);
    expect(due(outage({ parent: 11 }), { kind: 'opened' })).toEqual([]);
  });

  it('customers without a locale of their own get the incident’s, then the plan’s', () => {
    const out = due(outage({ locale: 'de', reporters: [{ number: 12, address: 'x@y.test' }] }), {
      kind: 'opened',
    }).filter((m) => m.audience === 'external');
    expect(out.map((m) => m.locale)).toEqual(['de']);
  });
});

describe('protocolMatches', () => {
  it('a missing key matches anything; a listed key needs a value in the list', () => {
    expect(protocolMatches({ when: {} }, null, null)).toBe(true);
    expect(protocolMatches({ when: { priority: ['P1'] } }, null, 'x')).toBe(false);
    expect(protocolMatches({ when: { priority: ['P1'], category: ['a'] } }, 'P1', 'b')).toBe(false);
  });
});

describe('messageKey', () => {
  it('does not depend on the case of an address', () => {
    const base = {
      incident: 1,
      protocol: 'p',
      template: 't',
      moment: 'opened' as const,
      occurrence: 0,
    };
    expect(messageKey({ ...base, recipient: { kind: 'address', address: 'A@B.test' } })).toBe(
      messageKey({ ...base, recipient: { kind: 'address', address: 'a@b.test' } }),
    );
  });
});

describe('recipientAddresses', () => {
  const incident = { group: 'noc', assignee: 'ann' };
  it('resolves roles in the incident’s group, lists, addresses and customers', () => {
    expect(recipientAddresses({ kind: 'role', role: 'lead' }, incident, plan)).toEqual([
      'lee@x.test',
    ]);
    expect(recipientAddresses({ kind: 'role', role: 'assignee' }, incident, plan)).toEqual([
      'ann@x.test',
    ]);
    expect(recipientAddresses({ kind: 'list', list: 'board' }, incident, plan)).toEqual([
      'ceo@x.test',
      'cfo@x.test',
    ]);
    expect(
      recipientAddresses({ kind: 'customer', address: 'c@d.test', incident: 3 }, incident, plan),
    ).toEqual(['c@d.test']);
  });
  it('is nobody for an empty role', () => {
    expect(recipientAddresses({ kind: 'role', role: 'lead' }, { group: 'desk' }, plan)).toEqual([]);
    expect(recipientAddresses({ kind: 'role', role: 'assignee' }, { group: 'noc' }, plan)).toEqual(
      [],
    );
  });
});

describe('protocolGaps', () => {
  it('names missing templates and groups with nobody in a role the protocols tell or ask', () => {
    expect(protocolGaps(plan, new Set(['stakeholder-briefing']))).toEqual([
      'protocol "major": group "desk" has no lead to tell',
      'protocol "major": group "desk" has no manager to tell',
      'protocol "outage-customers": template "stakeholder-update" does not exist',
      'protocol "outage-customers": group "desk" has no lead or manager to approve',
    ]);
  });
});

describe('plan validation of protocols', () => {
  const bad = (yaml: string) => {
    try {
      parsePlan(`version: 1\norganisation: X\n${yaml}`);
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
    return [];
  };
  it('rejects an unknown list, internal mail to customers, a message with no moment', () => {
    const problems = bad(`communication:
  protocols:
    - name: p
      messages:
        - { to: [{ list: nope }], audience: internal, template: t, at: [opened] }
        - { to: [customers], audience: internal, template: t, at: [opened] }
        - { to: [lead], audience: internal, template: t }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'communication.protocols.0.messages.0.to.0: unknown list "nope"',
        'communication.protocols.0.messages.1.to.0: customers receive only external messages (audience: external)',
        'communication.protocols.0.messages.2: give `at` moments, `every`, or both',
      ]),
    );
  });
  it('the shipped example plan has protocols', () => {
    const text = readFileSync(new URL('../../plan.example.yaml', import.meta.url), 'utf8');
    expect(parsePlan(text).communication.protocols.map((p) => p.name)).toEqual([
      'major-incident',
      'customer-outage',
    ]);
  });
});

describe('mayApprove', () => {
  it('a lead-approved message needs a lead or above; a manager-approved one a manager', () => {
    expect(mayApprove('agent', 'lead')).toBe(false);
    expect(mayApprove('lead', 'lead')).toBe(true);
    expect(mayApprove('lead', 'manager')).toBe(false);
    expect(mayApprove('manager', 'manager')).toBe(true);
    expect(mayApprove('administrator', 'manager')).toBe(true);
    expect(mayApprove(null, 'lead')).toBe(false);
  });
});

describe('recipientFromKey, parseApprovalRef', () => {
  it('reads back every kind of recipient key, and nothing else', () => {
    for (const r of [
      { kind: 'role', role: 'manager' },
      { kind: 'address', address: 'pr@x.test' },
      { kind: 'list', list: 'board' },
      { kind: 'customer', address: 'a@b.test', incident: 7 },
    ] as const)
      expect(recipientFromKey(recipientKey(r), 7)).toEqual(r);
    expect(recipientFromKey('role:janitor', 1)).toBeNull();
    expect(recipientFromKey('nonsense', 1)).toBeNull();
  });
  it('takes six hex digits, with or without #', () => {
    expect(parseApprovalRef('#3FA9C1')).toBe('3fa9c1');
    expect(parseApprovalRef('3fa9c')).toBeNull();
  });
});

describe('nextIntervalAt, rescheduledCheckAt, owesMessagesAt', () => {
  const at = (min: number) => new Date(OPENED.getTime() + min * MIN);
  const next = (i: Partial<ProtocolIncident>, afterMin: number) =>
    nextIntervalAt(plan.communication, { ...outage(), ...i }, at(afterMin));

  it('is the first boundary of any covering period strictly after the time, counted from the opening', () => {
    expect(next({}, 0)).toEqual(at(30)); // P1 outage: every 30m (major) and 1h (customers)
    expect(next({}, 29.9)).toEqual(at(30));
    expect(next({}, 30)).toEqual(at(60)); // the boundary itself is the period now due
    expect(next({}, 61)).toEqual(at(90));
    expect(next({ priority: 'P2' }, 0)).toEqual(at(60)); // customers only: every 1h
    expect(next({ priority: 'P2' }, 60)).toEqual(at(120));
    // Long after the opening, and before it (a clock ahead of the triage time).
    expect(next({}, 24 * 60 + 5)).toEqual(at(24 * 60 + 30));
    expect(next({}, -10)).toEqual(at(30));
  });
  it('is null when no interval message can fall due', () => {
    expect(next({ priority: 'P3' }, 0)).toBeNull();
    expect(next({ priority: 'P2', category: 'question' }, 0)).toBeNull();
    expect(next({ status: 'resolved' }, 0)).toBeNull();
    expect(next({ status: 'closed' }, 0)).toBeNull();
    expect(next({ parent: 9 }, 0)).toBeNull(); // a grouped report: its parent speaks
  });
  it('agrees with the occurrence protocolMessagesDue gives at that time', () => {
    const boundary = next({}, 61)!;
    const keys = (t: Date) =>
      due(outage(), { kind: 'interval', at: t }).map((m) => m.key.split('/')[3]);
    expect(keys(new Date(boundary.getTime() - 1))).toContain('interval#2');
    expect(keys(boundary)).toContain('interval#3');
  });
  it('keeps a check already due, or earlier, and drops it when nothing can fall due', () => {
    const soon = at(0.5); // the change's time plus the replay grace
    expect(rescheduledCheckAt(at(30), at(60), soon)).toEqual(at(30)); // not swept yet: stays due
    expect(rescheduledCheckAt(at(120), at(60), soon)).toEqual(at(60)); // raised: sooner
    expect(rescheduledCheckAt(null, at(60), soon)).toEqual(at(60)); // newly covered
    expect(rescheduledCheckAt(undefined, at(60), soon)).toEqual(at(60));
    expect(rescheduledCheckAt(at(30), null, soon)).toBeNull(); // resolved, or lowered out of it
    expect(rescheduledCheckAt(null, null, soon)).toBeNull();
  });
  it('looks after a moment by the grace, and keeps a replay still pending', () => {
    const soon = at(0.5);
    // A moment that owes messages: no later than its grace, however far the next period.
    expect(rescheduledCheckAt(null, at(60), soon, soon)).toEqual(soon);
    expect(rescheduledCheckAt(null, null, soon, soon)).toEqual(soon); // resolved: no periods
    expect(rescheduledCheckAt(at(0.2), at(60), soon, soon)).toEqual(at(0.2)); // earlier stays
    // The opening's replay (due within the grace) survives a change that ends all periods;
    // a period's look far ahead does not.
    expect(rescheduledCheckAt(at(0.3), null, soon)).toEqual(at(0.3));
    expect(rescheduledCheckAt(soon, null, soon)).toEqual(soon);
    expect(rescheduledCheckAt(at(30), null, soon)).toBeNull();
  });
  it('owes messages at a moment a covering protocol names, never for a grouped report', () => {
    const c = plan.communication;
    expect(owesMessagesAt(c, { priority: 'P1', category: 'outage' }, 'opened')).toBe(true);
    expect(owesMessagesAt(c, { priority: 'P2', category: 'outage' }, 'resolved')).toBe(true);
    // P2 outage: only the customers' protocol covers it, and it says nothing at a priority change.
    expect(owesMessagesAt(c, { priority: 'P2', category: 'outage' }, 'priority-changed')).toBe(
      false,
    );
    expect(owesMessagesAt(c, { priority: 'P3', category: 'outage' }, 'opened')).toBe(false);
    expect(owesMessagesAt(c, { priority: 'P1', category: 'outage', parent: 9 }, 'opened')).toBe(
      false,
    );
  });
});
