/**
 * Writes and reads the reporting projection (src/domain/reporting.ts explains its shape).
 * Every read a digest makes touches a small collection: the fact collections of the days it
 * covers, the open set, the per-day summaries and the review actions, never `incidents`.
 */
import type { AnyBulkWriteOperation } from 'mongodb';
import type { HourCount, ReviewActionLike } from '../domain/digest.js';
import {
  countFact,
  emptySummary,
  factCollection,
  factsOf,
  openEntryOf,
  packFacts,
  summariseDay,
  unpackFacts,
  utcDaysBetween,
  type DaySummary,
  type Fact,
  type IncidentLike,
  type OpenEntry,
  type PackedFacts,
} from '../domain/reporting.js';
import { db, isDuplicateKey } from './db.js';
import { Incident, OpenIncident } from './models.js';

/** A day summary is final once the day is this far behind (late writers have finished). */
const SETTLE_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

/** Fact collections whose index this process has already asked for. */
const indexed = new Set<string>();

async function factsCollection(name: string) {
  const coll = db().collection<Fact>(name);
  if (!indexed.has(name)) {
    // What a real MongoDB uses for the digest's range query; FerretDB accepts and ignores it.
    await coll.createIndex({ at: 1 });
    indexed.add(name);
  }
  return coll;
}

async function upsert(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    // Two first-ever upserts of one _id can race to insert; the loser just goes again.
    if (!isDuplicateKey(err)) throw err;
    await run();
  }
}

/**
 * Bring the projection in line with one incident's current state. Called by openIncident
 * and updateIncident; every write is an idempotent replace or delete by a deterministic _id.
 */
export async function projectIncident(incident: IncidentLike): Promise<void> {
  const today = utcDaysBetween(new Date(), new Date(Date.now() + 1))[0]!;
  for (const fact of factsOf(incident)) {
    const name = factCollection(fact.at);
    const coll = await factsCollection(name);
    const write = () => upsert(() => coll.replaceOne({ _id: fact._id }, fact, { upsert: true }));
    const day = name.slice('facts_'.length);
    await write();
    if (day < today) {
      // A fact of an earlier day changed: that day's pack and summary (if any) are out of
      // date. The day's write count goes up after the write, so a pack a reader made from
      // facts read before it carries a lower count and is never used (see factsBetween).
      await packCollection(day).updateOne(
        { _id: WRITES },
        { $inc: { writes: 1 } },
        { upsert: true },
      );
      await packCollection(day).deleteOne({ _id: day });
      await summaryCollection(day).deleteOne({ _id: day });
    }
  }
  const entry = openEntryOf(incident);
  if (entry)
    await upsert(() => OpenIncident.replaceOne({ _id: entry._id }, entry, { upsert: true }).exec());
  else await OpenIncident.deleteOne({ _id: incident.number });
}

interface FactPack {
  _id: string;
  facts?: PackedFacts;
  packedAt?: Date;
  /** On the pack: the day's write count when its facts were read; on WRITES: the count. */
  writes?: number;
}

/** The `_id` of the document counting late writes to a day (next to the day's pack). */
const WRITES = 'writes';

/** One collection per day holding at most one document: reading it scans just that one. */
const packCollection = (day: string) => db().collection<FactPack>(`packs_${day}`);

/**
 * The facts with `at` in [start, end), from the days that overlap it: a settled day from its
 * pack (made from its facts by the first reader, dropped by any later write to the day), the
 * others from their fact collections.
 */
