/**
 * Archive collections and legal holds. Moving an incident is copy-then-delete on the same
 * `_id` (inserts that already happened are ignored), so a move killed half-way is finished
 * by simply running it again: nothing is lost, and no incident ends up in both places.
 */
import type mongoose from 'mongoose';
import { db, isDuplicateKey } from './db.js';
import {
  ArchivedIncident,
  ArchivedTimelineEntry,
  Incident,
  LegalHold,
  TimelineEntry,
  type IncidentDoc,
  type TimelineDoc,
} from './models.js';

type Id = string | number | mongoose.Types.ObjectId;
type Doc = Record<string, unknown> & { _id: Id };
const coll = (name: string) => db().collection<Doc>(name);
export const ARCHIVE_BATCH = 2000;

/** insertMany that treats "already there" as done: the idempotent half of every move. */
export async function insertIgnoringDuplicates(collection: string, docs: Doc[]): Promise<number> {
  if (!docs.length) return 0;
  try {
    const r = await coll(collection).insertMany(docs, { ordered: false });
    return r.insertedCount;
  } catch (err) {
    const e = err as { writeErrors?: unknown[]; insertedCount?: number; code?: number };
    const errors = Array.isArray(e.writeErrors)
      ? e.writeErrors
      : e.writeErrors
        ? [e.writeErrors]
        : [err];
    if (errors.every((w) => isDuplicateKey(w) || (w as { code?: number }).code === 11000))
      return e.insertedCount ?? 0;
    throw err;
  }
}

export async function deleteByIds(collection: string, ids: Id[]): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < ids.length; i += ARCHIVE_BATCH) {
    const r = await db()
      .collection<Doc>(collection)
      .deleteMany({ _id: { $in: ids.slice(i, i + ARCHIVE_BATCH) } });
    deleted += r.deletedCount;
  }
  return deleted;
}

/**
 * Move whole incidents with their timelines from one pair of collections to the other:
 * 1. copy the incidents, 2. copy the timeline entries, 3. delete those entries, 4. delete
 * the incidents. Until step 4 the source incident still exists, so a rerun selects it again.
 */
export async function moveIncidents(
  numbers: readonly number[],
  direction: 'archive' | 'restore',
  now: Date,
): Promise<{ incidents: number; timeline: number }> {
  const [fromInc, toInc, fromTl, toTl] =
    direction === 'archive'
      ? ['incidents', 'archive_incidents', 'timeline', 'archive_timeline']
      : ['archive_incidents', 'incidents', 'archive_timeline', 'timeline'];
  const stamp = (doc: Doc): Doc => {
    if (direction === 'archive') return { ...doc, archivedAt: now };
    const rest = { ...doc };
    delete rest.archivedAt;
    return rest;
  };
  const wanted = new Set(numbers);
  for (let i = 0; i < numbers.length; i += ARCHIVE_BATCH) {
    const batch = numbers.slice(i, i + ARCHIVE_BATCH);
    const docs = await coll(fromInc)
      .find({ _id: { $in: batch } })
      .toArray();
    await insertIgnoringDuplicates(
      toInc,
      docs.map((d) => {
        const copy = stamp(d);
        if (direction === 'restore') copy.restoredFromArchiveAt = now;
        return copy;
      }),
    );
  }
  // One pass over the timeline (every filter but _id is a scan on FerretDB anyway).
  const moved: Id[] = [];
  let pending: Doc[] = [];
  const flush = async () => {
    await insertIgnoringDuplicates(toTl, pending);
    pending = [];
  };
  for await (const entry of coll(fromTl).find({}, { batchSize: 1000 })) {
    if (!wanted.has(entry.incidentNumber as number)) continue;
    pending.push(stamp(entry));
    moved.push(entry._id);
    if (pending.length >= ARCHIVE_BATCH) await flush();
  }
  await flush();
  // Deletes only after the cursor is done: never modify a collection under an open scan.
  await deleteByIds(fromTl, moved);
  const incidents = await deleteByIds(fromInc, [...numbers]);
  return { incidents, timeline: moved.length };
}

export async function findArchivedIncident(
  number: number,
): Promise<{ incident: IncidentDoc & { archivedAt?: Date }; timeline: TimelineDoc[] } | null> {
  const incident = await ArchivedIncident.findById(number).lean<
    IncidentDoc & { archivedAt?: Date }
  >();
  if (!incident) return null;
  const timeline = await ArchivedTimelineEntry.find({ incidentNumber: number })
    .sort({ at: 1 })
    .lean<TimelineDoc[]>();
  return { incident, timeline };
}

/**
 * Hook for search (and anything else that must see old incidents): the archive holds the
 * same documents as the hot collections, under `archive_incidents` / `archive_timeline`.
 */
export const ARCHIVE_COLLECTIONS = {
  incidents: 'archive_incidents',
  timeline: 'archive_timeline',
} as const;

export async function isArchived(number: number): Promise<boolean> {
  return (await ArchivedIncident.exists({ _id: number })) !== null;
}

export async function isHot(number: number): Promise<boolean> {
  return (await Incident.exists({ _id: number })) !== null;
}

// Legal holds ------------------------------------------------------------------------------

export async function placeHold(number: number, reason: string, by: string, at: Date) {
  await LegalHold.updateOne({ _id: number }, { $set: { reason, by, at } }, { upsert: true });
}

export async function releaseHold(number: number): Promise<boolean> {
  return (await LegalHold.deleteOne({ _id: number })).deletedCount > 0;
}

export async function listHolds() {
  return LegalHold.find()
    .sort({ _id: 1 })
    .lean<{ _id: number; reason: string; by?: string; at: Date }[]>();
}

/** Held incident numbers: a small collection, read whole once per maintenance run. */
export async function heldNumbers(): Promise<Set<number>> {
  return new Set((await LegalHold.find({}, { _id: 1 }).lean()).map((h) => h._id as number));
}

export async function timelineCount(number: number): Promise<number> {
  return TimelineEntry.countDocuments({ incidentNumber: number });
}
