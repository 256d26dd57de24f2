import { describe, it, expect } from 'vitest';
import { DateTime } from 'luxon';
import {
  ALWAYS,
  addBusinessTime,
  businessTimeBetween,
  calendarFor,
  isBusinessTime,
  type BusinessCalendar,
} from '../../src/domain/business-time.js';
import type { PlanCalendar } from '../../src/plan/schema.js';
import { mulberry32 } from '../support/prng.js';

const M = 60_000;
const H = 60 * M;

/** A local wall-clock time in a zone as a Date (only for unambiguous times). */
function at(local: string, zone = 'Europe/Berlin'): Date {
  const dt = DateTime.fromISO(local, { zone });
  if (!dt.isValid) throw new Error(`bad test time ${local}`);
  return dt.toJSDate();
}
const utc = (iso: string): Date => new Date(`${iso}Z`);

const office: BusinessCalendar = {
  timezone: 'Europe/Berlin',
  hours: {
    mon: ['08:00-18:00'],
    tue: ['08:00-18:00'],
    wed: ['08:00-18:00'],
    thu: ['08:00-18:00'],
    fri: ['08:00-16:00'],
  },
  holidays: ['2026-12-24', '2026-12-25', '2026-12-26', '2027-01-01'],
};

/** Open around the clock on every day, but as ranges in Berlin local time. */
const berlinAllDay: BusinessCalendar = {
  timezone: 'Europe/Berlin',
  hours: Object.fromEntries(
    ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, ['00:00-24:00']]),
  ),
  holidays: [],
};

describe('calendarFor', () => {
  const calendars: Record<string, PlanCalendar> = {
    office: { timezone: 'Europe/Berlin', hours: { mon: ['08:00-18:00'] }, holidays: [] },
  };

  it('"always" is the built-in 24x7 UTC calendar', () => {
    expect(calendarFor({ calendars }, 'always')).toBe(ALWAYS);
    expect(ALWAYS).toEqual({ timezone: 'UTC', hours: '24x7', holidays: [] });
  });

  it('returns a plan calendar by id', () => {
    expect(calendarFor({ calendars }, 'office')).toBe(calendars.office);
  });

  it('throws on an unknown id (including inherited property names)', () => {
    expect(() => calendarFor({ calendars }, 'nope')).toThrow(/unknown calendar "nope"/);
    expect(() => calendarFor({ calendars }, 'constructor')).toThrow(RangeError);
  });

  it('accepts a plan calendar where a BusinessCalendar is expected (same shape)', () => {
    const c: BusinessCalendar = calendars.office as PlanCalendar;
    expect(isBusinessTime(c, at('2026-01-12T09:00'))).toBe(true);
  });
});

describe('24x7', () => {
  it('ALWAYS: everything is business time', () => {
    const a = utc('2026-03-29T00:30:00');
    expect(isBusinessTime(ALWAYS, a)).toBe(true);
    expect(addBusinessTime(ALWAYS, a, 5 * H).toISOString()).toBe('2026-03-29T05:30:00.000Z');
    expect(businessTimeBetween(ALWAYS, a, utc('2026-04-01T00:30:00'))).toBe(72 * H);
  });

  it('a 24x7 calendar with a holiday closes that local day (25 h on the autumn change day)', () => {
    const cal: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: '24x7',
      holidays: ['2026-10-25'],
    };
    expect(businessTimeBetween(cal, utc('2026-10-24T00:00:00'), utc('2026-10-27T00:00:00'))).toBe(
      72 * H - 25 * H,
    );
    expect(isBusinessTime(cal, at('2026-10-25T12:00'))).toBe(false);
    expect(isBusinessTime(cal, at('2026-10-24T23:59'))).toBe(true);
    // Sat 23:00 + 2 h: one hour on Saturday, the rest from Monday 00:00 local.
    expect(addBusinessTime(cal, at('2026-10-24T23:00'), 2 * H)).toEqual(at('2026-10-26T01:00'));
  });
});

