import { describe, it, expect } from 'vitest';
import { DateTime } from 'luxon';
import { ALWAYS, type BusinessCalendar } from '../../src/domain/business-time.js';
import {
  consumed,
  dueAt,
  isBreached,
  pauseClock,
  resumeClock,
  startClock,
  stopClock,
  warnAt,
  type SlaClock,
} from '../../src/domain/sla.js';

const M = 60_000;
const H = 60 * M;

const office: BusinessCalendar = {
  timezone: 'Europe/Berlin',
  hours: {
    mon: ['08:00-18:00'],
    tue: ['08:00-18:00'],
    wed: ['08:00-18:00'],
    thu: ['08:00-18:00'],
    fri: ['08:00-16:00'],
  },
  holidays: ['2026-12-24', '2026-12-25'],
};

const at = (local: string): Date => DateTime.fromISO(local, { zone: 'Europe/Berlin' }).toJSDate();
const t0 = new Date('2026-01-12T09:00:00Z');
const plus = (d: Date, ms: number): Date => new Date(d.getTime() + ms);

function frozen(c: SlaClock): SlaClock {
  return Object.freeze({ ...c });
}

describe('startClock', () => {
  it('starts running with nothing consumed', () => {
    expect(startClock(t0, 4 * H)).toEqual({
      targetMs: 4 * H,
      consumedMs: 0,
      runningSince: t0,
      stoppedAt: null,
    });
  });

  it('keeps its own copy of the start time', () => {
    const start = new Date(t0);
    const c = startClock(start, H);
    start.setTime(0);
    expect(c.runningSince).toEqual(t0);
  });

  it('rejects a negative or non-finite target', () => {
    expect(() => startClock(t0, -1)).toThrow(RangeError);
    expect(() => startClock(t0, NaN)).toThrow(RangeError);
    expect(() => startClock(t0, Infinity)).toThrow(RangeError);
  });
});

describe('consumed', () => {
  it('counts business time since the start while running', () => {
    const c = startClock(t0, 4 * H);
    expect(consumed(c, ALWAYS, plus(t0, 30 * M))).toBe(30 * M);
    const o = startClock(at('2026-01-16T15:00'), 4 * H);
    expect(consumed(o, office, at('2026-01-19T09:00'))).toBe(2 * H); // Fri 1 h + Mon 1 h
  });

  it('does not grow while paused', () => {
    const p = pauseClock(startClock(t0, 4 * H), ALWAYS, plus(t0, H));
    expect(consumed(p, ALWAYS, plus(t0, 100 * H))).toBe(H);
  });

  it('a "now" before the start adds nothing', () => {
    const c = { ...startClock(t0, 4 * H), consumedMs: 10 * M };
    expect(consumed(c, ALWAYS, plus(t0, -H))).toBe(10 * M);
  });
});

describe('pauseClock / resumeClock', () => {
  it('pausing adds the business time of the run and stops it running', () => {
    const c = frozen(startClock(at('2026-01-12T17:00'), 4 * H));
    const p = pauseClock(c, office, at('2026-01-13T09:30'));
    expect(p).toEqual({
      targetMs: 4 * H,
      consumedMs: 2.5 * H,
      runningSince: null,
      stoppedAt: null,
    });
    expect(c.runningSince).toEqual(at('2026-01-12T17:00')); // unchanged
  });

  it('pausing a paused clock returns it unchanged', () => {
    const p = pauseClock(startClock(t0, H), ALWAYS, plus(t0, M));
    expect(pauseClock(p, ALWAYS, plus(t0, 50 * M))).toBe(p);
  });

  it('resuming runs from the given instant; paused time is not counted', () => {
    const p = frozen(pauseClock(startClock(t0, 4 * H), ALWAYS, plus(t0, H)));
    const r = resumeClock(p, plus(t0, 10 * H));
    expect(r).toEqual({
      targetMs: 4 * H,
      consumedMs: H,
      runningSince: plus(t0, 10 * H),
      stoppedAt: null,
    });
    expect(r).not.toBe(p);
    expect(p.runningSince).toBeNull();
    expect(consumed(r, ALWAYS, plus(t0, 11 * H))).toBe(2 * H);
  });

  it('resuming a running clock returns it unchanged', () => {
    const c = startClock(t0, H);
    expect(resumeClock(c, plus(t0, 5 * M))).toBe(c);
  });

  it('a stopped clock neither pauses nor resumes', () => {
    const s = stopClock(startClock(t0, H), ALWAYS, plus(t0, 5 * M));
    expect(resumeClock(s, plus(t0, 10 * M))).toBe(s);
    expect(pauseClock(s, ALWAYS, plus(t0, 10 * M))).toBe(s);
  });
});

