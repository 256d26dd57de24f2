/**
 * When manager digests are due. A digest covers one whole local period (day, ISO week from
 * Monday, calendar month) in the recipient's time zone and is sent at the recipient's hour on
 * the first day after it. Scheduled digests only ever cover closed periods. "Due" is the
 * latest period whose send time has passed and, once a recipient has had a digest of that
 * kind, every closed period after the last one sent (up to a bound), so a tick after a
 * restart or an outage still finds each digest it missed. Periods that ended before the
 * installation (or its first incident) are never due. The outbox id (one per recipient,
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

export interface DueOptions {
  /** Periods that ended at or before this instant (installation, first incident) are skipped. */
  notBefore?: Date | null;
  /** Per period, the key (yyyymmdd) of the last digest of that kind queued for the recipient. */
  lastSent?: Partial<Record<DigestPeriod, string>>;
  /** At most this many periods of one kind are caught up in one tick. */
  maxCatchUp?: number;
}

/** The latest closed period of a kind whose send time has passed. */
export function latestDue(now: Date, period: DigestPeriod, schedule: DigestSchedule): PeriodWindow {
  const last = previousWindow(periodContaining(period, now, schedule.timezone));
  return sendTime(last, schedule.hour) <= now ? last : previousWindow(last);
}

/**
 * For each period the recipient takes, the closed periods due now, oldest first: the latest
 * one whose send time has passed, and, when `lastSent` names the last one sent, the ones
 * between (a missed tick is caught up, never lost). Never a period that is still running,
 * never one that ended by `notBefore`.
 */
export function duePeriods(
  now: Date,
  schedule: DigestSchedule,
  opts: DueOptions = {},
): PeriodWindow[] {
  const max = opts.maxCatchUp ?? 7;
  return schedule.periods.flatMap((period) => {
    const out: PeriodWindow[] = [];
    const last = opts.lastSent?.[period];
    for (let w = latestDue(now, period, schedule); out.length < max; w = previousWindow(w)) {
      if (opts.notBefore && w.end <= opts.notBefore) break;
      if (last !== undefined && w.key <= last) break;
      out.unshift(w);
      if (last === undefined) break;
    }
    return out;
  });
}

/**
 * `daily`, `weekly:2026-11-16`, `monthly:2026-11-01`: a kind of period, and optionally the
 * local date of one day inside the period meant. Throws a RangeError on anything else.
 */
export function parsePeriodSpec(spec: string): { period: DigestPeriod; date: string | null } {
  const m = /^(daily|weekly|monthly)(?::(\d{4}-\d{2}-\d{2}))?$/.exec(spec.trim());
  if (!m)
    throw new RangeError(
      `not a period: "${spec}" (daily, weekly or monthly, optionally :YYYY-MM-DD)`,
    );
  if (m[2] && !DateTime.fromISO(m[2]).isValid) throw new RangeError(`not a date: "${m[2]}"`);
  return { period: m[1] as DigestPeriod, date: m[2] ?? null };
}

/** The period of a kind containing a local date (noon of it, so DST never moves the day). */
export function periodOfDate(period: DigestPeriod, date: string, zone: string): PeriodWindow {
  const d = DateTime.fromISO(`${date}T12:00:00`, { zone });
  if (!d.isValid) throw new RangeError(`not a date in ${zone}: "${date}"`);
  return windowFrom(period, d);
}
