/**
 * What digests are made of, derived from incident documents alone (pure functions;
 * src/store/reporting.ts reads the incidents and caches settled days).
 *
 * - facts: one per (incident, event): opened, acknowledged, resolved, breached-response,
 *   breached-resolution, dated by the event, with a deterministic _id (`<number>-opened`, …)
 *   and the incident's current priority, group, category and customer domain;
 * - open entries: one per open incident, with its running clocks' due dates.
 */
import { OPEN_STATUSES } from './lifecycle.js';

export const FACT_KINDS = [
  'opened',
  'acknowledged',
  'resolved',
  'breached-response',
  'breached-resolution',
] as const;
export type FactKind = (typeof FACT_KINDS)[number];

export interface ClockLike {
  targetMs: number;
  consumedMs: number;
  runningSince?: Date | null;
  stoppedAt?: Date | null;
  breachedAt?: Date | null;
}

/** The incident fields facts and open entries are made from (a subset of IncidentDoc). */
export interface IncidentLike {
  number: number;
  subject: string;
  status: string;
  createdAt?: Date | null;
  customer: { address: string };
  priority?: string | null;
  group?: string | null;
  category?: string | null;
  assignee?: string | null;
  firstRespondedAt?: Date | null;
  resolvedAt?: Date | null;
  closedAt?: Date | null;
  mergedInto?: number | null;
  sla?: { firstResponse?: ClockLike | null; resolution?: ClockLike | null } | null;
}

export interface Fact {
  _id: string;
  kind: FactKind;
  number: number;
  at: Date;
  /** Snapshot of the incident when the fact was (last) written. */
  priority: string | null;
  group: string | null;
  category: string | null;
  /** The customer's mail domain: one organisation, however many people write. */
  customer: string;
  /** acknowledged: opened → first response; resolved: opened → resolved (wall time). */
  durationMs?: number;
  /** acknowledged/resolved: whether the SLA target was met (absent: no SLA clock). */
  met?: boolean;
}

export interface OpenEntry {
  _id: number;
  number: number;
  subject: string;
  status: string;
  createdAt: Date;
  priority: string | null;
  group: string | null;
  category: string | null;
  customer: string;
  assignee: string | null;
  /**
   * When a running clock reaches its target if all time from now on counts (null when
   * paused, stopped or absent). Business hours can only make the real due time later.
   */
  responseDueAt: Date | null;
  resolutionDueAt: Date | null;
  /**
   * The running clocks themselves (null when paused, stopped or absent), so a digest can
   * place the due time in the owning group's business hours.
   */
  responseClock?: RunningClock | null;
  resolutionClock?: RunningClock | null;
  breached: boolean;
}

/** A running SLA clock: business time used before `runningSince`, and its target. */
export interface RunningClock {
  runningSince: Date;
  targetMs: number;
  consumedMs: number;
}

export const customerOf = (address: string) =>
  address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/** A clock met its target: it stopped having used less than the target and never breached. */
function metTarget(c: ClockLike | null | undefined): boolean | undefined {
  if (!c) return undefined;
  return !c.breachedAt && c.consumedMs < c.targetMs;
}

function runningOf(c: ClockLike | null | undefined): RunningClock | null {
  if (!c?.runningSince || c.stoppedAt) return null;
  return { runningSince: c.runningSince, targetMs: c.targetMs, consumedMs: c.consumedMs };
}

function dueOf(c: ClockLike | null | undefined): Date | null {
  if (!c?.runningSince || c.stoppedAt) return null;
  return new Date(c.runningSince.getTime() + Math.max(0, c.targetMs - c.consumedMs));
}

export function isOpen(i: Pick<IncidentLike, 'status' | 'mergedInto'>): boolean {
  return (OPEN_STATUSES as readonly string[]).includes(i.status) && !i.mergedInto;
}

/** Every fact the incident's current state implies. */
export function factsOf(i: IncidentLike): Fact[] {
  if (!i.createdAt) return [];
  const created = i.createdAt;
  const base = {
    number: i.number,
    priority: i.priority ?? null,
    group: i.group ?? null,
    category: i.category ?? null,
    customer: customerOf(i.customer.address),
  };
  const fact = (kind: FactKind, at: Date, extra: Partial<Fact> = {}): Fact => ({
    _id: `${i.number}-${kind}`,
    kind,
    at,
    ...base,
    ...extra,
  });
  const withMet = (met: boolean | undefined) => (met === undefined ? {} : { met });
  const out = [fact('opened', created)];
  if (i.firstRespondedAt)
    out.push(
      fact('acknowledged', i.firstRespondedAt, {
        durationMs: i.firstRespondedAt.getTime() - created.getTime(),
        ...withMet(metTarget(i.sla?.firstResponse)),
      }),
    );
  if (i.resolvedAt && (i.status === 'resolved' || i.status === 'closed'))
    out.push(
      fact('resolved', i.resolvedAt, {
        durationMs: i.resolvedAt.getTime() - created.getTime(),
        ...withMet(metTarget(i.sla?.resolution)),
      }),
    );
  const rb = i.sla?.firstResponse?.breachedAt;
  if (rb) out.push(fact('breached-response', rb));
  const sb = i.sla?.resolution?.breachedAt;
  if (sb) out.push(fact('breached-resolution', sb));
  return out;
}