describe('stopClock', () => {
  it('keeps what was used and records when it stopped', () => {
    const c = frozen(startClock(t0, H));
    const s = stopClock(c, ALWAYS, plus(t0, 20 * M));
    expect(s).toEqual({
      targetMs: H,
      consumedMs: 20 * M,
      runningSince: null,
      stoppedAt: plus(t0, 20 * M),
    });
    expect(c.stoppedAt).toBeNull();
  });

  it('stopping a paused clock keeps the consumed time', () => {
    const p = pauseClock(startClock(t0, H), ALWAYS, plus(t0, 20 * M));
    const s = stopClock(p, ALWAYS, plus(t0, 5 * H));
    expect(s.consumedMs).toBe(20 * M);
    expect(s.stoppedAt).toEqual(plus(t0, 5 * H));
  });

  it('is idempotent', () => {
    const s = stopClock(startClock(t0, H), ALWAYS, plus(t0, 20 * M));
    expect(stopClock(s, ALWAYS, plus(t0, 50 * M))).toBe(s);
  });
});

describe('dueAt', () => {
  it('start + target for a fresh clock', () => {
    expect(dueAt(startClock(t0, 4 * H), ALWAYS)).toEqual(plus(t0, 4 * H));
  });

  it('runs in business time (across a weekend)', () => {
    expect(dueAt(startClock(at('2026-01-16T15:00'), 2 * H), office)).toEqual(
      at('2026-01-19T09:00'),
    );
  });

  it('accounts for time consumed before a pause', () => {
    // Mon 09:00-10:00 used 1 h; resumed Tue 17:00: 1 h on Tue, 2 h on Wed.
    let c = startClock(at('2026-01-12T09:00'), 4 * H);
    c = pauseClock(c, office, at('2026-01-12T10:00'));
    c = resumeClock(c, at('2026-01-13T17:00'));
    expect(dueAt(c, office)).toEqual(at('2026-01-14T10:00'));
  });

  it('is null while paused or stopped', () => {
    const c = startClock(t0, H);
    expect(dueAt(pauseClock(c, ALWAYS, plus(t0, M)), ALWAYS)).toBeNull();
    expect(dueAt(stopClock(c, ALWAYS, plus(t0, M)), ALWAYS)).toBeNull();
  });

  it('lies in the past when the clock was already over its target when resumed', () => {
    let c = startClock(t0, H);
    c = pauseClock(c, ALWAYS, plus(t0, 90 * M));
    c = resumeClock(c, plus(t0, 5 * H));
    expect(dueAt(c, ALWAYS)).toEqual(plus(t0, 5 * H - 30 * M));
  });

  it('is exactly now when the target is used up at the resume instant', () => {
    let c = startClock(t0, H);
    c = pauseClock(c, ALWAYS, plus(t0, H));
    c = resumeClock(c, plus(t0, 3 * H));
    expect(dueAt(c, ALWAYS)).toEqual(plus(t0, 3 * H));
  });
});