describe('isBusinessTime', () => {
  it('opening is inclusive, closing exclusive, in local time', () => {
    expect(isBusinessTime(office, at('2026-01-12T07:59:59.999'))).toBe(false);
    expect(isBusinessTime(office, at('2026-01-12T08:00'))).toBe(true);
    expect(isBusinessTime(office, utc('2026-01-12T07:00:00'))).toBe(true); // 08:00 CET
    expect(isBusinessTime(office, at('2026-01-12T17:59:59.999'))).toBe(true);
    expect(isBusinessTime(office, at('2026-01-12T18:00'))).toBe(false);
    expect(isBusinessTime(office, at('2026-01-16T16:00'))).toBe(false); // Friday closes at 16
    expect(isBusinessTime(office, at('2026-01-16T15:59'))).toBe(true);
  });

  it('weekends, unlisted days and holidays are closed', () => {
    expect(isBusinessTime(office, at('2026-01-17T10:00'))).toBe(false); // Saturday
    expect(isBusinessTime(office, at('2026-01-18T10:00'))).toBe(false); // Sunday
    expect(isBusinessTime(office, at('2026-12-24T10:00'))).toBe(false); // Thursday holiday
    expect(isBusinessTime(office, at('2026-12-23T10:00'))).toBe(true);
  });

  it('uses the local time of the calendar, in summer too (CEST = UTC+2)', () => {
    expect(isBusinessTime(office, utc('2026-07-06T06:00:00'))).toBe(true); // 08:00 CEST Monday
    expect(isBusinessTime(office, utc('2026-07-06T05:59:00'))).toBe(false);
    expect(isBusinessTime(office, utc('2026-07-06T15:59:00'))).toBe(true);
    expect(isBusinessTime(office, utc('2026-07-06T16:00:00'))).toBe(false);
  });

  it('handles several ranges on a day and unsorted/overlapping ranges', () => {
    const cal: BusinessCalendar = {
      timezone: 'UTC',
      hours: { mon: ['13:00-17:00', '08:00-12:00', '11:00-11:30'] },
      holidays: [],
    };
    expect(isBusinessTime(cal, utc('2026-01-12T12:30:00'))).toBe(false); // lunch
    expect(isBusinessTime(cal, utc('2026-01-12T11:45:00'))).toBe(true);
    expect(businessTimeBetween(cal, utc('2026-01-12T00:00:00'), utc('2026-01-13T00:00:00'))).toBe(
      8 * H,
    );
  });

  it('rejects invalid dates and unknown time zones', () => {
    expect(() => isBusinessTime(office, new Date(NaN))).toThrow(RangeError);
    const bad: BusinessCalendar = {
      timezone: 'Mars/Olympus',
      hours: { mon: ['08:00-18:00'] },
      holidays: [],
    };
    expect(() => isBusinessTime(bad, utc('2026-01-12T10:00:00'))).toThrow(/time zone/);
  });
});

