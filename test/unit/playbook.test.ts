import { describe, expect, it } from 'vitest';
import {
  isOverdue,
  parseStepNumber,
  phaseOrderProblems,
  playbookFor,
  playbookProblems,
  stepOwnerId,
  stepReminderDue,
  type PlanStep,
} from '../../src/domain/playbook.js';

const SECURITY: PlanStep[] = [
  {
    phase: 'containment',
    title: 'Isolate the host',
    owner: 'assignee',
    deadline: '30m',
    mandatory: true,
  },
  {
    phase: 'eradication',
    title: 'Rotate credentials',
    owner: 'lead',
    deadline: '4h',
    mandatory: true,
  },
  { phase: 'recovery', title: 'Restore from backup', owner: 'assignee', mandatory: false },
  {
    phase: 'verification',
    title: 'Confirm no persistence',
    owner: 'manager',
    deadline: '1d',
    mandatory: true,
  },
];
const START = new Date('2026-12-01T10:00:00Z');
const MIN = 60_000;

describe('playbookFor', () => {
  it("numbers the category's steps from 1 and dates their deadlines from the incident's start", () => {
    const steps = playbookFor({ security: SECURITY }, 'security', START);
    expect(steps.map((s) => [s.step, s.phase, s.state])).toEqual([
      [1, 'containment', 'open'],
      [2, 'eradication', 'open'],
      [3, 'recovery', 'open'],
      [4, 'verification', 'open'],
    ]);
    expect(steps.map((s) => s.dueAt?.toISOString() ?? null)).toEqual([
      '2026-12-01T10:30:00.000Z',
      '2026-12-01T14:00:00.000Z',
      null,
      '2026-12-02T10:00:00.000Z',
    ]);
  });

  it('gives nothing to a category without a playbook, or to none at all', () => {
    expect(playbookFor({ security: SECURITY }, 'billing', START)).toEqual([]);
    expect(playbookFor({ security: SECURITY }, undefined, START)).toEqual([]);
    // An inherited property is no category.
    expect(playbookFor({ security: SECURITY }, 'constructor', START)).toEqual([]);
  });
});

describe('phaseOrderProblems', () => {
  it('accepts phases in order, repeated or left out', () => {
    expect(phaseOrderProblems(SECURITY)).toEqual([]);
    expect(
      phaseOrderProblems([
        { phase: 'containment' },
        { phase: 'containment' },
        { phase: 'recovery' },
      ]),
    ).toEqual([]);
  });
  it('names a step whose phase runs backwards', () => {
    expect(phaseOrderProblems([{ phase: 'recovery' }, { phase: 'containment' }])).toEqual([
      'step 2 (containment) comes after a recovery step',
    ]);
  });
});

describe('overdue steps and reminders', () => {
  const due = new Date(START.getTime() + 30 * MIN);
  const open = { state: 'open' as const, dueAt: due };

  it('is overdue only when open, dated and past its due time', () => {
    expect(isOverdue(open, new Date(due.getTime() - 1))).toBe(false);
    expect(isOverdue(open, due)).toBe(false);
    expect(isOverdue(open, new Date(due.getTime() + 1))).toBe(true);
    expect(isOverdue({ state: 'done', dueAt: due }, new Date(due.getTime() + MIN))).toBe(false);
    expect(isOverdue({ state: 'open', dueAt: null }, new Date(due.getTime() + MIN))).toBe(false);
  });

  it('chases once when overdue, then once per period while it stays open', () => {
    const hour = 60 * MIN;
    const at = (m: number) => new Date(due.getTime() + m * MIN);
    expect(stepReminderDue(open, at(-1), hour)).toBeNull();
    expect(stepReminderDue(open, at(1), hour)).toBe(0);
    expect(stepReminderDue({ ...open, remindedSlot: 0 }, at(59), hour)).toBeNull();
    expect(stepReminderDue({ ...open, remindedSlot: 0 }, at(61), hour)).toBe(1);
    // A sweep that missed periods sends one reminder, for the current one.
    expect(stepReminderDue({ ...open, remindedSlot: 0 }, at(300), hour)).toBe(5);
    expect(stepReminderDue({ state: 'skipped', dueAt: due }, at(300), hour)).toBeNull();
  });
});

describe('playbookProblems: the resolve gate', () => {
  const steps = [
    { step: 1, title: 'Isolate the host', mandatory: true, state: 'done' as const },
    { step: 2, title: 'Rotate credentials', mandatory: true, state: 'open' as const },
    { step: 3, title: 'Restore from backup', mandatory: false, state: 'open' as const },
    { step: 4, title: 'Confirm no persistence', mandatory: true, state: 'skipped' as const },
  ];
  const requiredFor = ['P1', 'P2'];

  it('holds a P1/P2 while a mandatory step is open, naming it', () => {
    expect(playbookProblems({ priority: 'P2', requiredFor, steps })).toEqual([
      'P2 needs every mandatory playbook step done or skipped with a reason; open: 2 "Rotate credentials" (#done <step> or #skip <step> <reason>)',
    ]);
  });
  it('lets it go once mandatory steps are done or skipped; optional ones may stay open', () => {
    const closed = steps.map((s) => (s.step === 2 ? { ...s, state: 'done' as const } : s));
    expect(playbookProblems({ priority: 'P1', requiredFor, steps: closed })).toEqual([]);
  });
  it('does not hold other priorities, or incidents without a playbook', () => {
    expect(playbookProblems({ priority: 'P3', requiredFor, steps })).toEqual([]);
    expect(playbookProblems({ priority: null, requiredFor, steps })).toEqual([]);
    expect(playbookProblems({ priority: 'P1', requiredFor, steps: [] })).toEqual([]);
  });
});

describe('stepOwnerId', () => {
  const groups = [
    { id: 'security', lead: 'dave', manager: 'mia' },
    { id: 'lonely', manager: 'mia' },
  ];
  it("finds the holder of the step's role", () => {
    const incident = { assignee: 'sam', group: 'security' };
    expect(stepOwnerId('assignee', incident, groups)).toBe('sam');
    expect(stepOwnerId('lead', incident, groups)).toBe('dave');
    expect(stepOwnerId('manager', incident, groups)).toBe('mia');
  });
  it('falls back to the lead, then the manager, when nobody holds the role', () => {
    expect(stepOwnerId('assignee', { assignee: null, group: 'security' }, groups)).toBe('dave');
    expect(stepOwnerId('lead', { group: 'lonely' }, groups)).toBe('mia');
    expect(stepOwnerId('assignee', { group: 'nowhere' }, groups)).toBeUndefined();
  });
});

describe('parseStepNumber', () => {
  it('reads step numbers as people write them', () => {
    expect(parseStepNumber('2')).toBe(2);
    expect(parseStepNumber('#3')).toBe(3);
    expect(parseStepNumber('step 4')).toBe(4);
    expect(parseStepNumber('0')).toBeNull();
    expect(parseStepNumber('two')).toBeNull();
    expect(parseStepNumber('-1')).toBeNull();
  });
});
