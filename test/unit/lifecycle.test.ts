import { describe, it, expect } from 'vitest';
import {
  STATUSES,
  customerMessageOutcome,
  resolutionProblems,
  slaClockRunning,
  statusForCommand,
  transition,
  type LifecycleAction,
  type Status,
} from '../../src/domain/lifecycle.js';

const ACTIONS: LifecycleAction[] = [
  'triage',
  'assign',
  'agent-reply',
  'wait-for-customer',
  'customer-reply',
  'resolve',
  'close',
  'reopen',
];

/** The full transition table: action → from → to (absent = refused). */
const EXPECTED: Record<LifecycleAction, Partial<Record<Status, Status>>> = {
  triage: { new: 'triaged' },
  assign: {
    new: 'assigned',
    triaged: 'assigned',
    assigned: 'assigned',
    'in-progress': 'in-progress',
    'pending-customer': 'pending-customer',
  },
  'agent-reply': {
    assigned: 'in-progress',
    'in-progress': 'in-progress',
    'pending-customer': 'pending-customer',
  },
  'wait-for-customer': {
    assigned: 'pending-customer',
    'in-progress': 'pending-customer',
    'pending-customer': 'pending-customer',
  },
  'customer-reply': {
    new: 'new',
    triaged: 'triaged',
    assigned: 'assigned',
    'in-progress': 'in-progress',
    'pending-customer': 'in-progress',
    resolved: 'in-progress',
  },
  resolve: {
    new: 'resolved',
    triaged: 'resolved',
    assigned: 'resolved',
    'in-progress': 'resolved',
    'pending-customer': 'resolved',
  },
  close: { resolved: 'closed' },
  reopen: { resolved: 'in-progress', closed: 'in-progress' },
};

describe('STATUSES', () => {
  it('lists the seven statuses in lifecycle order', () => {
    expect(STATUSES).toEqual([
      'new',
      'triaged',
      'assigned',
      'in-progress',
      'pending-customer',
      'resolved',
      'closed',
    ]);
  });
});

describe('transition', () => {
  const cells = ACTIONS.flatMap((action) => STATUSES.map((from) => [action, from] as const));

  it.each(cells)('%s from %s', (action, from) => {
    const to = EXPECTED[action][from];
    const r = transition(from, action);
    if (to) {
      expect(r).toEqual({ ok: true, to });
    } else {
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.reason).toContain(from);
        expect(r.reason).toContain(action);
      }
    }
  });

  it('a customer reply to a closed incident is refused (the caller opens a linked one)', () => {
    expect(transition('closed', 'customer-reply').ok).toBe(false);
  });

  it('reassignment keeps work in progress where it is', () => {
    expect(transition('in-progress', 'assign')).toEqual({ ok: true, to: 'in-progress' });
    expect(transition('pending-customer', 'assign')).toEqual({ ok: true, to: 'pending-customer' });
  });

  it('refuses unknown actions and statuses without throwing', () => {
    expect(transition('new', 'explode' as LifecycleAction).ok).toBe(false);
    expect(transition('weird' as Status, 'resolve').ok).toBe(false);
    expect(transition('new', 'toString' as LifecycleAction).ok).toBe(false);
    expect(transition('toString' as Status, 'close').ok).toBe(false);
  });
});

describe('statusForCommand', () => {
  it.each([
    ['open', 'in-progress'],
    ['in-progress', 'in-progress'],
    ['progress', 'in-progress'],
    ['In Progress', 'in-progress'],
    ['pending', 'pending-customer'],
    ['waiting', 'pending-customer'],
    ['PENDING', 'pending-customer'],
    ['pending-customer', 'pending-customer'],
    ['resolved', 'resolved'],
    ['closed', 'closed'],
    [' Closed ', 'closed'],
  ])('%j → %s', (word, status) => {
    expect(statusForCommand(word)).toBe(status);
  });

  it.each(['', 'new', 'triaged', 'assigned', 'done', 'close', 'constructor', 'open please'])(
    '%j → null',
    (word) => {
      expect(statusForCommand(word)).toBeNull();
    },
  );
});

describe('customerMessageOutcome', () => {
  const now = new Date('2026-06-30T12:00:00Z');
  const daysAgo = (d: number): Date => new Date(now.getTime() - d * 86_400_000);

  it.each(['new', 'triaged', 'assigned', 'in-progress', 'pending-customer'] as const)(
    '%s: append',
    (status) => {
      expect(customerMessageOutcome({ status, now, reopenWindowDays: 14 })).toBe('append');
    },
  );

  it('resolved: reopen, whenever', () => {
    expect(customerMessageOutcome({ status: 'resolved', now, reopenWindowDays: 0 })).toBe('reopen');
  });

  it('closed within the window: reopen; after it: new-linked', () => {
    expect(
      customerMessageOutcome({ status: 'closed', closedAt: daysAgo(3), now, reopenWindowDays: 14 }),
    ).toBe('reopen');
    expect(
      customerMessageOutcome({
        status: 'closed',
        closedAt: daysAgo(14),
        now,
        reopenWindowDays: 14,
      }),
    ).toBe('reopen');
    expect(
      customerMessageOutcome({
        status: 'closed',
        closedAt: new Date(daysAgo(14).getTime() - 1),
        now,
        reopenWindowDays: 14,
      }),
    ).toBe('new-linked');
    expect(
      customerMessageOutcome({
        status: 'closed',
        closedAt: daysAgo(30),
        now,
        reopenWindowDays: 14,
      }),
    ).toBe('new-linked');
  });

  it('a zero-day window sends every later message to a new linked incident', () => {
    expect(
      customerMessageOutcome({
        status: 'closed',
        closedAt: daysAgo(0.001),
        now,
        reopenWindowDays: 0,
      }),
    ).toBe('new-linked');
  });

  it('closed at an unknown time: new-linked', () => {
    expect(customerMessageOutcome({ status: 'closed', now, reopenWindowDays: 14 })).toBe(
      'new-linked',
    );
  });
});

describe('slaClockRunning', () => {
  it.each([
    ['new', true],
    ['triaged', true],
    ['assigned', true],
    ['in-progress', true],
    ['pending-customer', false],
    ['resolved', false],
    ['closed', false],
  ] as const)('%s → %s', (status, running) => {
    expect(slaClockRunning(status)).toBe(running);
  });
});

describe('resolutionProblems', () => {
  it('complete with a cause and a fix, or a cause and a workaround', () => {
    expect(resolutionProblems({ cause: 'expired certificate', fix: 'renewed' })).toEqual([]);
    expect(resolutionProblems({ cause: 'expired certificate', workaround: 'use http' })).toEqual(
      [],
    );
    expect(resolutionProblems({ cause: 'c', fix: 'f', workaround: 'w' })).toEqual([]);
  });

  it('reports a missing cause', () => {
    const p = resolutionProblems({ fix: 'renewed' });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/cause/);
  });

  it('reports a missing fix or workaround', () => {
    const p = resolutionProblems({ cause: 'x' });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/fix/);
    expect(p[0]).toMatch(/workaround/);
  });

  it('blank values count as missing', () => {
    expect(resolutionProblems({ cause: '  ', fix: '\n', workaround: '' })).toHaveLength(2);
    expect(resolutionProblems({})).toHaveLength(2);
  });
});