describe('addBusinessTime', () => {
  it('within one day', () => {
    expect(addBusinessTime(office, at('2026-01-12T09:00'), 90 * M)).toEqual(at('2026-01-12T10:30'));
  });

  it('across a night', () => {
    expect(addBusinessTime(office, at('2026-01-12T17:00'), 2 * H)).toEqual(at('2026-01-13T09:00'));
  });

  it('ending exactly at closing time gives the closing instant, not the next opening', () => {
    expect(addBusinessTime(office, at('2026-01-12T17:00'), H)).toEqual(at('2026-01-12T18:00'));
  });

  it('across a weekend (Friday closes at 16:00)', () => {
    expect(addBusinessTime(office, at('2026-01-16T15:00'), 2 * H)).toEqual(at('2026-01-19T09:00'));
  });

  it('starting outside hours counts from the next opening', () => {
    expect(addBusinessTime(office, at('2026-01-12T06:00'), 30 * M)).toEqual(at('2026-01-12T08:30'));
    expect(addBusinessTime(office, at('2026-01-12T19:00'), 30 * M)).toEqual(at('2026-01-13T08:30'));
    expect(addBusinessTime(office, at('2026-01-17T10:00'), H)).toEqual(at('2026-01-19T09:00'));
  });

  it('across holidays', () => {
    // Wed 23 Dec 17:00 + 2 h: Thu 24, Fri 25 holidays, Sat 26, Sun 27 → Mon 28 09:00.
    expect(addBusinessTime(office, at('2026-12-23T17:00'), 2 * H)).toEqual(at('2026-12-28T09:00'));
    // New Year's Day (Friday) is a holiday too.
    expect(addBusinessTime(office, at('2026-12-31T17:30'), H)).toEqual(at('2027-01-04T08:30'));
  });

  it('across the spring DST change (Berlin, 2026-03-29)', () => {
    // Fri 15:00 CET + 2 h → Mon 09:00 CEST, i.e. 07:00Z (a fixed offset would give 08:00Z).
    const r = addBusinessTime(office, at('2026-03-27T15:00'), 2 * H);
    expect(r.toISOString()).toBe('2026-03-30T07:00:00.000Z');
  });

  it('across the autumn DST change (Berlin, 2026-10-25)', () => {
    const r = addBusinessTime(office, at('2026-10-23T15:00'), 2 * H);
    expect(r.toISOString()).toBe('2026-10-26T08:00:00.000Z'); // Mon 09:00 CET
  });

  it('counts real elapsed time through the DST night', () => {
    // Sat 12:00 CET + 24 h business time on an all-day calendar = 24 real hours.
    const r = addBusinessTime(berlinAllDay, at('2026-03-28T12:00'), 24 * H);
    expect(r.toISOString()).toBe('2026-03-29T11:00:00.000Z'); // 13:00 CEST
  });

  it('in another zone (New York, spring forward 2026-03-08)', () => {
    const ny: BusinessCalendar = {
      timezone: 'America/New_York',
      hours: { fri: ['09:00-17:00'], mon: ['09:00-17:00'] },
      holidays: [],
    };
    // Fri 16:00 EST (21:00Z) + 2 h → Mon 10:00 EDT (14:00Z).
    const r = addBusinessTime(ny, utc('2026-03-06T21:00:00'), 2 * H);
    expect(r.toISOString()).toBe('2026-03-09T14:00:00.000Z');
  });

  it('10 business days (240 h) on the office calendar is exactly five working weeks', () => {
    expect(addBusinessTime(office, at('2026-01-12T08:00'), 240 * H)).toEqual(
      at('2026-02-13T16:00'),
    );
  });

  it('0 ms returns the start, even outside hours', () => {
    const sat = at('2026-01-17T10:00');
    expect(addBusinessTime(office, sat, 0)).toEqual(sat);
  });

  it('negative durations count backwards', () => {
    // Mon 09:00 - 2 h → Fri 15:00.
    expect(addBusinessTime(office, at('2026-01-19T09:00'), -2 * H)).toEqual(at('2026-01-16T15:00'));
    // From Saturday, backwards from Friday's closing.
    expect(addBusinessTime(office, at('2026-01-17T10:00'), -30 * M)).toEqual(
      at('2026-01-16T15:30'),
    );
  });

  it('returns a new Date and leaves the argument alone', () => {
    const from = at('2026-01-12T09:00');
    const copy = new Date(from);
    const r = addBusinessTime(office, from, 0);
    expect(r).not.toBe(from);
    addBusinessTime(office, from, H);
    expect(from).toEqual(copy);
  });

  it('rejects invalid input and calendars that never open', () => {
    expect(() => addBusinessTime(office, new Date(NaN), H)).toThrow(RangeError);
    expect(() => addBusinessTime(office, at('2026-01-12T09:00'), NaN)).toThrow(RangeError);
    const never: BusinessCalendar = { timezone: 'UTC', hours: {}, holidays: [] };
    expect(() => addBusinessTime(never, utc('2026-01-12T09:00:00'), H)).toThrow(RangeError);
    expect(businessTimeBetween(never, utc('2026-01-12T00:00:00'), utc('2026-02-12T00:00:00'))).toBe(
      0,
    );
  });

  it('a range whose end is before its start never opens', () => {
    const cal: BusinessCalendar = {
      timezone: 'UTC',
      hours: { mon: ['18:00-08:00', '09:00-10:00'] },
      holidays: [],
    };
    expect(businessTimeBetween(cal, utc('2026-01-12T00:00:00'), utc('2026-01-13T00:00:00'))).toBe(
      H,
    );
  });
});

