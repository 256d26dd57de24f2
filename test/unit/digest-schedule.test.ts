import { describe, expect, it } from 'vitest';
import {
  duePeriods,
  parsePeriodSpec,
  periodContaining,
  periodOfDate,
  previousWindow,
  sendTime,
  trailingWindows,
} from '../../src/domain/digest-schedule.js';

const d = (iso: string) => new Date(iso);

describe('digest periods', () => {
  it('a local day in Berlin is 23:00Z to 23:00Z in winter', () => {
    const w = periodContaining('daily', d('2026-11-24T10:00:00Z'), 'Europe/Berlin');
    expect(w.start.toISOString()).toBe('2026-11-23T23:00:00.000Z');
    expect(w.end.toISOString()).toBe('2026-11-24T23:00:00.000Z');
    expect(w.key).toBe('20261124');
  });

  it('the day DST starts is 23 hours long, the day it ends 25', () => {
    const spring = periodContaining('daily', d('2026-03-29T12:00:00Z'), 'Europe/Berlin');
    expect(spring.end.getTime() - spring.start.getTime()).toBe(23 * 3600_000);
    const autumn = periodContaining('daily', d('2026-10-25T12:00:00Z'), 'Europe/Berlin');
    expect(autumn.end.getTime() - autumn.start.getTime()).toBe(25 * 3600_000);
    const ny = periodContaining('daily', d('2026-11-01T12:00:00Z'), 'America/New_York');
    expect(ny.start.toISOString()).toBe('2026-11-01T04:00:00.000Z');
    expect(ny.end.toISOString()).toBe('2026-11-02T05:00:00.000Z');
  });

  it('weeks start on Monday, months on the 1st, in the local zone', () => {
    const week = periodContaining('weekly', d('2026-11-26T12:00:00Z'), 'Asia/Tokyo');
    expect(week.start.toISOString()).toBe('2026-11-22T15:00:00.000Z'); // Mon 23 Nov 00:00 JST
    expect(week.key).toBe('20261123');
    const month = periodContaining('monthly', d('2026-03-01T02:00:00Z'), 'America/Los_Angeles');
    expect(month.key).toBe('20260201'); // still February in Los Angeles
    expect(month.end.toISOString()).toBe('2026-03-01T08:00:00.000Z');
    expect(previousWindow(month).key).toBe('20260101');
  });

  it('trailing windows end with the given one, oldest first', () => {
    const w = periodContaining('monthly', d('2026-11-24T10:00:00Z'), 'UTC');
    const t = trailingWindows(w, 12);
    expect(t.map((x) => x.key)).toEqual([
      '20251201',
      '20260101',
      '20260201',
      '20260301',
      '20260401',
      '20260501',
      '20260601',
      '20260701',
      '20260801',
      '20260901',
      '20261001',
      '20261101',
    ]);
  });

  it('is due from the recipient hour on the day after the period', () => {
    const schedule = { hour: 7, timezone: 'Europe/Berlin', periods: ['daily'] as const };
    // 05:59 UTC = 06:59 Berlin: yesterday's digest is not due yet; the day before's still is.
    expect(duePeriods(d('2026-11-24T05:59:00Z'), schedule)[0]!.key).toBe('20261122');
    expect(duePeriods(d('2026-11-24T06:00:00Z'), schedule)[0]!.key).toBe('20261123');
    // Down at 07:00, up at 15:00: the same digest is still the one due (sent once by its id).
    expect(duePeriods(d('2026-11-24T14:00:00Z'), schedule)[0]!.key).toBe('20261123');
  });

  it('the same instant is a different local day in Auckland and Los Angeles', () => {
    const at = d('2026-11-24T20:30:00Z'); // Wed 09:30 NZDT, Tue 12:30 PST
    const nz = duePeriods(at, { hour: 9, timezone: 'Pacific/Auckland', periods: ['daily'] });
    const la = duePeriods(at, { hour: 9, timezone: 'America/Los_Angeles', periods: ['daily'] });
    expect(nz[0]!.key).toBe('20261124');
    expect(la[0]!.key).toBe('20261123');
  });

  it('weekly on Monday, monthly on the 1st; before the hour the previous one is due', () => {
    const s = { hour: 8, timezone: 'UTC', periods: ['weekly', 'monthly'] as const };
    const [week, month] = duePeriods(d('2026-11-30T08:00:00Z'), s);
    expect(week!.key).toBe('20261123');
    expect(week!.end.toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(month!.key).toBe('20261001'); // November's is due on 1 December
    const [, dec] = duePeriods(d('2026-12-01T08:00:00Z'), s);
    expect(dec!.key).toBe('20261101');
    const [weekBefore] = duePeriods(d('2026-11-30T07:59:59Z'), s);
    expect(weekBefore!.key).toBe('20261116');
  });

  it('an hour that does not exist (DST gap) is moved forward, not skipped', () => {
    const w = periodContaining('daily', d('2026-03-07T12:00:00Z'), 'America/New_York');
    // 8 March 2026 02:00 does not exist in New York: sent at 03:00 EDT = 07:00Z.
    expect(sendTime(w, 2).toISOString()).toBe('2026-03-08T07:00:00.000Z');
  });

  it('only closed periods; after the last one sent, every missed one is caught up', () => {
    const s = { hour: 7, timezone: 'UTC', periods: ['daily'] as const };
    const now = d('2026-11-27T08:00:00Z'); // Friday: Thursday's is due
    const keys = (opts: Parameters<typeof duePeriods>[2]) =>
      duePeriods(now, s, opts).map((w) => w.key);
    expect(keys({})).toEqual(['20261126']);
    for (const w of duePeriods(now, s, { lastSent: { daily: '20261101' } }))
      expect(w.end <= now).toBe(true);
    // Down from Tuesday morning to Friday: Tuesday's, Wednesday's and Thursday's all go out.
    expect(keys({ lastSent: { daily: '20261123' } })).toEqual(['20261124', '20261125', '20261126']);
    expect(keys({ lastSent: { daily: '20261126' } })).toEqual([]);
    // A week's outage sends at most maxCatchUp.
    expect(keys({ lastSent: { daily: '20261101' }, maxCatchUp: 2 })).toEqual([
      '20261125',
      '20261126',
    ]);
  });

  it('nothing for periods that ended before the installation or first incident', () => {
    const s = { hour: 7, timezone: 'UTC', periods: ['daily', 'weekly'] as const };
    const now = d('2026-11-27T08:00:00Z');
    // Installed on Thursday at noon: Thursday's daily is due, last week's weekly is not.
    expect(duePeriods(now, s, { notBefore: d('2026-11-26T12:00:00Z') }).map((w) => w.key)).toEqual([
      '20261126',
    ]);
    expect(duePeriods(now, s, { notBefore: d('2026-11-27T00:00:00Z') })).toEqual([]);
    expect(
      duePeriods(now, s, {
        notBefore: d('2026-11-25T00:00:00Z'),
        lastSent: { daily: '20261101' },
      }).map((w) => w.key),
    ).toEqual(['20261125', '20261126']);
  });

  it('period specs and the period of a local date', () => {
    expect(parsePeriodSpec('daily')).toEqual({ period: 'daily', date: null });
    expect(parsePeriodSpec('weekly:2026-11-18')).toEqual({ period: 'weekly', date: '2026-11-18' });
    expect(() => parsePeriodSpec('hourly')).toThrow(RangeError);
    expect(() => parsePeriodSpec('daily:2026-13-01')).toThrow(RangeError);
    expect(periodOfDate('weekly', '2026-11-18', 'Europe/Berlin')).toMatchObject({
      key: '20261116',
      start: d('2026-11-15T23:00:00Z'),
    });
    // The day the clocks go back in Berlin is 25 hours long and still that day.
    const w = periodOfDate('daily', '2026-10-25', 'Europe/Berlin');
    expect([w.key, (w.end.getTime() - w.start.getTime()) / 3600_000]).toEqual(['20261025', 25]);
  });
});
