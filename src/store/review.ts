/** Store access for post-incident reviews, duplicates and outage grouping. */
import { OPEN_STATUSES } from '../domain/lifecycle.js';
import { appendTimeline } from './incidents.js';
import { atomically, isDuplicateKey } from './db.js';
import {
  Incident,
  IncidentLink,
  ReviewAction,
  TimelineEntry,
  type IncidentDoc,
  type ReviewActionDoc,
  type TimelineDoc,
} from './models.js';

export interface Lesson {
  /** The lesson's timeline entry, whose `_id` makes a retried add a no-op. */
  id: string;
  text: string;
  by: string;
  at: Date;
}

/**
 * Record a lesson on the timeline (the truth) and copy it into `review.lessons`, together.
 * The copy is a guarded `$push`, kept in timeline order, so a retry or a concurrent lesson
 * never loses or doubles one.
 */
export async function recordLesson(number: number, lesson: Lesson): Promise<void> {
  await atomically(async () => {
    const inserted = await appendTimeline(number, {
      _id: lesson.id,
      at: lesson.at,
      type: 'event',
      event: 'lesson',
      text: lesson.text,
      detail: { by: lesson.by },
    });
    // A retry copies what the first run stored (its time), in case it stopped in between.
    const stored = inserted ? lesson : await storedLesson(lesson.id);
    if (!stored) return;
    await Incident.updateOne(
      { _id: number, 'review.lessons.id': { $ne: stored.id } },
      { $push: { 'review.lessons': { $each: [stored], $sort: { at: 1, id: 1 } } } },
    );
  });
}

async function storedLesson(id: string): Promise<Lesson | null> {
  const e = await TimelineEntry.findById(id).lean<TimelineDoc>();
  if (!e) return null;
  const by = (e.detail as { by?: string } | undefined)?.by ?? '';
  return { id: e._id, text: e.text ?? '', by, at: e.at };
}

export async function actionItemsOf(incidentNumber: number): Promise<ReviewActionDoc[]> {
  return ReviewAction.find({ incidentNumber })
    .sort({ createdAt: 1, _id: 1 })
    .lean<ReviewActionDoc[]>();
}

export async function findActionItem(id: string): Promise<ReviewActionDoc | null> {
  return ReviewAction.findById(id).lean<ReviewActionDoc>();
}