describe('warnAt', () => {
  it('when the fraction of the target is used', () => {
    expect(warnAt(startClock(t0, 4 * H), ALWAYS, 0.75)).toEqual(plus(t0, 3 * H));
    expect(warnAt(startClock(t0, 4 * H), ALWAYS, 1)).toEqual(plus(t0, 4 * H));
  });

  it('in business time', () => {
    expect(warnAt(startClock(at('2026-01-12T17:00'), 4 * H), office, 0.5)).toEqual(
      at('2026-01-13T09:00'),
    );
  });

  it('accounts for time already consumed', () => {
    let c = startClock(t0, 4 * H);
    c = pauseClock(c, ALWAYS, plus(t0, H));
    c = resumeClock(c, plus(t0, 10 * H));
    expect(warnAt(c, ALWAYS, 0.75)).toEqual(plus(t0, 12 * H));
  });

  it('is null when not running or already past the fraction', () => {
    const c = startClock(t0, 4 * H);
    expect(warnAt(pauseClock(c, ALWAYS, plus(t0, M)), ALWAYS, 0.75)).toBeNull();
    expect(warnAt(stopClock(c, ALWAYS, plus(t0, M)), ALWAYS, 0.75)).toBeNull();
    let late = pauseClock(c, ALWAYS, plus(t0, 3 * H));
    late = resumeClock(late, plus(t0, 4 * H));
    expect(warnAt(late, ALWAYS, 0.75)).toBeNull();
    expect(warnAt(late, ALWAYS, 0.8)).toEqual(plus(t0, 4 * H + 12 * M));
  });

  it('rejects fractions outside (0, 1]', () => {
    const c = startClock(t0, H);
    for (const f of [0, -0.5, 1.5, NaN]) expect(() => warnAt(c, ALWAYS, f)).toThrow(RangeError);
  });
});

describe('isBreached', () => {
  it('reaching the target exactly is a breach; a millisecond before is not', () => {
    const c = startClock(t0, H);
    expect(isBreached(c, ALWAYS, plus(t0, H - 1))).toBe(false);
    expect(isBreached(c, ALWAYS, plus(t0, H))).toBe(true);
    expect(isBreached(c, ALWAYS, plus(t0, 2 * H))).toBe(true);
  });

  it('only business time counts', () => {
    const c = startClock(at('2026-01-16T15:00'), 2 * H);
    expect(isBreached(c, office, at('2026-01-18T23:00'))).toBe(false); // Sunday night: 1 h used
    expect(isBreached(c, office, at('2026-01-19T09:00'))).toBe(true);
    expect(isBreached(c, office, dueAt(c, office) as Date)).toBe(true);
  });

  it('a paused clock does not breach while it waits', () => {
    const p = pauseClock(startClock(t0, H), ALWAYS, plus(t0, 30 * M));
    expect(isBreached(p, ALWAYS, plus(t0, 1000 * H))).toBe(false);
  });

  it('a stopped clock keeps its verdict', () => {
    const met = stopClock(startClock(t0, H), ALWAYS, plus(t0, 59 * M));
    expect(isBreached(met, ALWAYS, plus(t0, 1000 * H))).toBe(false);
    const missed = stopClock(startClock(t0, H), ALWAYS, plus(t0, 61 * M));
    expect(isBreached(missed, ALWAYS, plus(t0, 61 * M))).toBe(true);
  });
});

describe('a whole incident', () => {
  it('pauses while pending the customer across a weekend and holidays', () => {
    // P2 resolution 8 h in the office calendar, opened Wed 23 Dec 2026 16:00.
    let c = startClock(at('2026-12-23T16:00'), 8 * H);
    c = pauseClock(c, office, at('2026-12-23T17:30')); // waiting for the customer: 1.5 h used
    c = resumeClock(c, at('2026-12-27T12:00')); // customer replies on Sunday
    expect(consumed(c, office, at('2026-12-28T08:00'))).toBe(1.5 * H);
    expect(dueAt(c, office)).toEqual(at('2026-12-28T14:30')); // 6.5 h on Monday from 08:00
    expect(warnAt(c, office, 0.75)).toEqual(at('2026-12-28T12:30')); // 6 h used
    expect(isBreached(c, office, at('2026-12-28T14:29'))).toBe(false);
    c = stopClock(c, office, at('2026-12-28T14:00'));
    expect(c.consumedMs).toBe(7.5 * H);
    expect(isBreached(c, office, at('2027-02-01T00:00'))).toBe(false);
  });
});
