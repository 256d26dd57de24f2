import { describe, it, expect } from 'vitest';
import { parseDuration } from '../../src/domain/duration.js';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each([
    ['15m', 15 * M],
    ['4h', 4 * H],
    ['1h30m', H + 30 * M],
    ['2d', 2 * D],
    ['1d2h3m', D + 2 * H + 3 * M],
    ['1d30m', D + 30 * M],
    ['0m', 0],
    ['90m', 90 * M],
    ['48h', 2 * D],
    ['30s', 30_000],
    ['1m30s', 90_000],
  ])('%s is %i ms', (s, ms) => {
    expect(parseDuration(s)).toBe(ms);
  });

  it('a day is 24 hours of business time, not a calendar day', () => {
    expect(parseDuration('1d')).toBe(parseDuration('24h'));
  });

  it.each([
    '',
    '15',
    'm',
    '1h 30m',
    ' 4h',
    '4h ',
    '30m1h',
    '1.5h',
    '-1h',
    '4H',
    '2w',
    '1s1m',
    '1.5s',
    'h4',
    '1h1h',
    'abc',
  ])('rejects %j with a RangeError', (s) => {
    expect(() => parseDuration(s)).toThrow(RangeError);
  });

  it('rejects durations beyond safe integers', () => {
    expect(() => parseDuration('99999999999999999d')).toThrow(RangeError);
  });
});