export async function factsBetween(start: Date, end: Date, now: Date): Promise<Fact[]> {
  const days = utcDaysBetween(start, end);
  const parts = await Promise.all(
    days.map(async (day) => {
      const settled = now.getTime() >= dayStart(day).getTime() + DAY_MS + SETTLE_MS;
      let facts: Fact[] | undefined;
      if (settled) {
        // The pack and the day's write count, in one read of a collection of two documents.
        const docs = await packCollection(day).find().toArray();
        const writes = docs.find((d) => d._id === WRITES)?.writes ?? 0;
        const pack = docs.find((d) => d._id === day);
        if (pack?.facts && (pack.writes ?? 0) === writes) facts = unpackFacts(pack.facts);
        else {
          // Facts read after the count: a late write to the day either lands before (and is
          // packed) or counts after (and the pack is not used).
          const read = await readFacts(day);
          const packed = { _id: day, facts: packFacts(read), packedAt: now, writes };
          await upsert(() =>
            packCollection(day).replaceOne({ _id: day }, packed, { upsert: true }),
          );
          facts = read;
        }
      }
      facts ??= await readFacts(day);
      return facts.filter((f) => f.at >= start && f.at < end);
    }),
  );
  return parts.flat();
}

const readFacts = async (day: string) =>
  (await db().collection<Fact>(`facts_${day}`).find().toArray()) as Fact[];

export async function openIncidents(): Promise<OpenEntry[]> {
  return OpenIncident.find().lean<OpenEntry[]>();
}

/**
 * Review actions not done and due before `end`. Another module owns the collection; until
 * it exists this is simply empty.
 */
export async function overdueReviewActions(end: Date): Promise<ReviewActionLike[]> {
  const rows = await db()
    .collection('review_actions')
    .find({ dueAt: { $lt: end } })
    .toArray();
  return (rows as unknown as ReviewActionLike[]).filter((a) => !a.doneAt);
}

const dayStart = (day: string) =>
  new Date(Date.UTC(+day.slice(0, 4), +day.slice(4, 6) - 1, +day.slice(6, 8)));

/**
 * Day summaries live in one small collection per UTC month (`fact_days_yyyymm`, at most 31
 * documents): a server without indexes then scans only the months a chart covers.
 */
const summaryCollection = (day: string) =>
  db().collection<DaySummary>(`fact_days_${day.slice(0, 6)}`);

/**
 * Opened/resolved per UTC hour and group over [start, end): from the stored day summaries,
 * computing (and, once the day is settled, storing) any that are missing or were computed
 * while the day was still going on.
 */
export async function hourlyCounts(start: Date, end: Date, now: Date): Promise<HourCount[]> {
  const days = utcDaysBetween(start, end);
  const months = [...new Set(days.map((d) => d.slice(0, 6)))];
  const stored = new Map(
    (await Promise.all(months.map((m) => summaryCollection(`${m}01`).find().toArray())))
      .flat()
      .map((d) => [d._id, d as DaySummary]),
  );
  const out: HourCount[] = [];
  for (const day of days) {
    const settledAt = new Date(dayStart(day).getTime() + DAY_MS + SETTLE_MS);
    let summary = stored.get(day);
    if (!summary || summary.computedAt < settledAt) {
      const from = dayStart(day);
      const facts = await factsBetween(from, new Date(from.getTime() + DAY_MS), now);
      summary = summariseDay(day, facts, now);
      if (now >= settledAt) {
        const s = summary;
        await upsert(() => summaryCollection(day).replaceOne({ _id: day }, s, { upsert: true }));
      }
    }
    out.push(...hoursOf(summary).filter((h) => h.hour >= start && h.hour < end));
  }
  return out;
}

