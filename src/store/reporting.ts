/**
 * What the digests read, from the incidents collection itself through its indexes
 * (src/domain/reporting.ts derives the facts from an incident document).
 *
 * - The facts of one UTC day: five indexed range queries, one per kind of event (createdAt,
 *   firstRespondedAt, resolvedAt and the two breach instants).
 * - Open incidents: all of them by the { status, createdAt } index, a few fields each, to count;
 *   in full only those a digest can list (the oldest, and those due soon by { slaCheckAt }).
 * - A settled day (over SETTLE_MS past its end) is cached the first time a digest needs it:
 *   its facts in `report_day_facts`, its per-hour counts in `report_day_counts`. A monthly
 *   digest covers two months of facts and a year of trend; reading a year of incidents for
 *   every digest would cost seconds even with indexes, reading 365 small count documents
 *   does not.
 * - The caches follow the incidents without any hook in the write path: every read first
 *   looks up the incidents changed since the last look (the { updatedAt } index; mongoose
 *   stamps it on every update) and drops the cached days their facts fall on.
 *
 * Nothing here is a source of truth: `dropReportCaches` (the `digest rebuild-projection`
 * command) empties the caches and they are recomputed from the incidents when next needed.
 */
import {
  AT_RISK_WITHIN_MS,
  DIGEST_LIST_ROWS,
  mayBeAtRisk,
  type HourCount,
  type ReviewActionLike,
} from '../domain/digest.js';
import { OPEN_STATUSES } from '../domain/lifecycle.js';
import { Binary, type Collection, type Filter } from 'mongodb';
import {
  factDays,
  factsOf,
  openEntryOf,
  packFacts,
  packSummary,
  summariseDay,
  unpackFacts,
  unpackSummary,
  utcDaysBetween,
  type DaySummary,
  type Fact,
  type IncidentLike,
  type OpenEntry,
  type OpenRow,
  type OpenSet,
  summariseOpen,
} from '../domain/reporting.js';
import { db, EARLIEST, isDuplicateKey } from './db.js';
import { Incident } from './models.js';

/** A day is cached once it is this far behind (late writers to it have finished). */
const SETTLE_MS = 15 * 60_000;
/**
 * How far back the change check looks before its last run: a write whose `updatedAt` was
 * stamped just before that run may have become visible just after it, and a day cached from
 * reads made just before a change may be stored just after a check. Both take far less.
 */
const CHANGE_MARGIN_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** The incident fields the facts and the open list are made from (see IncidentLike). */
const FACT_FIELDS = {
  number: 1,
  subject: 1,
  status: 1,
  createdAt: 1,
  customer: 1,
  priority: 1,
  group: 1,
  category: 1,
  assignee: 1,
  firstRespondedAt: 1,
  resolvedAt: 1,
  closedAt: 1,
  mergedInto: 1,
  sla: 1,
} as const;

/** The indexed instants a fact can be dated by (each has an index on `incidents`). */
const EVENT_FIELDS = [
  'createdAt',
  'firstRespondedAt',
  'resolvedAt',
  'sla.firstResponse.breachedAt',
  'sla.resolution.breachedAt',
] as const;

/**
 * The layout of the cached documents below. A cached day of another format (written by an
 * earlier version) is not read: it is recomputed and replaced when next needed.
 */
const CACHE_FORMAT = 2;

/**
 * The cached documents of the settled days among `days`, by day. By `_id` alone, the format
 * checked here: SecantusDB scans the whole collection for `{_id: {$in}, format}`.
 */
async function cachedDays<T extends { _id: string; format: number }>(
  cache: Collection<T>,
  days: string[],
  now: Date,
): Promise<Map<string, T>> {
  const rows = await cache
    .find({ _id: { $in: days.filter((d) => settled(d, now)) } } as Filter<T>)
    .toArray();
  return new Map((rows as T[]).filter((r) => r.format === CACHE_FORMAT).map((r) => [r._id, r]));
}

/** One day's facts (domain PackedFacts), each column one binary field. */
interface DayFacts {
  _id: string;
  format: number;
  strings: string[];
  columns: Record<string, Binary>;
  computedAt: Date;
}

/** One day's hourly counts (domain PackedSummary). */
interface DayCounts {
  _id: string;
  format: number;
  groups: string[];
  opened: Binary;
  resolved: Binary;
  computedAt: Date;
}

const factsCache = () => db().collection<DayFacts>('report_day_facts');
const countsCache = () => db().collection<DayCounts>('report_day_counts');
const bytesOf = (b: Binary) => b.buffer.subarray(0, b.position);
const cacheState = () => db().collection<{ _id: string; checkedAt: Date }>('report_state');

const dayStart = (day: string) =>
  new Date(Date.UTC(+day.slice(0, 4), +day.slice(4, 6) - 1, +day.slice(6, 8)));
const settled = (day: string, now: Date) =>
  now.getTime() >= dayStart(day).getTime() + DAY_MS + SETTLE_MS;

