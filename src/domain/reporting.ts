/**
 * What digests are made of, derived from incident documents alone (pure functions;
 * src/store/reporting.ts reads the incidents and caches settled days).
 *
 * - facts: one per (incident, event): opened, acknowledged, resolved, breached-response,
 *   breached-resolution, dated by the event, with a deterministic _id (`<number>-opened`, …)
 *   and the incident's current priority, group, category and customer domain;
 * - open entries: one per open incident, with its running clocks' due dates.
 */
import { domainOf } from './address.js';
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

/** How many open incidents one group has of one priority. */
export interface OpenCount {
  group: string | null;
  priority: string | null;
  count: number;
}

/**
 * What a digest needs of the open incidents: it counts every one of them but lists only a
 * few, so it reads the counts and just the entries it can list (at a million incidents,
 * reading all ~7,000 open ones was most of a daily digest's time).
 */
export interface OpenSet {
  /** Every open incident, counted per group and priority. */
  counts: OpenCount[];
  /**
   * At least every entry a digest can list, whatever groups it covers: per group the
   * DIGEST_LIST_ROWS oldest (by createdAt, then number: any set of groups has its oldest
   * among its groups' oldest), and every unbreached one with a running clock due, in its
   * group's calendar, before AT_RISK_WITHIN_MS from now (see src/domain/digest.ts). More
   * entries change nothing.
   */
  entries: OpenEntry[];
}

/** The few fields of an incident that count it as open and rank it by age. */
export type OpenRow = Pick<
  IncidentLike,
  'number' | 'status' | 'createdAt' | 'group' | 'priority' | 'mergedInto'
>;

/**
 * The open incidents among `rows` counted per group and priority, and the numbers of the
 * `perGroup` oldest of each group (by createdAt, then number): the entries a digest lists by
 * age, whatever groups it covers.
 */
export function summariseOpen(
  rows: readonly OpenRow[],
  perGroup: number,
): { counts: OpenCount[]; oldest: number[] } {
  const open = rows.filter(
    (r): r is OpenRow & { createdAt: Date } => isOpen(r) && r.createdAt instanceof Date,
  );
  const byGroup = new Map<string | null, (OpenRow & { createdAt: Date })[]>();
  for (const r of open) {
    const g = r.group ?? null;
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(r);
  }
  const oldest = [...byGroup.values()].flatMap((list) =>
    list
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.number - b.number)
      .slice(0, perGroup)
      .map((r) => r.number),
  );
  return {
    counts: mergeOpenCounts(open.map((r) => ({ group: r.group, priority: r.priority, count: 1 }))),
    oldest,
  };
}

/** The counts with one row per group and priority (absent and null are one key: null). */
export function mergeOpenCounts(
  counts: readonly (Partial<Omit<OpenCount, 'count'>> & Pick<OpenCount, 'count'>)[],
): OpenCount[] {
  const merged = new Map<string, OpenCount>();
  for (const { group = null, priority = null, count } of counts) {
    const key = JSON.stringify([group, priority]);
    const c = merged.get(key);
    if (c) c.count += count;
    else merged.set(key, { group, priority, count });
  }
  return [...merged.values()];
}

/** The open set of a full list of open entries. */
export function openSetOf(entries: readonly OpenEntry[]): OpenSet {
  return {
    counts: mergeOpenCounts(
      entries.map((o) => ({ group: o.group, priority: o.priority, count: 1 })),
    ),
    entries: [...entries],
  };
}

/** A running SLA clock: business time used before `runningSince`, and its target. */
export interface RunningClock {
  runningSince: Date;
  targetMs: number;
  consumedMs: number;
}

