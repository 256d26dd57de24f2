/**
 * Archive collections and legal holds. Moving an incident is copy-then-delete on the same
 * `_id`, in a transaction where the server has them; without, a move killed half-way is
 * finished by simply running it again: nothing is lost, and no incident ends up in both places.
 */
import type mongoose from 'mongoose';
import { atomically, currentSession, db } from './db.js';
import { findIncident } from './incidents.js';
import { timelineWithMerged } from './review.js';
import { withDelivery, type Delivery } from './outbox.js';
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

/** Incidents per transaction: small enough to stay far inside a transaction's time limit. */
const MOVE_BATCH = 100;

/**
 * What moves with an incident, hot collection → archive collection, and how a batch's
 * documents are found there. Staff threads (the first mail each person on staff got about an
 * incident, kept by versions before staff mail was threaded under a derived root, so written
 * no more) carry the incident only in their `_id` (`<number>/<address>`): anchored prefixes,
 * which the `_id` index answers.
 */
const MOVED_WITH_INCIDENT = [
  { hot: 'timeline', archive: 'archive_timeline', of: byIncident },
  { hot: 'playbook_steps', archive: 'archive_playbook_steps', of: byIncident },
  {
    hot: 'staff_threads',
    archive: 'archive_staff_threads',
    of: (batch: number[]) => ({ _id: { $in: batch.map((n) => new RegExp(`^${n}/`)) } }),
  },
] as const;

function byIncident(batch: number[]) {
  return { incidentNumber: { $in: batch } };
}

/**
 * Move whole incidents with their timelines, playbook steps and staff threads from the hot
 * collections to the archive or back, a batch of incidents per transaction: copy the
 * incidents and what belongs to them, then delete them from where they were. On a standalone
 * server, without transactions, the steps run in that order and a rerun repeats them (copies
 * replace what an earlier run copied): until the last step the source incident exists, so a
 * rerun selects it again.
 */
export async function moveIncidents(
  numbers: readonly number[],
  direction: 'archive' | 'restore',
  now: Date,
): Promise<{ incidents: number; timeline: number }> {
  const moved = { incidents: 0, timeline: 0 };
  for (let i = 0; i < numbers.length; i += MOVE_BATCH) {
    const batch = numbers.slice(i, i + MOVE_BATCH);
    const done = await atomically(() => moveBatch(batch, direction, now));
    moved.incidents += done.incidents;
    moved.timeline += done.timeline;
  }
  return moved;
}

async function moveBatch(batch: number[], direction: 'archive' | 'restore', now: Date) {
  const archiving = direction === 'archive';
  const [fromInc, toInc] = archiving
    ? ['incidents', 'archive_incidents']
    : ['archive_incidents', 'incidents'];
  const session = currentSession();
  const stamp = (doc: Doc): Doc => (archiving ? { ...doc, archivedAt: now } : stampless(doc));
  const incidents = await coll(fromInc)
    .find({ _id: { $in: batch } }, { session })
    .toArray();
  await copy(
    toInc,
    incidents.map((d) => (archiving ? stamp(d) : { ...stamp(d), restoredFromArchiveAt: now })),
  );
  const counts: Record<string, number> = {};
  for (const c of MOVED_WITH_INCIDENT) {
    const [from, to] = archiving ? [c.hot, c.archive] : [c.archive, c.hot];
    const docs = await coll(from).find(c.of(batch), { session }).toArray();
    await copy(to, docs.map(stamp));
    await coll(from).deleteMany({ _id: { $in: docs.map((d) => d._id) } }, { session });
    counts[c.hot] = docs.length;
  }
  const gone = await coll(fromInc).deleteMany({ _id: { $in: batch } }, { session });
  return { incidents: gone.deletedCount, timeline: counts.timeline ?? 0 };
}

function stampless(doc: Doc): Doc {
  const rest = { ...doc };
  delete rest.archivedAt;
  return rest;
}

/** Write copies by `_id`, replacing any an interrupted earlier run left (never a duplicate). */
async function copy(collection: string, docs: Doc[]): Promise<void> {
  if (!docs.length) return;
  await coll(collection).bulkWrite(
    docs.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })),
    { ordered: false, session: currentSession() },
  );
}

/**
 * An incident with its whole timeline (merged duplicates' messages included), live or
 * archived by `maintenance run`: what `incidents show` and `attachments get` read. Outbound
 * mail carries its delivery from the outbox (pending, failed, sent).
 */
export async function findIncidentRecord(number: number): Promise<{
  incident: IncidentDoc & { archivedAt?: Date };
  timeline: (TimelineDoc & { delivery?: Delivery })[];
} | null> {
  const incident = await findIncident(number);
  const record = incident
    ? { incident, timeline: await timelineWithMerged(number) }
    : await findArchivedIncident(number);
  return record && { ...record, timeline: await withDelivery(record.timeline) };
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
  playbookSteps: 'archive_playbook_steps',
  staffThreads: 'archive_staff_threads',
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