describe('businessTimeBetween', () => {
  it('is 0 when to <= from', () => {
    const a = at('2026-01-12T10:00');
    expect(businessTimeBetween(office, a, a)).toBe(0);
    expect(businessTimeBetween(office, a, at('2026-01-12T09:00'))).toBe(0);
  });

  it('counts only opening hours across a night and a weekend', () => {
    expect(businessTimeBetween(office, at('2026-01-12T17:00'), at('2026-01-13T09:00'))).toBe(2 * H);
    expect(businessTimeBetween(office, at('2026-01-16T15:00'), at('2026-01-19T09:00'))).toBe(2 * H);
    // A whole week: 4 × 10 h + 8 h.
    expect(businessTimeBetween(office, at('2026-01-12T00:00'), at('2026-01-19T00:00'))).toBe(
      48 * H,
    );
  });

  it('skips holidays', () => {
    expect(businessTimeBetween(office, at('2026-12-21T00:00'), at('2026-12-28T00:00'))).toBe(
      30 * H,
    );
  });

  it('is [from, to): the closing instant itself is not counted', () => {
    expect(businessTimeBetween(office, at('2026-01-12T17:00'), at('2026-01-12T18:00'))).toBe(H);
    expect(businessTimeBetween(office, at('2026-01-12T18:00'), at('2026-01-12T18:00:00.001'))).toBe(
      0,
    );
    expect(businessTimeBetween(office, at('2026-01-12T08:00'), at('2026-01-12T08:00:00.001'))).toBe(
      1,
    );
  });

  it('00:00-24:00 on the spring change day is 23 hours, on the autumn change day 25', () => {
    const sundays: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: { sun: ['00:00-24:00'] },
      holidays: [],
    };
    const spring = businessTimeBetween(sundays, at('2026-03-27T00:00'), at('2026-04-01T00:00'));
    expect(spring).toBe(23 * H);
    const autumn = businessTimeBetween(sundays, at('2026-10-23T00:00'), at('2026-10-28T00:00'));
    expect(autumn).toBe(25 * H);
    const normal = businessTimeBetween(sundays, at('2026-06-05T00:00'), at('2026-06-10T00:00'));
    expect(normal).toBe(24 * H);
  });

  it('01:00-04:00 on the spring change day is 2 hours; on the autumn day 4 hours', () => {
    const night: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: { sun: ['01:00-04:00'] },
      holidays: [],
    };
    expect(businessTimeBetween(night, utc('2026-03-28T00:00:00'), utc('2026-03-30T00:00:00'))).toBe(
      2 * H,
    );
    expect(businessTimeBetween(night, utc('2026-10-24T00:00:00'), utc('2026-10-26T00:00:00'))).toBe(
      4 * H,
    );
    // Opens 01:00 CET = 00:00Z, closes 04:00 CEST = 02:00Z.
    expect(isBusinessTime(night, utc('2026-03-28T23:59:59'))).toBe(false);
    expect(isBusinessTime(night, utc('2026-03-29T00:00:00'))).toBe(true);
    expect(isBusinessTime(night, utc('2026-03-29T01:59:59'))).toBe(true);
    expect(isBusinessTime(night, utc('2026-03-29T02:00:00'))).toBe(false);
  });

  it('a range that lies inside the spring gap is empty; an ambiguous autumn hour counts twice', () => {
    const gap: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: { sun: ['02:00-02:30'] },
      holidays: [],
    };
    expect(businessTimeBetween(gap, utc('2026-03-28T00:00:00'), utc('2026-03-30T00:00:00'))).toBe(
      0,
    );
    expect(businessTimeBetween(gap, utc('2026-03-21T00:00:00'), utc('2026-03-23T00:00:00'))).toBe(
      30 * M,
    );
    // 02:00-03:00 on 2026-10-25: from the first 02:00 (00:00Z) to 03:00 CET (02:00Z).
    const amb: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: { sun: ['02:00-03:00'] },
      holidays: [],
    };
    expect(businessTimeBetween(amb, utc('2026-10-24T00:00:00'), utc('2026-10-26T00:00:00'))).toBe(
      2 * H,
    );
  });

  it('splitting a range at an ambiguous time does not change the total', () => {
    const whole: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: { sun: ['01:00-04:00'] },
      holidays: [],
    };
    const split: BusinessCalendar = {
      timezone: 'Europe/Berlin',
      hours: { sun: ['01:00-02:30', '02:30-04:00'] },
      holidays: [],
    };
    const from = utc('2026-10-24T00:00:00');
    const to = utc('2026-10-26T00:00:00');
    expect(businessTimeBetween(split, from, to)).toBe(businessTimeBetween(whole, from, to));
  });

  // Speed is not asserted here: a timed unit test fails on a loaded machine and proves nothing on
  // a quiet one. Long spans must still come out right.
  it('measures ten-year spans and 40-week targets exactly', () => {
    // A fresh calendar object, so nothing is cached yet.
    const cal: BusinessCalendar = { ...office, holidays: [...office.holidays] };
    const total = businessTimeBetween(cal, at('2020-01-01T00:00'), at('2030-01-01T00:00'));
    const due = addBusinessTime(cal, at('2020-01-06T08:00'), 240 * H * 40);
    expect(total).toBeGreaterThan(48 * H * 52 * 9);
    expect(businessTimeBetween(cal, at('2020-01-06T08:00'), due)).toBe(240 * H * 40);
  });
});

