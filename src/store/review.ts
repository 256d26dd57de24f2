/** Store access for post-incident reviews, duplicates and outage grouping. */
import { isDuplicateKey } from './db.js';
import { withIncidentLock } from './locks.js';
import {
  Incident,
  IncidentLink,
  RecentIncident,
  ReviewAction,
  TimelineEntry,
  type ReviewActionDoc,
  type TimelineDoc,
} from './models.js';

export const OPEN_STATUSES = [
  'new',
  'triaged',
  'assigned',
  'in-progress',
  'pending-customer',
] as const;

/** The lessons recorded on an incident's timeline (the truth; `review.lessons` is a copy). */
async function lessonsOnTimeline(number: number) {
  const rows = await TimelineEntry.find({ incidentNumber: number, event: 'lesson' })
    .sort({ at: 1, _id: 1 })
    .lean<TimelineDoc[]>();
  return rows.map((e) => ({
    id: e._id,
    text: e.text ?? '',
    by: (e.detail as { by?: string } | undefined)?.by ?? '',
    at: e.at,
  }));
}

/**
 * Copy an incident's lessons from its timeline into `review.lessons`. Each lesson is a
 * timeline insert on a deterministic id (safe when retried or concurrent); concurrent array
 * updates on one document are not atomic on every server, so the copy is rewritten until it
 * matches what the timeline holds after the write.
 */
export async function refreshLessons(number: number): Promise<void> {
  let lessons = await lessonsOnTimeline(number);
  for (let attempt = 0; attempt < 10; attempt++) {
    await withIncidentLock(number, () =>
      Incident.updateOne({ _id: number }, { $set: { 'review.lessons': lessons } }),
    );
    const again = await lessonsOnTimeline(number);
    if (again.map((l) => l.id).join() === lessons.map((l) => l.id).join()) return;
    lessons = again;
  }
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
}

/** Remember a triaged incident for the detection windows (idempotent). */
export async function rememberTriaged(number: number, customer: string, subject: string, at: Date) {
  await RecentIncident.updateOne(
    { _id: number },
    { $setOnInsert: { customer: customer.toLowerCase(), subject, at } },
    { upsert: true },
  );
}

/** Incidents triaged since `since` (optionally of one customer), newest first. */
export async function recentlyTriaged(since: Date, customer?: string): Promise<RecentEntry[]> {
  const rows = await RecentIncident.find({
    at: { $gte: since },
    ...(customer ? { customer: customer.toLowerCase() } : {}),
  })
    .sort({ at: -1, _id: -1 })
    .lean<{ _id: number; customer: string; subject: string }[]>();
  return rows.map((r) => ({ number: r._id, customer: r.customer, subject: r.subject }));
}

/** Forget incidents triaged before `before`: no detection window reaches them any more. */
export async function forgetTriagedBefore(before: Date): Promise<number> {
  return (await RecentIncident.deleteMany({ at: { $lt: before } })).deletedCount;
}

/** Record `child` under `parent` (insert-or-ignore), then refresh the parent's `children`. */
export async function linkChild(parent: number, child: number, at: Date, by: string) {
  try {
    await IncidentLink.create({ _id: `${parent}-${child}`, parent, child, at, by });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  await refreshChildren(parent);
}

/** Take `child` off `parent` (the link and the parent's `children`), e.g. to move it. */
export async function unlinkChild(parent: number, child: number) {
  await IncidentLink.deleteOne({ _id: `${parent}-${child}` });
  await refreshChildren(parent);
}

export async function childrenOf(parent: number): Promise<number[]> {
  const rows = await IncidentLink.find({ parent }, { child: 1 }).sort({ child: 1 }).lean();
  return rows.map((r) => r.child);
}

/**
 * Copy the links into the parent's `children`. Concurrent groupings may overwrite each
 * other's copy, so each writer checks the links again after writing and repeats until what
 * it wrote is current: the last writer always leaves the complete list.
 */
async function refreshChildren(parent: number) {
  let children = await childrenOf(parent);
  for (let attempt = 0; attempt < 10; attempt++) {
    await withIncidentLock(parent, () =>
      Incident.updateOne({ _id: parent }, { $set: { children } }),
    );
    const again = await childrenOf(parent);
    if (again.join() === children.join()) return;
    children = again;
  }
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
