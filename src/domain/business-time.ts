/**
 * Business time: SLA clocks only run inside a calendar's opening hours. Opening ranges are
 * local wall-clock times in the calendar's time zone; holidays close a whole local day.
 *
 * Wall-clock times map to instants like this (relevant on DST change days only):
 * - a time that occurs twice (autumn) means its first occurrence, so 00:00-24:00 on the
 *   autumn change day lasts 25 hours and 01:00-02:30 + 02:30-04:00 equals 01:00-04:00;
 * - a time that does not exist (spring gap) means the instant the clocks jump, so in
 *   Europe/Berlin on 2026-03-29 the range 01:00-04:00 lasts 2 hours and 02:00-02:30 is empty.
 *
 * Everything steps per local day and opening range, never per minute.
 */
import { IANAZone } from 'luxon';
import { WEEKDAYS, type Plan, type Weekday } from '../plan/schema.js';

/** Same shape as a plan calendar. */
export interface BusinessCalendar {
  timezone: string;
  /** "24x7", or opening ranges ("08:00-18:00", end may be "24:00") per weekday; unlisted days are closed. */
  hours: '24x7' | Partial<Record<Weekday, string[]>>;
  /** Local dates ("2026-12-25") closed all day. */
  holidays: readonly string[];
}

/** Always open, UTC, no holidays: the built-in calendar "always". */
export const ALWAYS: BusinessCalendar = Object.freeze({
  timezone: 'UTC',
  hours: '24x7' as const,
  holidays: Object.freeze([]) as readonly string[],
});

/** The calendar a group names; "always" is built in. Unknown ids are a RangeError. */
export function calendarFor(plan: Pick<Plan, 'calendars'>, id: string): BusinessCalendar {
  if (id === 'always') return ALWAYS;
  const cal = Object.prototype.hasOwnProperty.call(plan.calendars, id)
    ? plan.calendars[id]
    : undefined;
  if (!cal) throw new RangeError(`unknown calendar "${id}"`);
  return cal;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const DAY_MINUTES = 1440;
/** Give up after this many consecutive closed days (a calendar that is never open). */
const MAX_CLOSED_DAYS = 3660;
const RANGE = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

interface Compiled {
  zone: IANAZone;
  /** Per JS weekday (0 = Sunday): sorted, merged, non-empty [startMin, endMin) ranges. */
  week: ReadonlyArray<ReadonlyArray<readonly [number, number]>>;
  holidays: ReadonlySet<string>;
  /** Open all the time: plain arithmetic. */
  always: boolean;
  neverOpen: boolean;
  /** Open intervals per local day number (bounded; see dayIntervals). */
  days: Map<number, ReadonlyArray<readonly [number, number]>>;
}

const compiledCache = new WeakMap<BusinessCalendar, Compiled>();

function parseRange(range: string): [number, number] {
  const m = RANGE.exec(range);
  if (!m) throw new RangeError(`not an opening range like 08:00-18:00: ${JSON.stringify(range)}`);
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number];
  if (h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59) {
    throw new RangeError(`not an opening range like 08:00-18:00: ${JSON.stringify(range)}`);
  }
  // "24:30" can only mean the end of the day.
  return [Math.min(h1 * 60 + m1, DAY_MINUTES), Math.min(h2 * 60 + m2, DAY_MINUTES)];
}

function compile(cal: BusinessCalendar): Compiled {
  const hit = compiledCache.get(cal);
  if (hit) return hit;
  const zone = IANAZone.create(cal.timezone);
  if (!zone.isValid) throw new RangeError(`unknown time zone "${cal.timezone}"`);
  const week: [number, number][][] = [];
  WEEKDAYS.forEach((day, i) => {
    const jsDay = (i + 1) % 7; // WEEKDAYS starts on Monday
    const ranges =
      cal.hours === '24x7'
        ? ([[0, DAY_MINUTES]] as [number, number][])
        : (cal.hours[day] ?? []).map(parseRange).filter(([s, e]) => e > s); // an end before the start never opens
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    week[jsDay] = merged;
  });
  const holidays = new Set(cal.holidays);
  const always = cal.hours === '24x7' && holidays.size === 0;
  const neverOpen = week.every((ranges) => ranges.length === 0);
  const compiled: Compiled = { zone, week, holidays, always, neverOpen, days: new Map() };
  compiledCache.set(cal, compiled);
  return compiled;
}

/** Offset of the zone at an instant, in ms (local = utc + offset). */
function offsetMs(zone: IANAZone, ts: number): number {
  return zone.offset(ts) * MINUTE_MS;
}

/**
 * The instant of a local wall-clock time: `localTs` is the wall time written as if it were
 * UTC. First occurrence when it occurs twice; the moment the clocks jump when it is skipped.
 */
