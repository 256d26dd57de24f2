import { describe, expect, it } from 'vitest';
import {
  addYears,
  digestPlanReviewNotice,
  planReviewState,
  planReviewWarning,
} from '../../src/domain/plan-review.js';
import { parsePlan, PlanError } from '../../src/plan/load.js';

const at = (day: string) => new Date(`${day}T15:30:00Z`);
const plan = { reviewedAt: '2026-03-01', reviewedBy: 'mia', nextReviewDue: '2027-03-01' };

describe('planReviewState', () => {
  it('is current until 30 days before the due date, then due soon, then overdue the day after', () => {
    expect(planReviewState(plan, at('2027-01-29'))).toEqual({
      state: 'current',
      nextReviewDue: '2027-03-01',
      daysLeft: 31,
    });
    expect(planReviewState(plan, at('2027-01-30')).state).toBe('due-soon');
    expect(planReviewState(plan, at('2027-03-01'))).toMatchObject({
      state: 'due-soon',
      daysLeft: 0,
    });
    expect(planReviewState(plan, at('2027-03-02'))).toMatchObject({
      state: 'overdue',
      daysLeft: -1,
    });
    expect(planReviewState({}, at('2027-03-02'))).toEqual({ state: 'never' });
  });

  it('says so in one sentence, and nothing while current', () => {
    expect(planReviewWarning(plan, at('2026-06-01'))).toBeNull();
    expect(planReviewWarning(plan, at('2027-02-27'))).toBe(
      "The response plan's annual review is due 2027-03-01, in 2 days (last reviewed 2026-03-01 by mia).",
    );
    expect(planReviewWarning(plan, at('2027-04-01'))).toBe(
      "The response plan's annual review is overdue: it was due 2027-03-01 (last reviewed 2026-03-01 by mia).",
    );
    expect(planReviewWarning({}, at('2027-04-01'))).toMatch(/has no review date/);
  });
});

describe('digestPlanReviewNotice', () => {
  it('warns in the digest from 30 days before the due date, not before, not without a date', () => {
    expect(digestPlanReviewNotice(plan, at('2027-01-29'))).toBeNull();
    expect(digestPlanReviewNotice(plan, at('2027-01-30'))).toMatch(/due 2027-03-01, in 30 days/);
    expect(digestPlanReviewNotice(plan, at('2027-05-01'))).toMatch(/overdue/);
    expect(digestPlanReviewNotice({}, at('2027-05-01'))).toBeNull();
  });
});

describe('addYears', () => {
  it('keeps the calendar day, and 29 February becomes 28 February', () => {
    expect(addYears('2026-12-07', 1)).toBe('2027-12-07');
    expect(addYears('2028-02-29', 1)).toBe('2029-02-28');
  });
});

describe('plan review fields', () => {
  const problems = (extra: string) => {
    try {
      parsePlan(`version: 1\norganisation: X\n${extra}`);
      return [];
    } catch (err) {
      return (err as PlanError).problems;
    }
  };
  it('are calendar dates, the next review after the last', () => {
    expect(
      problems('reviewedAt: 2026-03-01\nreviewedBy: mia\nnextReviewDue: 2027-03-01\n'),
    ).toEqual([]);
    expect(problems('nextReviewDue: 2027-02-30\n')).toEqual(['nextReviewDue: not a calendar date']);
    expect(problems('reviewedAt: March\n')).toEqual(['reviewedAt: a date like 2027-03-01']);
    expect(problems('reviewedAt: 2027-03-01\nnextReviewDue: 2027-03-01\n')).toEqual([
      'nextReviewDue: must come after reviewedAt (2027-03-01)',
    ]);
  });
});
