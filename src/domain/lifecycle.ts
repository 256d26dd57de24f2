/** The incident lifecycle: statuses, the actions that move between them, and related rules. */

export const STATUSES = [
  'new',
  'triaged',
  'assigned',
  'in-progress',
  'pending-customer',
  'resolved',
  'closed',
] as const;
export type Status = (typeof STATUSES)[number];

/** The statuses in which an incident is still being worked. */
export const OPEN_STATUSES = [
  'new',
  'triaged',
  'assigned',
  'in-progress',
  'pending-customer',
] as const satisfies readonly Status[];

export type LifecycleAction =
  | 'triage'
  | 'assign'
  | 'agent-reply'
  | 'wait-for-customer'
  | 'customer-reply'
  | 'resolve'
  | 'close'
  | 'reopen';

export type TransitionResult = { ok: true; to: Status } | { ok: false; reason: string };

/** Per action: the statuses it applies to and where each goes. */
const TABLE: Record<LifecycleAction, Partial<Record<Status, Status>>> = {
  triage: { new: 'triaged' },
  // Reassigning keeps work that has started where it is.
  assign: {
    new: 'assigned',
    triaged: 'assigned',
    assigned: 'assigned',
    'in-progress': 'in-progress',
    'pending-customer': 'pending-customer',
  },
  'agent-reply': {
    assigned: 'in-progress',
    'in-progress': 'in-progress',
    'pending-customer': 'pending-customer',
  },
  'wait-for-customer': {
    assigned: 'pending-customer',
    'in-progress': 'pending-customer',
    'pending-customer': 'pending-customer',
  },
  // A closed incident is not reopened by mail: the caller opens a linked incident.
  'customer-reply': {
    new: 'new',
    triaged: 'triaged',
    assigned: 'assigned',
    'in-progress': 'in-progress',
    'pending-customer': 'in-progress',
    resolved: 'in-progress',
  },
  resolve: {
    new: 'resolved',
    triaged: 'resolved',
    assigned: 'resolved',
    'in-progress': 'resolved',
    'pending-customer': 'resolved',
  },
  close: { resolved: 'closed' },
  reopen: { resolved: 'in-progress', closed: 'in-progress' },
};

/** Where `action` takes an incident in status `from`, or why it cannot. */
export function transition(from: Status, action: LifecycleAction): TransitionResult {
  const row = Object.prototype.hasOwnProperty.call(TABLE, action) ? TABLE[action] : undefined;
  if (!row) return { ok: false, reason: `unknown action "${action}"` };
  const to = Object.prototype.hasOwnProperty.call(row, from) ? row[from] : undefined;
  if (!to) return { ok: false, reason: `cannot ${action} an incident that is ${from}` };
  return { ok: true, to };
}

const COMMAND_WORDS: Record<string, Status> = {
  open: 'in-progress',
  'in-progress': 'in-progress',
  progress: 'in-progress',
  pending: 'pending-customer',
  waiting: 'pending-customer',
  'pending-customer': 'pending-customer',
  resolved: 'resolved',
  closed: 'closed',
};

/**
 * The statuses `#status` can set, as the cheat sheet in the assignment mail and docs/agents.md
 * list them (resolving takes `#resolve`, with cause and fix).
 */
export const COMMAND_STATUSES = ['pending', 'in-progress', 'closed'] as const;

/** The status an email command word names (`#status pending`), or null. */
export function statusForCommand(s: string): Status | null {
  const word = s
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  return Object.prototype.hasOwnProperty.call(COMMAND_WORDS, word)
    ? (COMMAND_WORDS[word] as Status)
    : null;
}

const DAY_MS = 86_400_000;

/**
 * What a customer's new message does to its incident: a resolved incident, or one closed at
 * most `reopenWindowDays` days ago, is reopened; one closed longer ago (or at an unknown
 * time) gets a new incident linked to it; anything else just gets the message appended.
 */
export function customerMessageOutcome(input: {
  status: Status;
  closedAt?: Date;
  now: Date;
  reopenWindowDays: number;
}): 'append' | 'reopen' | 'new-linked' {
  if (input.status === 'resolved') return 'reopen';
  if (input.status !== 'closed') return 'append';
  if (!input.closedAt) return 'new-linked';
  const elapsed = input.now.getTime() - input.closedAt.getTime();
  return elapsed <= input.reopenWindowDays * DAY_MS ? 'reopen' : 'new-linked';
}

/** Whether SLA clocks run in this status: not while waiting on the customer or once resolved. */
export function slaClockRunning(status: Status): boolean {
  return status !== 'pending-customer' && status !== 'resolved' && status !== 'closed';
}

const blank = (s: string | undefined): boolean => s === undefined || s.trim() === '';

/** What a resolution still lacks: a cause, and a fix or a workaround. Empty when complete. */
export function resolutionProblems(r: {
  cause?: string;
  fix?: string;
  workaround?: string;
}): string[] {
  const problems: string[] = [];
  if (blank(r.cause)) problems.push('a cause is required (cause: …)');
  if (blank(r.fix) && blank(r.workaround))
    problems.push('a fix or a workaround is required (fix: … or workaround: …)');
  return problems;
}

/** What a post-incident review needs before an incident may close. */
export interface ReviewState {
  priority?: string | null;
  /** Priorities whose incidents need a review (the plan's `review.requiredFor`). */
  requiredFor: readonly string[];
  lessons: readonly { text: string }[];
  actions: readonly { owner?: string | null; dueAt?: Date | null; text?: string | null }[];
}

/**
 * What keeps an incident from closing: for the priorities that need a post-incident review,
 * lessons learned and at least one action item with an owner and a due date. Empty when it
 * may close.
 */
export function reviewProblems(r: ReviewState): string[] {
  if (!r.priority || !r.requiredFor.includes(r.priority)) return [];
  const problems: string[] = [];
  if (!r.lessons.some((l) => !blank(l.text)))
    problems.push(`${r.priority} needs lessons learned (#lesson <text>)`);
  const complete = r.actions.filter(
    (a) => !blank(a.owner ?? undefined) && a.dueAt && !blank(a.text ?? undefined),
  );
  if (complete.length === 0)
    problems.push(
      `${r.priority} needs at least one action item with an owner and a due date (#action <owner> due <YYYY-MM-DD> <text>)`,
    );
  return problems;
}
