/**
 * Playbooks: the response strategy for a category of incident, as ordered steps (containment,
 * eradication, recovery, verification), each with an owner role, an optional deadline counted
 * from the incident's start, and whether it is mandatory. Pure: which steps an incident gets,
 * when they fall due, when their owner is chased, and what keeps an incident from resolving.
 */
import { parseDuration } from './duration.js';

export const PHASES = ['containment', 'eradication', 'recovery', 'verification'] as const;
export type Phase = (typeof PHASES)[number];
/** Who answers for a step: the incident's assignee, or its group's lead or manager. */
export const STEP_OWNERS = ['assignee', 'lead', 'manager'] as const;
export type StepOwner = (typeof STEP_OWNERS)[number];
export type StepState = 'open' | 'done' | 'skipped';

/** A step as the plan writes it. */
export interface PlanStep {
  phase: Phase;
  title: string;
  owner: StepOwner;
  /** A plan duration ("30m", "4h") of wall-clock time after the incident started. */
  deadline?: string;
  mandatory: boolean;
}

/** A step as an incident carries it: numbered from 1, its deadline made a date. */
export interface IncidentStep {
  step: number;
  phase: Phase;
  title: string;
  owner: StepOwner;
  mandatory: boolean;
  dueAt: Date | null;
  state: StepState;
}

/**
 * The steps an incident of `category` gets, numbered in plan order. Deadlines are wall-clock
 * time from `startedAt` (when the incident was opened), not business time: containing a breach
 * does not wait for office hours.
 */
export function playbookFor(
  playbooks: Readonly<Record<string, readonly PlanStep[]>>,
  category: string | null | undefined,
  startedAt: Date,
): IncidentStep[] {
  const steps = (category && Object.hasOwn(playbooks, category) && playbooks[category]) || [];
  return steps.map((s, i) => ({
    step: i + 1,
    phase: s.phase,
    title: s.title,
    owner: s.owner,
    mandatory: s.mandatory,
    dueAt: s.deadline ? new Date(startedAt.getTime() + parseDuration(s.deadline)) : null,
    state: 'open',
  }));
}

/** Where the phases of a playbook run backwards (verification before containment), if anywhere. */
export function phaseOrderProblems(steps: readonly { phase: Phase }[]): string[] {
  const problems: string[] = [];
  steps.forEach((s, i) => {
    const prev = steps[i - 1];
    if (prev && PHASES.indexOf(s.phase) < PHASES.indexOf(prev.phase))
      problems.push(`step ${i + 1} (${s.phase}) comes after a ${prev.phase} step`);
  });
  return problems;
}

export const isOverdue = (s: Pick<IncidentStep, 'state' | 'dueAt'>, now: Date) =>
  s.state === 'open' && s.dueAt !== null && s.dueAt.getTime() < now.getTime();

/**
 * Which reminder an overdue step's owner gets now, as a number: 0 when it falls overdue, then
 * one more for every `everyMs` it stays open. The caller keys its mail by this number, so a
 * repeated or concurrent sweep chases once per period. `null`: nothing is due (not overdue, or
 * this period's reminder was sent).
 */
export function stepReminderDue(
  s: Pick<IncidentStep, 'state' | 'dueAt'> & { remindedSlot?: number | null },
  now: Date,
  everyMs: number,
): number | null {
  if (!isOverdue(s, now) || !s.dueAt) return null;
  const slot = Math.floor((now.getTime() - s.dueAt.getTime()) / everyMs);
  return s.remindedSlot != null && s.remindedSlot >= slot ? null : slot;
}

/** The gate: what keeps an incident of `priority` from resolving (empty: nothing). */
export function playbookProblems(input: {
  priority: string | null | undefined;
  requiredFor: readonly string[];
  steps: readonly Pick<IncidentStep, 'step' | 'title' | 'mandatory' | 'state'>[];
}): string[] {
  if (!input.priority || !input.requiredFor.includes(input.priority)) return [];
  const open = input.steps.filter((s) => s.mandatory && s.state === 'open');
  if (open.length === 0) return [];
  const list = open.map((s) => `${s.step} "${s.title}"`).join(', ');
  return [
    `${input.priority} needs every mandatory playbook step done or skipped with a reason; open: ${list} (#done <step> or #skip <step> <reason>)`,
  ];
}

/**
 * The agent who answers for a step of this incident: the holder of the step's role, else the
 * group's lead, else its manager (an unassigned incident's assignee steps go to the lead).
 */
export function stepOwnerId(
  owner: StepOwner,
  incident: { assignee?: string | null; group?: string | null },
  groups: readonly { id: string; lead?: string; manager?: string }[],
): string | undefined {
  const group = groups.find((g) => g.id === incident.group);
  const holder = owner === 'assignee' ? (incident.assignee ?? undefined) : group?.[owner];
  return holder ?? group?.lead ?? group?.manager;
}

/** `2`, `#2` or `step 2`: a step number as people write it. */
export function parseStepNumber(s: string): number | null {
  const m = /^(?:step\s*)?#?0*(\d{1,4})$/i.exec(s.trim());
  const n = m ? Number(m[1]) : NaN;
  return n >= 1 ? n : null;
}