/** The open-set entry, or null when the incident is not open. */
export function openEntryOf(i: IncidentLike): OpenEntry | null {
  if (!isOpen(i) || !i.createdAt) return null;
  return {
    _id: i.number,
    number: i.number,
    subject: i.subject,
    status: i.status,
    createdAt: i.createdAt,
    priority: i.priority ?? null,
    group: i.group ?? null,
    category: i.category ?? null,
    customer: customerOf(i.customer.address),
    assignee: i.assignee ?? null,
    responseDueAt: i.firstRespondedAt ? null : dueOf(i.sla?.firstResponse),
    resolutionDueAt: dueOf(i.sla?.resolution),
    responseClock: i.firstRespondedAt ? null : runningOf(i.sla?.firstResponse),
    resolutionClock: runningOf(i.sla?.resolution),
    breached: Boolean(i.sla?.firstResponse?.breachedAt || i.sla?.resolution?.breachedAt),
  };
}

/** The UTC day (yyyymmdd) of an instant. */
export const utcDay = (at: Date) => at.toISOString().slice(0, 10).replace(/-/g, '');

/** The UTC days an incident's facts fall on (the cached days a change to it affects). */
export function factDays(i: IncidentLike): string[] {
  return [...new Set(factsOf(i).map((f) => utcDay(f.at)))];
}

/** The UTC days (yyyymmdd) that overlap [start, end). */
export function utcDaysBetween(start: Date, end: Date): string[] {
  const days: string[] = [];
  const d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  for (; d < end; d.setUTCDate(d.getUTCDate() + 1))
    days.push(d.toISOString().slice(0, 10).replace(/-/g, ''));
  return days;
}

/** Per UTC day, opened and resolved counts per hour and group: what the trend chart reads. */
export interface DaySummary {
  _id: string; // yyyymmdd
  /** group ('-' for none) → 24 hourly counts */
  opened: Record<string, number[]>;
  resolved: Record<string, number[]>;
  computedAt: Date;
}

export const NO_GROUP = '-';

export function emptySummary(day: string, computedAt: Date): DaySummary {
  return { _id: day, opened: {}, resolved: {}, computedAt };
}

/** Counts one fact into its day's summary (facts of other kinds are ignored). */
export function countFact(s: DaySummary, f: Pick<Fact, 'kind' | 'at' | 'group'>): void {
  if (f.kind !== 'opened' && f.kind !== 'resolved') return;
  const byGroup = f.kind === 'opened' ? s.opened : s.resolved;
  const row = (byGroup[f.group ?? NO_GROUP] ??= new Array<number>(24).fill(0));
  row[f.at.getUTCHours()]! += 1;
}

export function summariseDay(day: string, facts: readonly Fact[], computedAt: Date): DaySummary {
  const s = emptySummary(day, computedAt);
  for (const f of facts) countFact(s, f);
  return s;
}

/**
 * A settled day's facts packed into one document, column by column: a month of facts is
 * then a few dozen documents to read, not tens of thousands.
 */
export interface PackedFacts {
  kind: number[];
  at: number[];
  number: number[];
  priority: (string | null)[];
  group: (string | null)[];
  category: (string | null)[];
  customer: string[];
  /** -1: none (durations are never negative). */
  durationMs: number[];
  /** 1 met, 0 missed, -1 no SLA clock. */
  met: number[];
}

export function packFacts(facts: readonly Fact[]): PackedFacts {
  const p: PackedFacts = {
    kind: [],
    at: [],
    number: [],
    priority: [],
    group: [],
    category: [],
    customer: [],
    durationMs: [],
    met: [],
  };
  for (const f of facts) {
    p.kind.push(FACT_KINDS.indexOf(f.kind));
    p.at.push(f.at.getTime());
    p.number.push(f.number);
    p.priority.push(f.priority);
    p.group.push(f.group);
    p.category.push(f.category);
    p.customer.push(f.customer);
    p.durationMs.push(f.durationMs ?? -1);
    p.met.push(f.met === undefined || f.met === null ? -1 : f.met ? 1 : 0);
  }
  return p;
}

export function unpackFacts(p: PackedFacts): Fact[] {
  return p.kind.map((k, i) => {
    const kind = FACT_KINDS[k]!;
    const number = p.number[i]!;
    const f: Fact = {
      _id: `${number}-${kind}`,
      kind,
      number,
      at: new Date(p.at[i]!),
      priority: p.priority[i] ?? null,
      group: p.group[i] ?? null,
      category: p.category[i] ?? null,
      customer: p.customer[i]!,
    };
    if (p.durationMs[i]! >= 0) f.durationMs = p.durationMs[i]!;
    if (p.met[i]! >= 0) f.met = p.met[i] === 1;
    return f;
  });
}
