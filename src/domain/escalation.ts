/**
 * What the SLA sweep should do about an incident now, and when to look again. Pure: the
 * caller loads the incident and the plan, and carries out the decision.
 */
import type { EscalationStep, Plan, Priority } from '../plan/schema.js';
import { calendarFor, type BusinessCalendar } from './business-time.js';
import { parseDuration } from './duration.js';
import { dueAt, warnAt, type SlaClock } from './sla.js';

export type ClockName = 'firstResponse' | 'resolution';
export type TrackedClock = SlaClock & { warnedAt?: Date | null; breachedAt?: Date | null };

export interface SlaState {
  clocks: Partial<Record<ClockName, TrackedClock | null | undefined>>;
  escalationLevel: number;
  lastEscalatedAt?: Date | null;
}

export type SlaAction =
  | { kind: 'warn'; clock: ClockName; dueAt: Date }
  | { kind: 'breach'; clock: ClockName; dueAt: Date }
  | { kind: 'escalate'; level: number; step: EscalationStep };

export interface SlaReview {
  actions: SlaAction[];
  /** When to look again; null when nothing is pending. */
  nextCheckAt: Date | null;
}

const CLOCKS: ClockName[] = ['firstResponse', 'resolution'];

type GroupPlan = Pick<Plan, 'groups' | 'calendars' | 'escalation'>;
const groupOf = (plan: Pick<Plan, 'groups'>, group: string | null | undefined) =>
  group ? plan.groups.find((g) => g.id === group) : undefined;

/** The business calendar an incident of `group` is timed in (no group: always open). */
export function groupCalendar(plan: GroupPlan, group: string | null | undefined): BusinessCalendar {
  return calendarFor(plan, groupOf(plan, group)?.calendar ?? 'always');
}

/** The escalation chain of `group`: its own, else the plan's. */
export function groupEscalationChain(
  plan: GroupPlan,
  group: string | null | undefined,
): readonly EscalationStep[] {
  return groupOf(plan, group)?.escalation ?? plan.escalation.chain;
}

/** The SLA targets of a priority, in ms of business time. */
export function slaTargets(plan: Pick<Plan, 'sla'>, priority: Priority) {
  const targets = plan.sla[priority];
  return {
    firstResponse: parseDuration(targets.firstResponse),
    resolution: parseDuration(targets.resolution),
  };
}

/**
 * A clock moved to a new priority's target: the business time it used is kept, and it may
 * warn and breach again against the new target.
 */
export function retargetClock<C extends TrackedClock>(clock: C, targetMs: number): C {
  return { ...clock, targetMs, warnedAt: null, breachedAt: null };
}

/**
 * Warnings and breaches for running clocks, then at most one escalation step: the first at a
 * new breach, each further one `repeatAfterMs` after the last while a clock stays breached.
 */
export function reviewSla(
  state: SlaState,
  cal: BusinessCalendar,
  policy: { warnFraction: number; repeatAfterMs: number; chain: readonly EscalationStep[] },
  now: Date,
): SlaReview {
  const actions: SlaAction[] = [];
  const upcoming: Date[] = [];
  let breachedNow = false;
  let breached = false;
  for (const name of CLOCKS) {
    const clock = state.clocks[name];
    if (!clock || !clock.runningSince) continue;
    const due = dueAt(clock, cal)!;
    if (clock.breachedAt) {
      breached = true;
      continue;
    }
    if (due <= now) {
      actions.push({ kind: 'breach', clock: name, dueAt: due });
      breachedNow = breached = true;
      continue;
    }
    upcoming.push(due);
    const warn = warnAt(clock, cal, policy.warnFraction);
    if (!clock.warnedAt && warn) {
      if (warn <= now) actions.push({ kind: 'warn', clock: name, dueAt: due });
      else upcoming.push(warn);
    }
  }
  const level = state.escalationLevel;
  const step = policy.chain[level];
  if (breached && step) {
    const nextAt = state.lastEscalatedAt
      ? new Date(state.lastEscalatedAt.getTime() + policy.repeatAfterMs)
      : now;
    if (breachedNow || nextAt <= now) {
      actions.push({ kind: 'escalate', level: level + 1, step });
      if (policy.chain[level + 1]) upcoming.push(new Date(now.getTime() + policy.repeatAfterMs));
    } else {
      upcoming.push(nextAt);
    }
  }
  const nextCheckAt = upcoming.length
    ? new Date(Math.min(...upcoming.map((d) => d.getTime())))
    : null;
  return { actions, nextCheckAt };
}

/**
 * When the sweep must look at an incident after a change that carries out none of the
 * review's actions (clocks started, paused, resumed, retargeted, moved to another calendar):
 * at once when the review has any (a clock already due, a warning owed), else at its next
 * look. So an unbreached running clock is never due before the incident's `slaCheckAt` unless
 * that look is already due, which is what lets a digest find the incidents due soon by a range
 * of `slaCheckAt` (src/store/reporting.ts).
 */
export function slaCheckAfterChange(review: SlaReview, now: Date): Date | null {
  return review.actions.length ? now : review.nextCheckAt;
}

/**
 * Whom a "lead" or "manager" escalation step tells. Escalating to the person who already
 * has the incident achieves nothing: a lead who is the assignee is passed over for the
 * group's manager; with nobody else above, nobody is told, and `skipped` says why.
 */
export function escalationRecipient(
  step: 'lead' | 'manager',
  group: { lead?: string | null; manager?: string | null } | undefined,
  assignee: string | null | undefined,
): { to: string | null; role: 'lead' | 'manager'; skipped?: string } {
  const named = step === 'lead' ? group?.lead : group?.manager;
  if (!named || named !== assignee) return { to: named ?? null, role: step };
  const above = step === 'lead' ? group?.manager : undefined;
  if (above && above !== assignee)
    return {
      to: above,
      role: 'manager',
      skipped: `the ${step} (${named}) is the assignee: told the manager`,
    };
  return {
    to: null,
    role: step,
    skipped: `the ${step} (${named}) is the assignee and nobody is above them: nobody else was told`,
  };
}