export const customerOf = (address: string) => domainOf(address).toLowerCase();

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
 * A settled day's facts packed into one document, column by column, each column one run of
 * bytes (a typed array's little-endian layout) and the day's strings listed once. A month of
 * facts is then a few dozen documents of a dozen fields each to read and decode, where one
 * array element per fact and field (about 1.7 million for a month) took the server and the
 * driver seconds.
 */
const FACT_COLUMNS = {
  kind: Uint8Array,
  at: Float64Array,
  number: Float64Array,
  /** Index into `strings`; -1: null. */
  priority: Int32Array,
  group: Int32Array,
  category: Int32Array,
  customer: Int32Array,
  /** -1: none (durations are never negative). */
  durationMs: Float64Array,
  /** 1 met, 0 missed, -1 no SLA clock. */
  met: Int8Array,
} as const;
type FactColumn = keyof typeof FACT_COLUMNS;

export interface PackedFacts {
  /** The day's distinct priorities, groups, categories and customers. */
  strings: string[];
  columns: Record<FactColumn, Uint8Array>;
}

type NumericArray = Uint8Array | Int8Array | Int32Array | Float64Array;
const bytesOf = (a: NumericArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** A typed array over a copy of `bytes`: bytes read from the database need not be aligned. */
function typedOf<T>(bytes: Uint8Array, Type: new (buffer: ArrayBuffer) => T): T {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Type(copy.buffer);
}

export function packFacts(facts: readonly Fact[]): PackedFacts {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const ref = (s: string | null) => {
    if (s === null) return -1;
    let i = index.get(s);
    if (i === undefined) index.set(s, (i = strings.push(s) - 1));
    return i;
  };
  const n = facts.length;
  const col = Object.fromEntries(
    Object.entries(FACT_COLUMNS).map(([name, Type]) => [name, new Type(n)]),
  ) as { [C in FactColumn]: InstanceType<(typeof FACT_COLUMNS)[C]> };
  facts.forEach((f, i) => {
    col.kind[i] = FACT_KINDS.indexOf(f.kind);
    col.at[i] = f.at.getTime();
    col.number[i] = f.number;
    col.priority[i] = ref(f.priority);
    col.group[i] = ref(f.group);
    col.category[i] = ref(f.category);
    col.customer[i] = ref(f.customer);
    col.durationMs[i] = f.durationMs ?? -1;
    col.met[i] = f.met === undefined || f.met === null ? -1 : f.met ? 1 : 0;
  });
  const columns = Object.fromEntries(
    Object.entries(col).map(([name, a]) => [name, bytesOf(a)]),
  ) as Record<FactColumn, Uint8Array>;
  return { strings, columns };
}

export function unpackFacts(p: PackedFacts): Fact[] {
  const kind = typedOf(p.columns.kind, FACT_COLUMNS.kind);
  const at = typedOf(p.columns.at, FACT_COLUMNS.at);
  const number = typedOf(p.columns.number, FACT_COLUMNS.number);
  const priority = typedOf(p.columns.priority, FACT_COLUMNS.priority);
  const group = typedOf(p.columns.group, FACT_COLUMNS.group);
  const category = typedOf(p.columns.category, FACT_COLUMNS.category);
  const customer = typedOf(p.columns.customer, FACT_COLUMNS.customer);
  const durationMs = typedOf(p.columns.durationMs, FACT_COLUMNS.durationMs);
  const met = typedOf(p.columns.met, FACT_COLUMNS.met);
  const str = (i: number) => (i < 0 ? null : p.strings[i]!);
  const out = new Array<Fact>(kind.length);
  for (let i = 0; i < kind.length; i++) {
    const k = FACT_KINDS[kind[i]!]!;
    const f: Fact = {
      _id: `${number[i]}-${k}`,
      kind: k,
      number: number[i]!,
      at: new Date(at[i]!),
      priority: str(priority[i]!),
      group: str(group[i]!),
      category: str(category[i]!),
      customer: str(customer[i]!)!,
    };
    if (durationMs[i]! >= 0) f.durationMs = durationMs[i]!;
    if (met[i]! >= 0) f.met = met[i] === 1;
    out[i] = f;
  }
  return out;
}

/**
 * A day summary packed as a cached document: the groups once, then per kind one run of
 * groups × 24 hourly counts (Int32, little-endian), for the same reason as PackedFacts: a
 * year of trend is 365 of these.
 */
export interface PackedSummary {
  groups: string[];
  opened: Uint8Array;
  resolved: Uint8Array;
}

export function packSummary(s: DaySummary): PackedSummary {
  const groups = [...new Set([...Object.keys(s.opened), ...Object.keys(s.resolved)])].sort();
  const counts = (byGroup: Record<string, number[]>) => {
    const a = new Int32Array(groups.length * 24);
    groups.forEach((g, i) => a.set(byGroup[g] ?? [], i * 24));
    return bytesOf(a);
  };
  return { groups, opened: counts(s.opened), resolved: counts(s.resolved) };
}

export function unpackSummary(day: string, p: PackedSummary, computedAt: Date): DaySummary {
  const s = emptySummary(day, computedAt);
  const counts = (bytes: Uint8Array, into: Record<string, number[]>) => {
    const a = typedOf(bytes, Int32Array);
    p.groups.forEach((g, i) => {
      const row = [...a.subarray(i * 24, i * 24 + 24)];
      if (row.some((n) => n > 0)) into[g] = row;
    });
  };
  counts(p.opened, s.opened);
  counts(p.resolved, s.resolved);
  return s;
}