describe('properties (seeded random)', () => {
  const lunch: BusinessCalendar = {
    timezone: 'America/New_York',
    hours: { mon: ['09:00-12:00', '13:00-17:30'], wed: ['09:00-17:00'], sat: ['10:00-14:00'] },
    holidays: ['2026-07-04', '2026-11-26', '2026-12-25'],
  };
  const dstNight: BusinessCalendar = {
    timezone: 'Europe/Berlin',
    hours: {
      sun: ['01:00-04:00', '02:30-03:15', '22:00-24:00'],
      sat: ['00:00-24:00'],
      wed: ['11:11-11:12'],
    },
    holidays: [],
  };
  const cases: Array<[string, BusinessCalendar]> = [
    ['office', office],
    ['lunch breaks in New York', lunch],
    ['DST nights in Berlin', dstNight],
    ['all day in Berlin', berlinAllDay],
    ['always', ALWAYS],
  ];
  const START = Date.UTC(2025, 11, 1);
  const SPAN = 400 * 24 * H;

  it.each(cases)('businessTimeBetween(a, addBusinessTime(a, d)) === d (%s)', (_name, cal) => {
    const rnd = mulberry32(0x5eed);
    for (let k = 0; k < 300; k++) {
      const a = new Date(START + Math.floor(rnd() * SPAN));
      const d = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 4 * H : 300 * H));
      const due = addBusinessTime(cal, a, d);
      expect(due.getTime()).toBeGreaterThan(a.getTime());
      expect(businessTimeBetween(cal, a, due), `a=${a.toISOString()} d=${d}`).toBe(d);
      // The last millisecond counted is business time: the result is not pushed past a closing.
      expect(isBusinessTime(cal, new Date(due.getTime() - 1))).toBe(true);
    }
  });

  it.each(cases)('counting backwards is the inverse (%s)', (_name, cal) => {
    const rnd = mulberry32(42);
    for (let k = 0; k < 200; k++) {
      const a = new Date(START + Math.floor(rnd() * SPAN));
      const d = 1 + Math.floor(rnd() * 100 * H);
      const back = addBusinessTime(cal, a, -d);
      expect(businessTimeBetween(cal, back, a), `a=${a.toISOString()} d=${d}`).toBe(d);
      expect(isBusinessTime(cal, back)).toBe(true);
    }
  });

  it.each(cases)('between is additive and agrees with isBusinessTime (%s)', (_name, cal) => {
    const rnd = mulberry32(7);
    for (let k = 0; k < 200; k++) {
      const ts = [0, 1, 2].map(() => START + Math.floor(rnd() * SPAN)).sort((x, y) => x - y);
      const [a, b, c] = ts.map((t) => new Date(t)) as [Date, Date, Date];
      expect(businessTimeBetween(cal, a, c)).toBe(
        businessTimeBetween(cal, a, b) + businessTimeBetween(cal, b, c),
      );
      expect(businessTimeBetween(cal, a, new Date(a.getTime() + 1))).toBe(
        isBusinessTime(cal, a) ? 1 : 0,
      );
    }
  });
});
