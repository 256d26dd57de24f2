/** Store access for post-incident reviews, duplicates and outage grouping. */
import { isDuplicateKey } from './db.js';
import {
  Incident,
  ReviewAction,
  TimelineEntry,
  type IncidentDoc,
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

/** Add a lesson once: `id` (from the occasion) makes a retried add a no-op. */
export async function addLessonToIncident(
  number: number,
  lesson: { id: string; text: string; by: string; at: Date },
): Promise<boolean> {
  const res = await Incident.updateOne(
    { _id: number, 'review.lessons.id': { $ne: lesson.id } },
    { $push: { 'review.lessons': lesson } },
  );
  return res.modifiedCount === 1;
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

/** Open incidents triaged since `since` (optionally of one customer), for similarity checks. */
export async function recentOpenIncidents(
  since: Date,
  customer?: string,
): Promise<Pick<IncidentDoc, 'number' | 'subject' | 'customer' | 'group'>[]> {
  return Incident.find(
    {
      status: { $in: OPEN_STATUSES },
      triagedAt: { $gte: since },
      ...(customer ? { 'customer.address': customer } : {}),
    },
    { number: 1, subject: 1, customer: 1, group: 1 },
  ).lean<Pick<IncidentDoc, 'number' | 'subject' | 'customer' | 'group'>[]>();
}

export async function addChild(parent: number, child: number): Promise<void> {
  await Incident.updateOne({ _id: parent }, { $addToSet: { children: child } });
}

/**
 * An incident's timeline together with those of the incidents merged into it (recursively),
 * so that merging never hides a message: each entry keeps its own incidentNumber.
 */
export async function timelineWithMerged(number: number): Promise<TimelineDoc[]> {
  const numbers = new Set([number]);
  let frontier = [number];
  for (let depth = 0; frontier.length && depth < 10; depth++) {
    const merged = await TimelineEntry.find(
      { incidentNumber: { $in: frontier }, event: 'merged-from' },
      { detail: 1 },
    ).lean<TimelineDoc[]>();
    frontier = merged
      .map((e) => (e.detail as { number?: number } | undefined)?.number)
      .filter((n): n is number => typeof n === 'number' && !numbers.has(n));
    for (const n of frontier) numbers.add(n);
  }
  return TimelineEntry.find({ incidentNumber: { $in: [...numbers] } })
    .sort({ at: 1, _id: 1 })
    .lean<TimelineDoc[]>();
}
