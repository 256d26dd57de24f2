/**
 * When manager digests are due. A digest covers one whole local period (day, ISO week from
 * Monday, calendar month) in the recipient's time zone and is sent at the recipient's hour on
 * the first day after it. "Due" is always the latest period whose send time has passed, so a
 * tick after a restart still finds the digest it missed, and the outbox id (one per recipient,
 * period and start) makes every later tick a no-op.
 */
import { DateTime } from 'luxon';

export const DIGEST_PERIODS = ['daily', 'weekly', 'monthly'] as const;
export type DigestPeriod = (typeof DIGEST_PERIODS)[number];

export interface PeriodWindow {
  period: DigestPeriod;
  /** Local midnight the period starts at, as an instant. */
  start: Date;
  /** Local midnight after it (exclusive). */
  end: Date;
  /** The local start date, yyyymmdd: part of the digest's identity. */
  key: string;
  zone: string;
}

const UNIT = { daily: 'day', weekly: 'week', monthly: 'month' } as const;

function local(at: Date, zone: string): DateTime {
  const dt = DateTime.fromJSDate(at, { zone });
  if (!dt.isValid) throw new RangeError(`unknown time zone "${zone}"`);
  return dt;
}

function windowFrom(period: DigestPeriod, start: DateTime): PeriodWindow {
  const s = start.startOf(UNIT[period]); // luxon weeks start on Monday
  const e = s.plus({ [`${UNIT[period]}s`]: 1 }).startOf(UNIT[period]);
  return {
    period,
    start: s.toJSDate(),
    end: e.toJSDate(),
    key: s.toFormat('yyyyLLdd'),
    zone: s.zoneName ?? 'UTC',
  };
}

/** The local period that contains `at`. */
export function periodContaining(period: DigestPeriod, at: Date, zone: string): PeriodWindow {
  return windowFrom(period, local(at, zone));
}

/** The period just before `w`, in the same zone. */
export function previousWindow(w: PeriodWindow): PeriodWindow {
  return windowFrom(w.period, local(w.start, w.zone).minus({ days: 1 }));
}

/** The `count` periods ending with `w` (oldest first), for the trend chart. */
export function trailingWindows(w: PeriodWindow, count: number): PeriodWindow[] {
  const out = [w];
  while (out.length < count) out.unshift(previousWindow(out[0]!));
  return out;
}

/** When the digest for `w` is sent: the recipient's hour on the first local day after it. */
export function sendTime(w: PeriodWindow, hour: number): Date {
  // In a spring-forward gap luxon moves the hour forward, which is what a person expects.
  return local(w.end, w.zone).set({ hour, minute: 0, second: 0, millisecond: 0 }).toJSDate();
}

export interface DigestSchedule {
  hour: number;
  timezone: string;
  periods: readonly DigestPeriod[];
}

/** For each period the recipient takes, the latest completed one whose send time has passed. */
export function duePeriods(now: Date, schedule: DigestSchedule): PeriodWindow[] {
  return schedule.periods.map((period) => {
    const last = previousWindow(periodContaining(period, now, schedule.timezone));
    return sendTime(last, schedule.hour) <= now ? last : previousWindow(last);
  });
}
