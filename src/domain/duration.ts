/** Business time: "15m", "4h", "1h30m", "2d" (a day is 24 hours of business time), "30s". */
export const durationPattern = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
/** A plan day is 24 hours of business time, not a calendar day. */
const DAY_MS = 24 * HOUR_MS;

/**
 * Milliseconds of a plan duration: "15m", "4h", "1h30m", "2d", "90s" (units in the order d, h,
 * m, s, each at most once, at least one present; a day is 24 hours; seconds are for drills and
 * tests). Anything else is a RangeError.
 */
export function parseDuration(s: string): number {
  const m = typeof s === 'string' && s.length > 0 ? durationPattern.exec(s) : null;
  if (!m) {
    throw new RangeError(`not a duration like 15m, 4h, 1h30m or 2d: ${JSON.stringify(s)}`);
  }
  const [, d, h, min, sec] = m;
  const ms =
    Number(d ?? 0) * DAY_MS +
    Number(h ?? 0) * HOUR_MS +
    Number(min ?? 0) * MINUTE_MS +
    Number(sec ?? 0) * SECOND_MS;
  if (!Number.isSafeInteger(ms)) throw new RangeError(`duration too large: ${JSON.stringify(s)}`);
  return ms;
}
