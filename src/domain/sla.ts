/**
 * SLA clocks: a target in business time that runs while the incident waits on us, pauses
 * while it waits on the customer and stops when it is met. Clocks are plain values; every
 * function returns a new object and never mutates its argument.
 */
import { addBusinessTime, businessTimeBetween, type BusinessCalendar } from './business-time.js';

export interface SlaClock {
  /** Business time allowed, in ms. */
  targetMs: number;
  /** Business time used before `runningSince`. */
  consumedMs: number;
  /** Since when the clock runs; null when paused or stopped. */
  runningSince: Date | null;
  /** When the clock was stopped (target met or work finished); a stopped clock stays stopped. */
  stoppedAt: Date | null;
}

function checkTarget(targetMs: number): void {
  if (!Number.isFinite(targetMs) || targetMs < 0) {
    throw new RangeError(`SLA target must be a non-negative number of ms, got ${targetMs}`);
  }
}

/** A running clock with nothing consumed yet. */
export function startClock(at: Date, targetMs: number): SlaClock {
  checkTarget(targetMs);
  return { targetMs, consumedMs: 0, runningSince: new Date(at.getTime()), stoppedAt: null };
}

/** Business time used so far, including the current run. */
export function consumed(c: SlaClock, cal: BusinessCalendar, now: Date): number {
  return c.consumedMs + (c.runningSince ? businessTimeBetween(cal, c.runningSince, now) : 0);
}

/** Stops the clock running, keeping what it used; a paused or stopped clock is returned as is. */
export function pauseClock(c: SlaClock, cal: BusinessCalendar, at: Date): SlaClock {
  if (!c.runningSince) return c;
  return { ...c, consumedMs: consumed(c, cal, at), runningSince: null };
}

/** Runs a paused clock again from `at`; a running or stopped clock is returned as is. */
export function resumeClock(c: SlaClock, at: Date): SlaClock {
  if (c.runningSince || c.stoppedAt) return c;
  return { ...c, runningSince: new Date(at.getTime()) };
}

/** Target met or work finished: keeps what was used and records when. Idempotent. */
export function stopClock(c: SlaClock, cal: BusinessCalendar, at: Date): SlaClock {
  if (c.stoppedAt) return c;
  return {
    ...c,
    consumedMs: consumed(c, cal, at),
    runningSince: null,
    stoppedAt: new Date(at.getTime()),
  };
}

/**
 * When a running clock reaches its target (in the past if it already has); null when the
 * clock is paused or stopped.
 */
export function dueAt(c: SlaClock, cal: BusinessCalendar): Date | null {
  if (!c.runningSince) return null;
  return addBusinessTime(cal, c.runningSince, c.targetMs - c.consumedMs);
}

/**
 * When a running clock reaches `fraction` of its target (0 < fraction <= 1); null when the
 * clock is paused or stopped or had already used that much when it last started running.
 */
export function warnAt(c: SlaClock, cal: BusinessCalendar, fraction: number): Date | null {
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new RangeError(`warning fraction must be in (0, 1], got ${fraction}`);
  }
  if (!c.runningSince) return null;
  const threshold = Math.ceil(c.targetMs * fraction);
  if (c.consumedMs >= threshold) return null;
  return addBusinessTime(cal, c.runningSince, threshold - c.consumedMs);
}

/** Whether the clock has used its whole target (reaching it exactly counts as breached). */
export function isBreached(c: SlaClock, cal: BusinessCalendar, now: Date): boolean {
  return consumed(c, cal, now) >= c.targetMs;
}
