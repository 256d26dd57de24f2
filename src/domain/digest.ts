/**
 * What a manager digest says, computed from facts alone (src/domain/reporting.ts: facts of the
 * period and the one before, the open set, per-hour counts for the trend, review actions).
 * Pure: src/actions/digest.ts gathers the inputs, src/mail/digest.ts renders the result.
 */
import { PRIORITIES } from '../plan/schema.js';
import { addBusinessTime, type BusinessCalendar } from './business-time.js';
import type { PeriodWindow } from './digest-schedule.js';
import {
  NO_GROUP,
  type Fact,
  type OpenCount,
  type OpenEntry,
  type OpenSet,
  type RunningClock,
} from './reporting.js';

/** How many rows a digest's lists keep (at risk: twice as many, overdue actions four times). */
export const DIGEST_LIST_ROWS = 5;
/** An open incident is at risk when a clock of it reaches its target within this. */
export const AT_RISK_WITHIN_MS = 86_400_000;

/**
 * Whether an open entry can be at risk before `horizon`: not breached, and a running clock due
 * before it on the wall clock, the earliest it can be due (business hours only delay it).
 */
export function mayBeAtRisk(o: OpenEntry, horizon: number): boolean {
  return (
    !o.breached &&
    [o.responseDueAt, o.resolutionDueAt].some((d) => d !== null && d.getTime() < horizon)
  );
}

export interface ReviewActionLike {
  _id: string;
  incidentNumber: number;
  owner: string;
  text: string;
  dueAt: Date;
  doneAt?: Date | null;
}

/** Opened/resolved in one UTC hour for one group (from the day summaries). */
export interface HourCount {
  hour: Date;
  group: string;
  opened: number;
  resolved: number;
}

export interface DigestInput {
  window: PeriodWindow;
  previous: PeriodWindow;
  now: Date;
  /** Facts of at least [previous.start, window.end); others are ignored. */
  facts: readonly Fact[];
  open: OpenSet;
  actions: readonly ReviewActionLike[];
  /** The chart's buckets, oldest first, ending with `window`. */
  trendWindows: readonly PeriodWindow[];
  trendHours: readonly HourCount[];
  /** Only these groups (a group manager's digest); null: the whole organisation. */
  groups: readonly string[] | null;
  /**
   * With `groups`: the review actions shown are those owned by these people (agent ids or
   * addresses: the groups' members). An action names no group of its own.
   */
  owners?: readonly string[];
  /**
   * The business calendar of an incident's group: at-risk due times are when its clocks
   * reach their targets in that calendar. Absent: all time counts (24×7).
   */
  calendarOf?: (group: string | null) => BusinessCalendar;
}

export interface Breakdown {
  key: string;
  new: number;
  resolved: number;
  open: number;
}

export interface TimeStats {
  count: number;
  meanMs: number | null;
  medianMs: number | null;
  previousMeanMs: number | null;
  previousMedianMs: number | null;
  /** Relative change of the mean against the previous period (0.1 = 10 % slower). */
  meanChange: number | null;
}

export interface Compliance {
  met: number;
  total: number;
  /** Percentage, one decimal; null when nothing was measured. */
  pct: number | null;
}

export interface DigestModel {
  window: PeriodWindow;
  previous: PeriodWindow;
  groups: readonly string[] | null;
  empty: boolean;
  totals: { new: number; resolved: number; open: number; acknowledged: number };
  byPriority: Breakdown[];
  byGroup: Breakdown[];
  sla: {
    response: Compliance;
    resolution: Compliance;
    breaches: number;
    breachedIncidents: number[];
  };
  atRisk: (OpenEntry & { dueAt: Date; clock: 'response' | 'resolution' })[];
  ack: TimeStats;
  resolve: TimeStats;
  oldestOpen: OpenEntry[];
  topCategories: { key: string; count: number }[];
  topCustomers: { key: string; count: number }[];
  overdueActions: ReviewActionLike[];
  trend: { windows: PeriodWindow[]; opened: number[]; resolved: number[] };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

const within = (at: Date, w: Pick<PeriodWindow, 'start' | 'end'>) => at >= w.start && at < w.end;

/** The facts of one window, one per _id (a fact rewritten into another day counts once). */
function factsIn(facts: readonly Fact[], w: PeriodWindow): Fact[] {
  const byId = new Map<string, Fact>();
  for (const f of facts) if (within(f.at, w)) byId.set(f._id, f);
  return [...byId.values()];
}

function timeStats(current: readonly Fact[], previous: readonly Fact[]): TimeStats {
  const cur = current.map((f) => f.durationMs ?? 0);
  const prev = previous.map((f) => f.durationMs ?? 0);
  const m = mean(cur);
  const pm = mean(prev);
  return {
    count: cur.length,
    meanMs: m,
    medianMs: median(cur),
    previousMeanMs: pm,
    previousMedianMs: median(prev),
    meanChange: m !== null && pm !== null && pm > 0 ? (m - pm) / pm : null,
  };
}

function compliance(facts: readonly Fact[]): Compliance {
  const measured = facts.filter((f) => f.met !== undefined && f.met !== null);
  const met = measured.filter((f) => f.met).length;
  return {
    met,
    total: measured.length,
    pct: measured.length ? Math.round((1000 * met) / measured.length) / 10 : null,
  };
}

function top(keys: readonly string[], n: number): { key: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
    .slice(0, n);
}

function breakdown(
  keys: readonly string[],
  keyOf: (x: { priority: string | null; group: string | null }) => string,
  news: readonly Fact[],
  resolved: readonly Fact[],
  open: readonly OpenCount[],
): Breakdown[] {
  const rows = new Map<string, Breakdown>(
    keys.map((key) => [key, { key, new: 0, resolved: 0, open: 0 }]),
  );
  const row = (key: string) => {
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, new: 0, resolved: 0, open: 0 }));
    return r;
  };
  for (const f of news) row(keyOf(f)).new++;
  for (const f of resolved) row(keyOf(f)).resolved++;
  for (const c of open) row(keyOf(c)).open += c.count;
  return [...rows.values()];
}

