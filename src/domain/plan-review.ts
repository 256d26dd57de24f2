/**
 * The annual review of the response plan: when it is due, and how loudly to say so. Pure.
 * Dates are calendar days (YYYY-MM-DD, UTC), as the plan writes them.
 */

/** The managers' digest and `incidesk status` warn from this many days before the due date. */
export const PLAN_REVIEW_WARN_DAYS = 30;
/** An approved review is next due this many years later, unless the approver says otherwise. */
export const PLAN_REVIEW_INTERVAL_YEARS = 1;

const DAY_MS = 86_400_000;

export interface PlanReviewFields {
  reviewedAt?: string;
  reviewedBy?: string;
  nextReviewDue?: string;
}

export type PlanReviewState =
  | { state: 'never' }
  | { state: 'current' | 'due-soon' | 'overdue'; nextReviewDue: string; daysLeft: number };

export const utcDay = (d: Date) => d.toISOString().slice(0, 10);

/**
 * Where the plan's review stands on `now`'s UTC day: `overdue` from the day after it was due,
 * `due-soon` within PLAN_REVIEW_WARN_DAYS of it, `never` when the plan names no due date.
 */
export function planReviewState(plan: PlanReviewFields, now: Date): PlanReviewState {
  if (!plan.nextReviewDue) return { state: 'never' };
  const today = Date.parse(`${utcDay(now)}T00:00:00Z`);
  const daysLeft = Math.round((Date.parse(`${plan.nextReviewDue}T00:00:00Z`) - today) / DAY_MS);
  const state =
    daysLeft < 0 ? 'overdue' : daysLeft <= PLAN_REVIEW_WARN_DAYS ? 'due-soon' : 'current';
  return { state, nextReviewDue: plan.nextReviewDue, daysLeft };
}

/** One sentence for a log line, `incidesk status` and the digest; null when all is well. */
export function planReviewWarning(plan: PlanReviewFields, now: Date): string | null {
  const s = planReviewState(plan, now);
  const last = plan.reviewedAt
    ? ` (last reviewed ${plan.reviewedAt}${plan.reviewedBy ? ` by ${plan.reviewedBy}` : ''})`
    : '';
  switch (s.state) {
    case 'never':
      return 'The response plan has no review date (nextReviewDue): review it and approve it with `incidesk plan review --approve`.';
    case 'overdue':
      return `The response plan's annual review is overdue: it was due ${s.nextReviewDue}${last}.`;
    case 'due-soon':
      return `The response plan's annual review is due ${s.nextReviewDue}, in ${s.daysLeft} day${s.daysLeft === 1 ? '' : 's'}${last}.`;
    case 'current':
      return null;
  }
}

/**
 * What the managers' digest says about the review: the warning from PLAN_REVIEW_WARN_DAYS
 * before the due date on, nothing before (nor for a plan with no date: start-up and
 * `incidesk status` say that, every digest need not).
 */
export function digestPlanReviewNotice(plan: PlanReviewFields, now: Date): string | null {
  const { state } = planReviewState(plan, now);
  return state === 'due-soon' || state === 'overdue' ? planReviewWarning(plan, now) : null;
}

/** The same calendar day `years` later (29 February becomes 28 February). */
export function addYears(day: string, years: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const target = new Date(Date.UTC(y + years, m - 1, d));
  if (target.getUTCMonth() !== m - 1) target.setUTCDate(0);
  return utcDay(target);
}
