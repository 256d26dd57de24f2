import { isDuplicateKey } from './db.js';
import {
  Counter,
  Incident,
  TimelineEntry,
  type IncidentDoc,
  type IncidentStatus,
  type TimelineDoc,
} from './models.js';

async function nextIncidentNumber(): Promise<number> {
  const doc = await Counter.findOneAndUpdate(
    { _id: 'incident' },
    { $inc: { seq: 1 } },
    { upsert: true, returnDocument: 'after' },
  ).lean();
  return doc!.seq;
}

export interface NewIncident {
  openedBy: string;
  subject: string;
  customer: { address: string; name?: string };
  automatic?: string;
  planFingerprint?: string;
  at: Date;
}

/**
 * Open the incident a raw message starts, exactly once: a retry finds the incident by the
 * message that opened it. A crash between taking a number and inserting leaves a gap in the
 * numbering, never a duplicate incident.
 */
export async function openIncident(input: NewIncident): Promise<IncidentDoc> {
  const existing = await Incident.findOne({ openedBy: input.openedBy }).lean<IncidentDoc>();
  if (existing) return existing;
  const number = await nextIncidentNumber();
  try {
    const created = await Incident.create({
      number,
      openedBy: input.openedBy,
      subject: input.subject,
      customer: input.customer,
      participants: [input.customer.address],
      automatic: input.automatic,
      planFingerprint: input.planFingerprint,
      lastMessageAt: input.at,
    });
    return created.toObject() as IncidentDoc;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const winner = await Incident.findOne({ openedBy: input.openedBy }).lean<IncidentDoc>();
    if (!winner) throw err;
    return winner;
  }
}

export async function findIncident(number: number): Promise<IncidentDoc | null> {
  return Incident.findOne({ number }).lean<IncidentDoc>();
}

export async function listIncidents(filter: { status?: IncidentStatus; limit: number }) {
  const query = filter.status ? { status: filter.status } : {};
  return Incident.find(query).sort({ number: -1 }).limit(filter.limit).lean<IncidentDoc[]>();
}

export async function countIncidents(): Promise<number> {
  return Incident.countDocuments();
}

/** The incident whose timeline already holds one of these Message-IDs, if any. */
export async function incidentHoldingMessageId(messageIds: readonly string[]): Promise<number | null> {
  if (messageIds.length === 0) return null;
  const hit = await TimelineEntry.findOne({ messageId: { $in: messageIds } }, { incidentNumber: 1 }).lean();
  return hit?.incidentNumber ?? null;
}

export type NewTimelineEntry = Partial<Omit<TimelineDoc, 'incidentNumber' | '_id' | 'at' | 'type'>> &
  Pick<TimelineDoc, '_id' | 'at' | 'type'>;

/** Append to the timeline; returns false when the entry was already there (a retry). */
export async function appendTimeline(incidentNumber: number, entry: NewTimelineEntry): Promise<boolean> {
  const res = await TimelineEntry.updateOne(
    { _id: entry._id },
    { $setOnInsert: { ...entry, incidentNumber } },
    { upsert: true },
  );
  return res.upsertedCount === 1;
}

/** Append a message and keep the incident's summary fields in step with it. */
export async function recordMessage(incidentNumber: number, entry: NewTimelineEntry, participant?: string) {
  const inserted = await appendTimeline(incidentNumber, entry);
  await Incident.updateOne(
    { number: incidentNumber },
    {
      $max: { lastMessageAt: entry.at },
      ...(inserted ? { $inc: { messageCount: 1 } } : {}),
      ...(participant ? { $addToSet: { participants: participant } } : {}),
    },
  );
}

export async function timelineOf(incidentNumber: number): Promise<TimelineDoc[]> {
  return TimelineEntry.find({ incidentNumber }).sort({ at: 1, _id: 1 }).lean<TimelineDoc[]>();
}
