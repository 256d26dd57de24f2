import { describe, expect, it } from 'vitest';
import { formatTime } from '../../src/domain/time-format.js';

describe('formatTime', () => {
  const at = new Date('2026-12-07T13:30:00Z');

  it('writes English and German in the reader’s zone, naming the zone', () => {
    expect(formatTime(at, 'Europe/Berlin', 'en')).toBe('Mon, 7 Dec 2026, 14:30 CET');
    expect(formatTime(at, 'Europe/Berlin', 'de')).toBe('Mo., 7. Dez. 2026, 14:30 MEZ');
    expect(formatTime(at, 'UTC', 'en')).toBe('Mon, 7 Dec 2026, 13:30 UTC');
  });

  it('follows summer time and crosses the date line of the reader', () => {
    expect(formatTime(new Date('2026-07-01T22:30:00Z'), 'Europe/Berlin', 'de')).toBe(
      'Do., 2. Juli 2026, 00:30 MESZ',
    );
    expect(formatTime(new Date('2026-12-06T21:16:57.326Z'), 'America/New_York', 'en')).toBe(
      'Sun, 6 Dec 2026, 16:16 GMT-5',
    );
  });

  it('uses a 24-hour clock and day-month order for English', () => {
    expect(formatTime(new Date('2026-12-07T00:05:00Z'), 'UTC', 'en')).toBe(
      'Mon, 7 Dec 2026, 00:05 UTC',
    );
  });
});