function hoursOf(s: DaySummary): HourCount[] {
  const base = dayStart(s._id).getTime();
  // An empty map is not stored at all (mongoose minimises it away).
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

/**
 * Projects many incidents at once with bulk inserts: the rebuild command, and the benchmark's
 * seeding. Assumes the projection collections start empty (the rebuild drops them first).
 */
export class BulkProjection {
  private facts = new Map<string, Fact[]>();
  private buffered = 0;
  private open: OpenEntry[] = [];
  private summaries = new Map<string, DaySummary>();
  readonly counts = { incidents: 0, facts: 0, open: 0 };

  constructor(private readonly flushAt = 20_000) {}

  async add(incidents: readonly IncidentLike[]): Promise<void> {
    for (const i of incidents) {
      this.counts.incidents++;
      for (const f of factsOf(i)) {
        const name = factCollection(f.at);
        let list = this.facts.get(name);
        if (!list) this.facts.set(name, (list = []));
        list.push(f);
        this.buffered++;
        const day = name.slice('facts_'.length);
        let s = this.summaries.get(day);
        if (!s) this.summaries.set(day, (s = emptySummary(day, new Date(0))));
        countFact(s, f);
      }
      const entry = openEntryOf(i);
      if (entry) this.open.push(entry);
    }
    if (this.buffered >= this.flushAt) await this.flush();
  }

  async flush(): Promise<void> {
    for (const [name, list] of this.facts) {
      const coll = await factsCollection(name);
      for (let i = 0; i < list.length; i += 2000) {
        await insertIgnoringDuplicates(coll, list.slice(i, i + 2000));
      }
      this.counts.facts += list.length;
    }
    this.facts.clear();
    this.buffered = 0;
    for (let i = 0; i < this.open.length; i += 2000)
      await insertIgnoringDuplicates(OpenIncident.collection, this.open.slice(i, i + 2000));
    this.counts.open += this.open.length;
    this.open = [];
  }

  /** Flushes what is left and stores the summaries of every settled day. */
  async finish(now: Date): Promise<void> {
    await this.flush();
    const byMonth = new Map<string, AnyBulkWriteOperation<DaySummary>[]>();
    for (const [day, s] of this.summaries) {
      if (now.getTime() < dayStart(day).getTime() + DAY_MS + SETTLE_MS) continue;
      s.computedAt = now;
      const ops = byMonth.get(day.slice(0, 6)) ?? [];
      ops.push({ replaceOne: { filter: { _id: day }, replacement: s, upsert: true } });
      byMonth.set(day.slice(0, 6), ops);
    }
    for (const [month, ops] of byMonth)
      await summaryCollection(`${month}01`).bulkWrite(ops, { ordered: false });
    this.summaries.clear();
  }
}

async function insertIgnoringDuplicates(
  coll: { insertMany(docs: never[], o: { ordered: boolean }): Promise<unknown> },
  docs: readonly unknown[],
) {
  try {
    await coll.insertMany(docs as never[], { ordered: false });
  } catch (err) {
    // Re-running over the same incidents: what is already there is already right.
    if (!isDuplicateKey(err)) throw err;
  }
}

/** Drops every projection collection: the fact collections, the open set, the day summaries. */
export async function dropProjection(): Promise<void> {
  const names = (await db().listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  for (const name of names)
    if (/^(facts_\d{8}|packs_\d{8}|fact_days_\d{6})$/.test(name) || name === 'open_incidents')
      await db().collection(name).drop();
  indexed.clear();
  await OpenIncident.createIndexes();
}

/**
 * Recompute the whole projection from the incidents (after an upgrade, or if it is ever in
 * doubt). Run it with the workers stopped: an incident changed meanwhile is re-projected by its
 * next change anyway. `onProgress` gets (done, total).
 */
export async function rebuildProjection(
  now: Date,
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<BulkProjection['counts']> {
  const total = await Incident.estimatedDocumentCount();
  await dropProjection();
  const bulk = new BulkProjection();
  let batch: IncidentLike[] = [];
  let done = 0;
  for await (const doc of Incident.find().lean<IncidentLike[]>().cursor({ batchSize: 2000 })) {
    batch.push(doc as IncidentLike);
    if (batch.length === 2000) {
      await bulk.add(batch);
      done += batch.length;
      batch = [];
      onProgress(done, total);
    }
  }
  await bulk.add(batch);
  onProgress(done + batch.length, total);
  await bulk.finish(now);
  return bulk.counts;
}