async function upsert(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    // Two first-ever upserts of one _id can race to insert; the loser just goes again.
    if (!isDuplicateKey(err)) throw err;
    await run();
  }
}

/** The facts dated within [start, end), read from the incidents (no cache). */
async function factsFromIncidents(start: Date, end: Date): Promise<Fact[]> {
  const found = await Promise.all(
    EVENT_FIELDS.map((field) =>
      Incident.find({ [field]: { $gte: start, $lt: end } }, FACT_FIELDS).lean<IncidentLike[]>(),
    ),
  );
  const incidents = new Map<number, IncidentLike>();
  for (const list of found) for (const i of list) incidents.set(i.number, i);
  return [...incidents.values()].flatMap((i) =>
    factsOf(i).filter((f) => f.at >= start && f.at < end),
  );
}

/** Days being computed by this process: parallel reads of one day share the work. */
const computing = new Map<string, Promise<Fact[]>>();

/** One day's facts: from the cache when settled and cached, else from the incidents. */
async function factsOfDay(day: string, now: Date, cached?: DayFacts): Promise<Fact[]> {
  if (cached)
    return unpackFacts({
      strings: cached.strings,
      columns: Object.fromEntries(
        Object.entries(cached.columns).map(([k, b]) => [k, bytesOf(b)]),
      ) as Parameters<typeof unpackFacts>[0]['columns'],
    });
  let pending = computing.get(day);
  if (!pending) {
    pending = (async () => {
      const from = dayStart(day);
      const facts = await factsFromIncidents(from, new Date(from.getTime() + DAY_MS));
      if (settled(day, now)) {
        const computedAt = now;
        const { strings, columns } = packFacts(facts);
        const binary = Object.fromEntries(
          Object.entries(columns).map(([k, bytes]) => [k, new Binary(bytes)]),
        );
        await upsert(() =>
          factsCache().replaceOne(
            { _id: day },
            { format: CACHE_FORMAT, strings, columns: binary, computedAt },
            { upsert: true },
          ),
        );
        const { groups, opened, resolved } = packSummary(summariseDay(day, facts, computedAt));
        await upsert(() =>
          countsCache().replaceOne(
            { _id: day },
            {
              format: CACHE_FORMAT,
              groups,
              opened: new Binary(opened),
              resolved: new Binary(resolved),
              computedAt,
            },
            { upsert: true },
          ),
        );
      }
      return facts;
    })().finally(() => computing.delete(day));
    computing.set(day, pending);
  }
  return pending;
}

/**
 * Drop the cached days that incidents changed since the last check have facts on. Runs
 * before every digest read; costs one indexed query over the incidents changed since.
 */
export async function forgetChangedDays(): Promise<void> {
  const startedAt = new Date();
  const state = await cacheState().findOne({ _id: 'changes' });
  if (!state) {
    // Never checked (a new database, or caches of unknown age): start from nothing.
    await dropReportCaches();
  } else {
    const since = new Date(state.checkedAt.getTime() - CHANGE_MARGIN_MS);
    const changed = await Incident.find({ updatedAt: { $gte: since } }, FACT_FIELDS).lean<
      IncidentLike[]
    >();
    const days = [...new Set(changed.flatMap(factDays))];
    if (days.length) {
      await factsCache().deleteMany({ _id: { $in: days } });
      await countsCache().deleteMany({ _id: { $in: days } });
    }
  }
  await cacheState().updateOne(
    { _id: 'changes' },
    { $max: { checkedAt: startedAt } },
    { upsert: true },
  );
}

/** The facts with `at` in [start, end). */
export async function factsBetween(start: Date, end: Date, now: Date): Promise<Fact[]> {
  const days = utcDaysBetween(start, end);
  const cached = await cachedDays(factsCache(), days, now);
  const parts = await Promise.all(days.map((day) => factsOfDay(day, now, cached.get(day))));
  return parts.flat().filter((f) => f.at >= start && f.at < end);
}

/**
 * The support address each of these incidents came in by, for those that record one
 * (incidents from before several mailboxes came in by the first). One read by the unique
 * `number` index.
 */
export async function incidentMailboxes(numbers: readonly number[]): Promise<Map<number, string>> {
  if (numbers.length === 0) return new Map();
  const rows = await Incident.find(
    { number: { $in: [...numbers] } },
    { number: 1, mailbox: 1 },
  ).lean<{ number: number; mailbox?: string | null }[]>();
  return new Map(rows.flatMap((r) => (r.mailbox ? [[r.number, r.mailbox] as const] : [])));
}

/** What the open set reads of every open incident: enough to count it and rank it by age. */
const OPEN_ROW_FIELDS = {
  _id: 0,
  number: 1,
  status: 1,
  createdAt: 1,
  group: 1,
  priority: 1,
  mergedInto: 1,
} as const;