/** An SLA breach fact (first response or resolution): the digest lists these incidents. */
export const isBreach = (f: Fact) => f.kind.startsWith('breached-');

export function computeDigest(input: DigestInput): DigestModel {
  const n = DIGEST_LIST_ROWS;
  const inScope = (g: string | null) => input.groups === null || input.groups.includes(g ?? '');
  const scoped = input.facts.filter((f) => inScope(f.group));
  const cur = factsIn(scoped, input.window);
  const prev = factsIn(scoped, input.previous);
  const kind = (fs: Fact[], k: Fact['kind']) => fs.filter((f) => f.kind === k);
  const news = kind(cur, 'opened');
  const resolved = kind(cur, 'resolved');
  const acked = kind(cur, 'acknowledged');
  const breaches = cur.filter(isBreach);
  // Counted from the counts; listed from the entries, which hold every one a list can show.
  const openCounts = input.open.counts.filter((c) => inScope(c.group));
  const openTotal = openCounts.reduce((sum, c) => sum + c.count, 0);
  const open = input.open.entries.filter((o) => inScope(o.group));
  const owners = input.groups === null ? null : new Set(input.owners ?? []);
  const overdueActions = input.actions
    .filter((a) => !a.doneAt && a.dueAt < input.window.end)
    .filter((a) => owners === null || owners.has(a.owner.toLowerCase()))
    .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || a._id.localeCompare(b._id));

  const horizon = input.now.getTime() + AT_RISK_WITHIN_MS;
  // The wall-clock due time is the earliest a clock can be due; business hours only delay it.
  const due = (o: OpenEntry, wall: Date | null, c: RunningClock | null | undefined) => {
    if (!wall || !c || !input.calendarOf || wall.getTime() >= horizon) return wall;
    return addBusinessTime(
      input.calendarOf(o.group),
      c.runningSince,
      Math.max(0, c.targetMs - c.consumedMs),
    );
  };
  const atRisk = open
    .flatMap((o) => {
      if (!mayBeAtRisk(o, horizon)) return [];
      const clocks = [
        { clock: 'response' as const, dueAt: due(o, o.responseDueAt, o.responseClock) },
        { clock: 'resolution' as const, dueAt: due(o, o.resolutionDueAt, o.resolutionClock) },
      ].filter((c): c is { clock: 'response' | 'resolution'; dueAt: Date } => c.dueAt !== null);
      const first = clocks.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())[0];
      return first && first.dueAt.getTime() < horizon ? [{ ...o, ...first }] : [];
    })
    .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || a.number - b.number);

  const trendOpened = input.trendWindows.map(() => 0);
  const trendResolved = input.trendWindows.map(() => 0);
  for (const h of input.trendHours) {
    if (!inScope(h.group === NO_GROUP ? null : h.group)) continue;
    const i = input.trendWindows.findIndex((w) => within(h.hour, w));
    if (i < 0) continue;
    trendOpened[i]! += h.opened;
    trendResolved[i]! += h.resolved;
  }

  const groupKeys = [
    ...new Set([...news, ...resolved, ...openCounts].map((x) => x.group ?? NO_GROUP)),
  ]
    .filter((g) => g !== NO_GROUP)
    .sort();
  const byGroup = breakdown(groupKeys, (x) => x.group ?? NO_GROUP, news, resolved, openCounts);
  return {
    window: input.window,
    previous: input.previous,
    groups: input.groups,
    empty:
      news.length + resolved.length + acked.length + breaches.length + openTotal === 0 &&
      overdueActions.length === 0,
    totals: {
      new: news.length,
      resolved: resolved.length,
      open: openTotal,
      acknowledged: acked.length,
    },
    byPriority: breakdown(PRIORITIES, (x) => x.priority ?? NO_GROUP, news, resolved, openCounts),
    byGroup,
    sla: {
      response: compliance(acked),
      resolution: compliance(resolved),
      breaches: breaches.length,
      breachedIncidents: [...new Set(breaches.map((f) => f.number))].sort((a, b) => a - b),
    },
    atRisk: atRisk.slice(0, 2 * n),
    ack: timeStats(acked, kind(prev, 'acknowledged')),
    resolve: timeStats(resolved, kind(prev, 'resolved')),
    oldestOpen: [...open]
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.number - b.number)
      .slice(0, n),
    topCategories: top(
      news.map((f) => f.category ?? 'uncategorised'),
      n,
    ),
    topCustomers: top(
      news.map((f) => f.customer),
      n,
    ),
    overdueActions: overdueActions.slice(0, 4 * n),
    trend: {
      windows: [...input.trendWindows],
      opened: trendOpened,
      resolved: trendResolved,
    },
  };
}