function wallToInstant(zone: IANAZone, localTs: number): number {
  const before = offsetMs(zone, localTs - 2 * DAY_MS);
  const after = offsetMs(zone, localTs + 2 * DAY_MS);
  // Usual case: no change in sight, one candidate.
  if (before === after && offsetMs(zone, localTs - before) === before) return localTs - before;
  const offsets = new Set<number>([before, after]);
  for (const probe of [-1, 0, 1]) offsets.add(offsetMs(zone, localTs + probe * DAY_MS));
  let best = Infinity;
  for (const o of offsets) {
    const t = localTs - o;
    if (offsetMs(zone, t) === o && t < best) best = t;
  }
  if (best !== Infinity) return best;
  // In a gap: the first instant whose local time is at or after the wall time.
  let lo = localTs - Math.max(...offsets); // local time here is before the wall time
  let hi = localTs - Math.min(...offsets); // and here after it
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (mid + offsetMs(zone, mid) >= localTs) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Local civil day number (days since 1970-01-01 in the zone) of an instant. */
function localDay(zone: IANAZone, ts: number): number {
  return Math.floor((ts + offsetMs(zone, ts)) / DAY_MS);
}

function isoDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

const NO_INTERVALS: ReadonlyArray<readonly [number, number]> = [];
const MAX_CACHED_DAYS = 20_000;

/** Open intervals [start, end) in epoch ms of one local day, in order. */
function dayIntervals(c: Compiled, day: number): ReadonlyArray<readonly [number, number]> {
  const ranges = c.week[new Date(day * DAY_MS).getUTCDay()] ?? [];
  if (ranges.length === 0 || c.holidays.has(isoDate(day))) return NO_INTERVALS;
  const hit = c.days.get(day);
  if (hit) return hit;
  const base = day * DAY_MS;
  const out: Array<readonly [number, number]> = [];
  for (const [s, e] of ranges) {
    const start = wallToInstant(c.zone, base + s * MINUTE_MS);
    const end = wallToInstant(c.zone, base + e * MINUTE_MS);
    if (end > start) out.push([start, end]);
  }
  if (c.days.size >= MAX_CACHED_DAYS) c.days.clear();
  c.days.set(day, out);
  return out;
}

function instant(d: Date, what: string): number {
  const t = d instanceof Date ? d.getTime() : NaN;
  if (!Number.isFinite(t)) throw new RangeError(`${what} is not a valid date`);
  return t;
}

function checkMs(ms: number): void {
  if (!Number.isFinite(ms))
    throw new RangeError(`duration must be a finite number of ms, got ${ms}`);
}

function assertOpenSometimes(c: Compiled, cal: BusinessCalendar): void {
  if (c.neverOpen) throw new RangeError(`calendar in ${cal.timezone} has no opening hours`);
}

/**
 * The instant at which `ms` of business time has elapsed after `from`; counting starts at
 * the next opening when `from` is outside hours. 0 returns `from`. A negative `ms` counts
 * backwards: the latest instant with `-ms` of business time between it and `from`.
 */
export function addBusinessTime(cal: BusinessCalendar, from: Date, ms: number): Date {
  const t0 = instant(from, 'from');
  checkMs(ms);
  if (ms === 0) return new Date(t0);
  const c = compile(cal);
  if (c.always) return new Date(t0 + ms);
  assertOpenSometimes(c, cal);
  return new Date(ms > 0 ? forward(c, t0, ms) : backward(c, t0, -ms));
}

function forward(c: Compiled, t0: number, ms: number): number {
  let remaining = ms;
  let closedDays = 0;
  // Start a day early: around a transition at midnight the local date can step back.
  for (let day = localDay(c.zone, t0) - 1; ; day++) {
    let open = false;
    for (const [s, e] of dayIntervals(c, day)) {
      if (e <= t0) continue;
      open = true;
      const from = Math.max(s, t0);
      if (remaining <= e - from) return from + remaining;
      remaining -= e - from;
    }
    closedDays = open ? 0 : closedDays + 1;
    if (closedDays > MAX_CLOSED_DAYS) throw new RangeError('calendar is closed for over ten years');
  }
}

function backward(c: Compiled, t0: number, ms: number): number {
  let remaining = ms;
  let closedDays = 0;
  for (let day = localDay(c.zone, t0) + 1; ; day--) {
    let open = false;
    const intervals = dayIntervals(c, day);
    for (let i = intervals.length - 1; i >= 0; i--) {
      const [s, e] = intervals[i] as readonly [number, number];
      if (s >= t0) continue;
      open = true;
      const to = Math.min(e, t0);
      if (remaining <= to - s) return to - remaining;
      remaining -= to - s;
    }
    closedDays = open ? 0 : closedDays + 1;
    if (closedDays > MAX_CLOSED_DAYS) throw new RangeError('calendar is closed for over ten years');
  }
}

/** Milliseconds of business time in [from, to); 0 when `to` is not after `from`. */
export function businessTimeBetween(cal: BusinessCalendar, from: Date, to: Date): number {
  const a = instant(from, 'from');
  const b = instant(to, 'to');
  if (b <= a) return 0;
  const c = compile(cal);
  if (c.always) return b - a;
  let total = 0;
  const last = localDay(c.zone, b) + 1;
  for (let day = localDay(c.zone, a) - 1; day <= last; day++) {
    for (const [s, e] of dayIntervals(c, day)) {
      const lo = Math.max(s, a);
      const hi = Math.min(e, b);
      if (hi > lo) total += hi - lo;
    }
  }
  return total;
}

/** Whether the calendar is open at this instant (opening inclusive, closing exclusive). */
export function isBusinessTime(cal: BusinessCalendar, at: Date): boolean {
  const t = instant(at, 'at');
  const c = compile(cal);
  if (c.always) return true;
  const day = localDay(c.zone, t);
  for (let d = day - 1; d <= day + 1; d++) {
    for (const [s, e] of dayIntervals(c, d)) if (s <= t && t < e) return true;
  }
  return false;
}