/**
 * The open incidents as a digest needs them (domain OpenSet), in three indexed reads:
 *
 * - every open incident, through the `{status, createdAt}` index, projected to the few fields
 *   that count it and rank it by age (summariseOpen counts them per group and priority and
 *   picks each group's oldest here, not on the server: on SecantusDB each expression an
 *   aggregation evaluates per incident costs about as much as fetching it);
 * - those the SLA sweep must look at within AT_RISK_WITHIN_MS of `now`, through the
 *   `{slaCheckAt}` index: no clock of an unbreached incident is due before its `slaCheckAt`
 *   unless that look is already due (slaCheckAfterChange), so these include every one at
 *   risk; the digest decides which are, in their groups' calendars;
 * - the oldest not among those, by number.
 *
 * A digest counts thousands of open incidents and lists a dozen; it reads in full only the
 * few hundred it may list.
 */
export async function openIncidentSet(now: Date): Promise<OpenSet> {
  const horizon = new Date(now.getTime() + AT_RISK_WITHIN_MS);
  const [rows, dueSoon] = await Promise.all([
    // The status alone, which any server plans on the index (SecantusDB scans the whole
    // collection for `{status: {$in}, mergedInto: null}`); summariseOpen checks the rest.
    Incident.find({ status: { $in: OPEN_STATUSES } }, OPEN_ROW_FIELDS).lean<OpenRow[]>(),
    Incident.find({ slaCheckAt: { $gte: EARLIEST, $lt: horizon } }, FACT_FIELDS).lean<
      IncidentLike[]
    >(),
  ]);
  const { counts, oldest } = summariseOpen(rows, DIGEST_LIST_ROWS);
  const read = new Set(dueSoon.map((i) => i.number));
  const missing = oldest.filter((n) => !read.has(n));
  // One changed in between is listed as it is now, or not at all once closed: a digest is a
  // snapshot of a moment, and its counts and lists are a read apart either way.
  const older = missing.length
    ? await Incident.find({ number: { $in: missing } }, FACT_FIELDS).lean<IncidentLike[]>()
    : [];
  const listed = new Set(oldest);
  const listable = (o: OpenEntry) => listed.has(o.number) || mayBeAtRisk(o, horizon.getTime());
  return {
    counts,
    entries: [...dueSoon, ...older].flatMap((i) => openEntryOf(i) ?? []).filter(listable),
  };
}

/** Review actions not done and due before `end` (post-incident reviews write them). */
export async function overdueReviewActions(end: Date): Promise<ReviewActionLike[]> {
  // `doneAt: null` (also matches an absent doneAt) first: the { doneAt, dueAt } index serves
  // it; on dueAt alone the server scans every action ever recorded.
  const rows = await db()
    .collection('review_actions')
    // Only what a digest shows: not the reminder's bookkeeping, which the review sweep moves.
    .find(
      { doneAt: null, dueAt: { $lt: end } },
      { projection: { incidentNumber: 1, owner: 1, text: 1, dueAt: 1, doneAt: 1 } },
    )
    .toArray();
  return rows as unknown as ReviewActionLike[];
}

/** Opened/resolved per UTC hour and group over [start, end). */
export async function hourlyCounts(start: Date, end: Date, now: Date): Promise<HourCount[]> {
  const days = utcDaysBetween(start, end);
  const stored = await cachedDays(countsCache(), days, now);
  const summaries = await Promise.all(
    days.map(async (day) => {
      const d = stored.get(day);
      return d
        ? unpackSummary(
            day,
            { groups: d.groups, opened: bytesOf(d.opened), resolved: bytesOf(d.resolved) },
            d.computedAt,
          )
        : summariseDay(day, await factsOfDay(day, now), now);
    }),
  );
  return summaries.flatMap((s) => hoursOf(s).filter((h) => h.hour >= start && h.hour < end));
}

function hoursOf(s: DaySummary): HourCount[] {
  const base = dayStart(s._id).getTime();
  const opened = s.opened ?? {};
  const resolved = s.resolved ?? {};
  const groups = new Set([...Object.keys(opened), ...Object.keys(resolved)]);
  const out: HourCount[] = [];
  for (const group of groups)
    for (let h = 0; h < 24; h++) {
      const o = opened[group]?.[h] ?? 0;
      const r = resolved[group]?.[h] ?? 0;
      if (o || r) out.push({ hour: new Date(base + h * 3600_000), group, opened: o, resolved: r });
    }
  return out;
}

/** Fill the caches of the settled days in [start, end) (the benchmark's warm-up). */
export async function warmReportCaches(start: Date, end: Date, now: Date): Promise<number> {
  await forgetChangedDays();
  let n = 0;
  for (const day of utcDaysBetween(start, end))
    if (settled(day, now)) {
      await factsBetween(dayStart(day), new Date(dayStart(day).getTime() + DAY_MS), now);
      n++;
    }
  return n;
}

/** Empty the caches; returns how many days were cached. */
export async function dropReportCaches(): Promise<number> {
  const n = await countsCache().countDocuments();
  await factsCache().deleteMany({});
  await countsCache().deleteMany({});
  await cacheState().deleteMany({});
  return n;
}
