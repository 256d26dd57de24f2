import { describe, expect, it } from 'vitest';
import { ALWAYS, type BusinessCalendar } from '../../src/domain/business-time.js';
import {
  escalationRecipient,
  reviewSla,
  slaCheckAfterChange,
  type SlaState,
  type TrackedClock,
} from '../../src/domain/escalation.js';
import { dueAt, startClock, stopClock } from '../../src/domain/sla.js';
import { mulberry32 } from '../support/prng.js';

const M = 60_000;
const t0 = new Date('2026-11-23T10:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * M);
const policy = {
  warnFraction: 0.75,
  repeatAfterMs: 10 * M,
  chain: ['lead', 'manager', { transfer: 'desk' }] as const,
};

function state(clock: TrackedClock, escalationLevel = 0, lastEscalatedAt?: Date): SlaState {
  return { clocks: { firstResponse: clock }, escalationLevel, lastEscalatedAt };
}

describe('reviewSla', () => {
  it('does nothing before the warning and asks to look again at the warning time', () => {
    const r = reviewSla(state(startClock(t0, 20 * M)), ALWAYS, policy, at(5));
    expect(r.actions).toEqual([]);
    expect(r.nextCheckAt).toEqual(at(15));
  });

  it('warns once the fraction has elapsed, then waits for the due time', () => {
    const r = reviewSla(state(startClock(t0, 20 * M)), ALWAYS, policy, at(16));
    expect(r.actions).toEqual([{ kind: 'warn', clock: 'firstResponse', dueAt: at(20) }]);
    expect(r.nextCheckAt).toEqual(at(20));
    const warned = reviewSla(
      state({ ...startClock(t0, 20 * M), warnedAt: at(16) }),
      ALWAYS,
      policy,
      at(17),
    );
    expect(warned.actions).toEqual([]);
  });

  it('records a breach and takes the first escalation step at once', () => {
    const r = reviewSla(
      state({ ...startClock(t0, 20 * M), warnedAt: at(16) }),
      ALWAYS,
      policy,
      at(21),
    );
    expect(r.actions).toEqual([
      { kind: 'breach', clock: 'firstResponse', dueAt: at(20) },
      { kind: 'escalate', level: 1, step: 'lead' },
    ]);
    expect(r.nextCheckAt).toEqual(at(31));
  });

  it('takes the next step only after repeatAfter, while still breached', () => {
    const breached = { ...startClock(t0, 20 * M), warnedAt: at(16), breachedAt: at(21) };
    expect(reviewSla(state(breached, 1, at(21)), ALWAYS, policy, at(25))).toEqual({
      actions: [],
      nextCheckAt: at(31),
    });
    expect(reviewSla(state(breached, 1, at(21)), ALWAYS, policy, at(31)).actions).toEqual([
      { kind: 'escalate', level: 2, step: 'manager' },
    ]);
    expect(reviewSla(state(breached, 2, at(31)), ALWAYS, policy, at(41)).actions).toEqual([
      { kind: 'escalate', level: 3, step: { transfer: 'desk' } },
    ]);
  });

  it('stops when the chain is exhausted or the clock no longer runs', () => {
    const breached = { ...startClock(t0, 20 * M), warnedAt: at(16), breachedAt: at(21) };
    expect(reviewSla(state(breached, 3, at(41)), ALWAYS, policy, at(90))).toEqual({
      actions: [],
      nextCheckAt: null,
    });
    const met = { ...stopClock(startClock(t0, 20 * M), ALWAYS, at(10)) };
    expect(reviewSla(state(met), ALWAYS, policy, at(90))).toEqual({
      actions: [],
      nextCheckAt: null,
    });
  });

  it('looks at the earliest pending moment across both clocks', () => {
    const s: SlaState = {
      clocks: { firstResponse: startClock(t0, 60 * M), resolution: startClock(t0, 8 * M) },
      escalationLevel: 0,
    };
    expect(reviewSla(s, ALWAYS, policy, at(1)).nextCheckAt).toEqual(at(6));
  });
});

describe('slaCheckAfterChange', () => {
  const OFFICE: BusinessCalendar = {
    timezone: 'Europe/Berlin',
    hours: Object.fromEntries(
      (['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((d) => [d, ['09:00-17:00']]),
    ),
    holidays: [],
  };

  it('looks at once when a change leaves a clock already due', () => {
    // Retargeted to a tighter priority: the time already used is over the new target. The
    // last step of the chain is left, so the review itself has nothing more to look at later.
    const s = state({ ...startClock(t0, 20 * M), consumedMs: 30 * M }, 2, at(-60));
    const review = reviewSla(s, ALWAYS, policy, at(5));
    expect(review.nextCheckAt).toBeNull();
    expect(slaCheckAfterChange(review, at(5))).toEqual(at(5));
  });

  it('is never after an unbreached running clock is due, unless it is now', () => {
    const rnd = mulberry32(20261207);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
    let checked = 0;
    for (let k = 0; k < 2000; k++) {
      const now = at(Math.floor(rnd() * 14 * 24 * 60));
      const cal = pick([ALWAYS, OFFICE]);
      const clock = (): TrackedClock | undefined => {
        if (rnd() < 0.15) return undefined;
        const targetMs = pick([15, 60, 240, 480, 1440, 4320]) * M;
        const c: TrackedClock = {
          targetMs,
          consumedMs: Math.floor(rnd() * 1.5 * targetMs),
          runningSince: rnd() < 0.8 ? at(Math.floor(rnd() * 14 * 24 * 60) - 7 * 24 * 60) : null,
          stoppedAt: null,
        };
        if (c.runningSince && c.runningSince > now) c.runningSince = now;
        if (rnd() < 0.3) c.warnedAt = now;
        if (rnd() < 0.2) c.breachedAt = now;
        return c;
      };
      const clocks = { firstResponse: clock(), resolution: clock() };
      const s: SlaState = {
        clocks,
        escalationLevel: Math.floor(rnd() * 4),
        lastEscalatedAt: rnd() < 0.5 ? at(-Math.floor(rnd() * 60)) : null,
      };
      const check = slaCheckAfterChange(reviewSla(s, cal, policy, now), now);
      for (const c of [clocks.firstResponse, clocks.resolution]) {
        if (!c?.runningSince || c.breachedAt) continue;
        const due = dueAt(c, cal)!;
        expect(check).not.toBeNull();
        expect(check!.getTime()).toBeLessThanOrEqual(Math.max(due.getTime(), now.getTime()));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

describe('escalationRecipient', () => {
  const group = { lead: 'lena', manager: 'max' };

  it('tells the step’s person when they are not the assignee', () => {
    expect(escalationRecipient('lead', group, 'alice')).toEqual({ to: 'lena', role: 'lead' });
    expect(escalationRecipient('manager', group, 'alice')).toEqual({ to: 'max', role: 'manager' });
    expect(escalationRecipient('lead', group, null)).toEqual({ to: 'lena', role: 'lead' });
  });

  it('passes over a lead who is the assignee, to the manager', () => {
    expect(escalationRecipient('lead', group, 'lena')).toEqual({
      to: 'max',
      role: 'manager',
      skipped: 'the lead (lena) is the assignee: told the manager',
    });
  });

  it('tells nobody, and says so, when nobody else is above the assignee', () => {
    expect(escalationRecipient('lead', { lead: 'lena' }, 'lena')).toEqual({
      to: null,
      role: 'lead',
      skipped: 'the lead (lena) is the assignee and nobody is above them: nobody else was told',
    });
    expect(escalationRecipient('lead', { lead: 'max', manager: 'max' }, 'max').to).toBeNull();
    expect(escalationRecipient('manager', group, 'max').to).toBeNull();
  });

  it('tells nobody when the group names nobody for the step', () => {
    expect(escalationRecipient('lead', undefined, 'alice')).toEqual({ to: null, role: 'lead' });
  });
});