/** Insert-or-ignore on the deterministic id; false when it was already there. */
export async function insertActionItem(item: ReviewActionDoc): Promise<boolean> {
  try {
    await ReviewAction.create(item);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

export async function markActionItemDone(id: string, at: Date): Promise<ReviewActionDoc | null> {
  return ReviewAction.findOneAndUpdate(
    { _id: id, doneAt: null },
    { $set: { doneAt: at } },
    { returnDocument: 'after' },
  ).lean<ReviewActionDoc>();
}

/** Open action items due before `before` (overdue ones included): the reminder work list. */
export async function openActionItemsDueBy(before: Date): Promise<ReviewActionDoc[]> {
  return ReviewAction.find({ doneAt: null, dueAt: { $lte: before } })
    .sort({ dueAt: 1, _id: 1 })
    .lean<ReviewActionDoc[]>();
}

export async function markReminded(id: string, at: Date): Promise<void> {
  await ReviewAction.updateOne({ _id: id }, { $set: { lastRemindedAt: at } });
}

/** The timeline entry that recorded which action item an occasion created, if any. */
export async function actionAddedBy(
  incidentNumber: number,
  cause: string,
): Promise<TimelineDoc | null> {
  return TimelineEntry.findOne({
    incidentNumber,
    event: 'action-added',
    'detail.cause': cause,
  }).lean<TimelineDoc>();
}

export async function countActionItemsAdded(incidentNumber: number): Promise<number> {
  return TimelineEntry.countDocuments({ incidentNumber, event: 'action-added' });
}

export interface RecentEntry {
  number: number;
  customer: string;
  subject: string;
  /** When it was opened. */
  at: Date;
}

const RECENT_BATCH = 1000;
const OPEN = new Set<string>(OPEN_STATUSES);

/** The filter of recentOpenIncidents (exported for a test of its plan: both branches indexed). */
export const recentFilter = (customer: string, customerSince: Date, allSince: Date) => ({
  $or: [
    { 'customer.address': customer.toLowerCase(), createdAt: { $gte: customerSince } },
    { createdAt: { $gte: allSince } },
  ],
});

/**
 * The open incidents opened recently, newest first, for both of triage's looks in one query
 * on `incidents`: the customer's own since `customerSince` (likely duplicates) and everyone's
 * since `allSince` (possible outages). Each branch of the `$or` has its index
 * ({ customer.address, createdAt } and { createdAt }). Whether one is open is decided here
 * from its status, not in the filter: MongoDB would filter it in the index scan, but
 * SecantusDB scans the whole collection for a condition outside the index (see
 * docs/performance.md), and a window holds few closed incidents. An incident is
 * inserted when its message is ingested, before any triage, so of two similar incidents
 * triaged at once each sees the other.
 */
export async function recentOpenIncidents(
  customer: string,
  customerSince: Date,
  allSince: Date,
): Promise<RecentEntry[]> {
  const rows = await Incident.find(recentFilter(customer, customerSince, allSince), {
    subject: 1,
    'customer.address': 1,
    status: 1,
    createdAt: 1,
  })
    .sort({ createdAt: -1, _id: -1 })
    // In one round trip: the default first batch (101) would need a getMore in a busy hour.
    .batchSize(RECENT_BATCH)
    .lean<Pick<IncidentDoc, '_id' | 'subject' | 'customer' | 'status' | 'createdAt'>[]>();
  // A damaged document (no customer or subject) is no one's duplicate: it must fail only its
  // own triage, not every other incident's.
  const usable = (r: (typeof rows)[number]) =>
    OPEN.has(r.status) && typeof r.subject === 'string' && Boolean(r.customer?.address);
  return rows.filter(usable).map((r) => ({
    number: r._id,
    customer: r.customer.address,
    subject: r.subject,
    at: r.createdAt,
  }));
}

/** Record `child` under `parent`: the link and the parent's `children`, together. */
export async function linkChild(parent: number, child: number, at: Date, by: string) {
  await atomically(async () => {
    // Insert-or-keep without a duplicate-key error, which would abort a transaction.
    await IncidentLink.updateOne(
      { _id: `${parent}-${child}` },
      { $setOnInsert: { parent, child, at, by } },
      { upsert: true },
    );
    await Incident.updateOne(
      { _id: parent, children: { $ne: child } },
      { $push: { children: { $each: [child], $sort: 1 } } },
    );
  });
}

/** Take `child` off `parent` (the link and the parent's `children`), e.g. to move it. */
export async function unlinkChild(parent: number, child: number) {
  await atomically(async () => {
    await IncidentLink.deleteOne({ _id: `${parent}-${child}` });
    await Incident.updateOne({ _id: parent }, { $pull: { children: child } });
  });
}

export async function childrenOf(parent: number): Promise<number[]> {
  const rows = await IncidentLink.find({ parent }, { child: 1 }).sort({ child: 1 }).lean();
  return rows.map((r) => r.child);
}

/**
 * The reports grouped under `parent`, in number order: two reads however many there are.
 * A child whose own `parent` says otherwise (moved meanwhile) is not among them.
 */
export async function childIncidents(parent: number): Promise<IncidentDoc[]> {
  const numbers = await childrenOf(parent);
  if (numbers.length === 0) return [];
  const rows = await Incident.find({ _id: { $in: numbers } })
    .sort({ _id: 1 })
    .lean<IncidentDoc[]>();
  return rows.filter((child) => child.parent === parent);
}

/** Whether `target`'s timeline records that `merged` was merged into it. */
export async function isMergedFrom(target: number, merged: number): Promise<boolean> {
  const hit = await TimelineEntry.exists({
    incidentNumber: target,
    event: 'merged-from',
    'detail.number': merged,
  });
  return hit !== null;
}

/**
 * An incident's timeline together with those of the incidents merged into it (recursively),
 * so that merging never hides a message: each entry keeps its own incidentNumber. Costs one
 * timeline query more per level of merges, none when nothing was merged.
 */
export async function timelineWithMerged(number: number): Promise<TimelineDoc[]> {
  const seen = new Set([number]);
  const all: TimelineDoc[] = [];
  let batch = await TimelineEntry.find({ incidentNumber: number }).lean<TimelineDoc[]>();
  for (let depth = 0; depth < 10; depth++) {
    all.push(...batch);
    const merged = batch
      .filter((e) => e.event === 'merged-from')
      .map((e) => (e.detail as { number?: unknown } | undefined)?.number)
      .filter((n): n is number => typeof n === 'number' && !seen.has(n));
    if (merged.length === 0) break;
    for (const n of merged) seen.add(n);
    batch = await TimelineEntry.find({ incidentNumber: { $in: merged } }).lean<TimelineDoc[]>();
  }
  // The order timelineOf gives: by time, then by id (compared as the server does, bytewise).
  return all.sort(
    (a, b) =>
      new Date(a.at).getTime() - new Date(b.at).getTime() ||
      (a._id < b._id ? -1 : a._id > b._id ? 1 : 0),
  );
}
