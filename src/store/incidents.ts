import { applySet, changedFields } from '../domain/audit.js';
import { appendAudits, type AuditInput } from './audit.js';
import { nextSequence } from './counters.js';
import {
  atomically,
  EARLIEST,
  hasTransactions,
  isDuplicateKey,
  sharedCall,
  writeAtCommit,
} from './db.js';
import { decidedMail, enqueueAtCommit, type NewOutboxMessage, type OutboxClaim } from './outbox.js';
import {
  GroupState,
  Incident,
  TimelineEntry,
  type IncidentDoc,
  type IncidentStatus,
  type NewTimelineEntry,
  type OutboxDoc,
  type TimelineDoc,
} from './models.js';

export interface NewIncident {
  openedBy: string;
  /** Its first timeline entries (the message, the opening), written with the incident. */
  timeline?: NewTimelineEntry[];
  subject: string;
  customer: { address: string; name?: string };
  automatic?: string;
  planFingerprint?: string;
  lastCustomerMessageId?: string;
  linkedTo?: number;
  /** The language customer mail about it is written in (src/domain/locale.ts). */
  locale?: string;
  /** The support address it came in by; its mail goes out from there. */
  mailbox?: string;
  at: Date;
  /**
   * What was decided with the opening, written only by the run that opens the incident (a
   * rerun that finds it opened decides again from what is stored): more timeline entries, and
   * a mail (the acknowledgement), composed once the incident's number is known and stored in
   * the same transaction, its entry among the first; `claim` as for enqueueOutbox.
   */
  decided?: {
    timeline: NewTimelineEntry[];
    mail?: { compose: (incident: IncidentDoc) => NewOutboxMessage; claim?: OutboxClaim };
  };
}

/** What opening an incident gives: the incident, whether this call opened it, its mail. */
export interface Opening {
  incident: IncidentDoc;
  /** false: an earlier or concurrent run of the same message had opened it. */
  opened: boolean;
  /** The mail decided with it, as stored (only when this call opened it). */
  mail?: OutboxDoc;
}

/**
 * Open the incident a raw message starts, exactly once.
 *
 * The unique index on `openedBy` allows one incident per message whatever happens; a retry
 * that finds the message's incident there returns it. The incident is born complete: its
 * first timeline entries and audit entry commit with it, and a retry after a crash on a server
 * without transactions completes what is missing. A number drawn by a run that then loses
 * (a crash before the insert, a concurrent run of the same message, a batch that failed) stays
 * unused: numbering can have gaps, never duplicates.
 *
 * With transactions, the incidents this process opens at the same moment (its concurrent
 * ingest jobs) commit together: one transaction, one command each for the numbers, the
 * incidents, their timelines, their audit entries and their mail (group commit, `sharedCall`).
 * If that fails for any of them (a rerun whose incident is there, a number taken by imported
 * data), each is opened alone, as below, so one item never fails the others.
 */
export function openIncident(input: NewIncident): Promise<Opening> {
  return hasTransactions() ? openTogether(input) : openAlone(input);
}

const openTogether = sharedCall(
  'Incident.open',
  async (inputs: NewIncident[]): Promise<Opening[]> => {
    if (inputs.length === 1) return [await openAlone(inputs[0]!)];
    // Drawn outside the transaction, as alone, so the counter is never held by one: the numbers
    // of a batch that fails are gaps. In the batch's order.
    const first = (await nextSequence('incident', inputs.length)) - inputs.length + 1;
    const written = await atomically(() =>
      insertIncidents(inputs.map((input, i) => ({ number: first + i, input }))),
    );
    return openedAs(written);
  },
);

async function openAlone(input: NewIncident): Promise<Opening> {
  for (let attempt = 0; attempt < MAX_NUMBER_ATTEMPTS; attempt++) {
    const number = await nextSequence('incident');
    try {
      const [opened] = await openedAs(await atomically(() => insertIncidents([{ number, input }])));
      return opened!;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // A retry of an insert that happened: the message's incident is there already.
      const ours = await Incident.findOne({ openedBy: input.openedBy }).lean<IncidentDoc>();
      if (ours) {
        for (const entry of input.timeline ?? []) await appendTimeline(ours.number, entry);
        // With transactions its entry committed with it; without, the earlier run may have
        // died before writing it, and the keyed entry is kept once either way.
        if (!hasTransactions()) await appendAudits(openedAudit(ours, input));
        return { incident: ours, opened: false };
      }
      // The number belongs to an incident the counter never counted (data imported or
      // restored without its counter): draw the next.
    }
  }
  throw new Error(`could not allocate an incident number after ${MAX_NUMBER_ATTEMPTS} attempts`);
}

/** Numbers drawn per new incident before giving up (the job is then retried with backoff). */
const MAX_NUMBER_ATTEMPTS = 50;

/**
 * Incidents with their first timeline entries, their audit entries and the mail decided with
 * them, in the order given: written together at the end of the transaction (`writeAtCommit`),
 * one command with a server that takes writes across collections.
 */
async function insertIncidents(batch: { number: number; input: NewIncident }[]) {
  const now = new Date();
  // As stored: the schema's defaults applied here, the insert below writes the same.
  const incidents = batch.map(
    ({ number, input }) =>
      new Incident({
        _id: number,
        number,
        openedBy: input.openedBy,
        subject: input.subject,
        customer: input.customer,
        participants: [input.customer.address],
        automatic: input.automatic,
        planFingerprint: input.planFingerprint,
        lastCustomerMessageId: input.lastCustomerMessageId,
        linkedTo: input.linkedTo,
        locale: input.locale,
        mailbox: input.mailbox,
        lastMessageAt: input.at,
        messageCount: (input.timeline ?? []).filter((e) => e.type === 'message').length,
        createdAt: now,
        updatedAt: now,
      }).toObject() as IncidentDoc,
  );
  await writeAtCommit({
    into: Incident,
    ops: incidents.map((document) => ({ insertOne: { document } })),
  });
  const decided = batch.map(({ input }, i) => {
    const mail = input.decided?.mail;
    return mail && { ...decidedMail(mail.compose(incidents[i]!), input.at), claim: mail.claim };
  });
  const entries = batch.flatMap(({ number, input }, i) =>
    [
      ...(input.timeline ?? []),
      ...(input.decided?.timeline ?? []),
      ...(decided[i]?.entry ? [decided[i].entry] : []),
    ].map((e) => ({ ...e, incidentNumber: number })),
  );
  await writeAtCommit({
    into: TimelineEntry,
    ops: entries.map((document) => ({ insertOne: { document } })),
  });
  await appendAudits(batch.flatMap(({ input }, i) => openedAudit(incidents[i]!, input)));
  const mail = decided.filter((d) => d !== undefined);
  // Upserts: a mail stored before (a rerun's, say after a restore) is returned as stored.
  const stored = await enqueueAtCommit(mail);
  return { incidents, mailIds: decided.map((d) => d?.message._id), stored };
}

/** Once committed: the incidents inserted, each with the mail decided with it as stored. */
async function openedAs(written: Awaited<ReturnType<typeof insertIncidents>>): Promise<Opening[]> {
  const stored = new Map((await written.stored()).map((m) => [m._id, m]));
  return written.incidents.map((incident, i) => {
    const mail = stored.get(written.mailIds[i] ?? '');
    return mail ? { incident, mail, opened: true } : { incident, opened: true };
  });
}

/** The `incident-opened` entry, keyed by the message, so a rerun records it once. */
function openedAudit(opened: IncidentDoc, input: NewIncident): AuditInput[] {
  return incidentAudit(opened.number, 'incident-opened', null, opened, {
    actor: { kind: input.automatic ? 'system' : 'customer', id: input.customer.address },
    why: `message ${input.openedBy}`,
    at: opened.createdAt as Date,
    key: `incident-opened/${input.openedBy}`,
  });
}

export async function findIncident(number: number): Promise<IncidentDoc | null> {
  return Incident.findById(number).lean<IncidentDoc>();
}

export async function listIncidents(filter: { status?: IncidentStatus; limit: number }) {
  const query = filter.status ? { status: filter.status } : {};
  return Incident.find(query).sort({ number: -1 }).limit(filter.limit).lean<IncidentDoc[]>();
}

export async function countIncidents(): Promise<number> {
  return Incident.countDocuments();
}

/** The incident whose timeline already holds one of these Message-IDs, if any. */
export async function incidentHoldingMessageId(
  messageIds: readonly string[],
): Promise<number | null> {
  return (await messageIdHolder(messageIds))?.incidentNumber ?? null;
}

/** The same, with who sent and received that message (threading checks the sender was one). */
export async function messageIdHolder(
  messageIds: readonly string[],
): Promise<{ incidentNumber: number; parties: string[] } | null> {
  if (messageIds.length === 0) return null;
  const hit = await TimelineEntry.findOne(
    { messageId: { $in: messageIds } },
    { incidentNumber: 1, from: 1, to: 1 },
  ).lean();
  if (!hit) return null;
  return {
    incidentNumber: hit.incidentNumber,
    parties: [...(hit.from ? [hit.from] : []), ...(hit.to ?? [])],
  };
}

/** Append to the timeline; returns false when the entry was already there (a retry). */
export async function appendTimeline(
  incidentNumber: number,
  entry: NewTimelineEntry,
): Promise<boolean> {
  const res = await TimelineEntry.updateOne(
    { _id: entry._id },
    { $setOnInsert: { ...entry, incidentNumber } },
    { upsert: true },
  );
  return res.upsertedCount === 1;
}

/** Append several entries in one command; each is keyed, so a retry adds only what is missing. */
export async function appendTimelineEntries(
  incidentNumber: number,
  entries: readonly NewTimelineEntry[],
): Promise<void> {
  // In a transaction, with its other writes at the end: nothing in it reads them back.
  await writeAtCommit({
    into: TimelineEntry,
    ops: entries.map((entry) => ({
      updateOne: {
        filter: { _id: entry._id },
        update: { $setOnInsert: { ...entry, incidentNumber } },
        upsert: true,
      },
    })),
  });
}

/** Append a message and keep the incident's summary fields in step with it. */
export async function recordMessage(
  incidentNumber: number,
  entry: NewTimelineEntry,
  participant?: string,
) {
  // Together, so that the count goes up exactly once per entry even across a crash.
  await atomically(async () => {
    const inserted = await appendTimeline(incidentNumber, entry);
    await Incident.updateOne(
      { _id: incidentNumber },
      {
        $max: { lastMessageAt: entry.at },
        ...(inserted ? { $inc: { messageCount: 1 } } : {}),
        ...(participant ? { $addToSet: { participants: participant } } : {}),
      },
    );
  });
}

export async function hasTimelineEntry(id: string): Promise<boolean> {
  return (await TimelineEntry.exists({ _id: id })) !== null;
}

export async function getTimelineEntry(id: string): Promise<TimelineDoc | null> {
  return TimelineEntry.findById(id).lean<TimelineDoc>();
}

/**
 * How many times `event` happened to an incident up to `upTo`: which occurrence of a moment
 * an entry is (the 2nd priority change), the same however often it is asked again. Events
 * only: the mail that tells of one carries its kind too (`resolved`), and is recorded when
 * decided, one entry per mail and per recipient, so counting it would number the moment by
 * how many were told of it (and, for mail stored by an older version, by whether it was sent).
 */
export async function countEvents(
  incidentNumber: number,
  event: string,
  upTo: Date,
): Promise<number> {
  return TimelineEntry.countDocuments({ incidentNumber, type: 'event', event, at: { $lte: upTo } });
}

/** The message that opened the incident (its text drives classification). */
export async function openingMessage(
  incident: Pick<IncidentDoc, 'openedBy'>,
): Promise<TimelineDoc | null> {
  return TimelineEntry.findById(messageEntryId(incident.openedBy)).lean<TimelineDoc>();
}

/** The timeline id of a received message: one entry per raw message. */
export const messageEntryId = (rawId: string) => `msg-${rawId}`;

export async function timelineOf(incidentNumber: number): Promise<TimelineDoc[]> {
  return TimelineEntry.find({ incidentNumber }).sort({ at: 1, _id: 1 }).lean<TimelineDoc[]>();
}

export type IncidentChanges = Partial<Omit<IncidentDoc, '_id' | 'number' | 'openedBy'>> &
  Record<string, unknown>;

/**
 * Apply a change to one incident, optionally only while it is in one of `onlyIf` statuses
 * (the guard that makes a lifecycle transition atomic). Returns the updated incident, or
 * null when the guard did not hold.
 */
export async function updateIncident(
  number: number,
  changes: IncidentChanges,
  options: {
    onlyIf?: readonly IncidentStatus[];
    /** Further conditions, e.g. an expected escalation level, so concurrent runs apply once. */
    where?: Record<string, unknown>;
    addParticipants?: readonly string[];
    /**
     * Writes that belong to the change (its timeline entries, a claim on a group), run in its
     * transaction once the guard held; the audit entries they return are written with the
     * change's own, in one command. Throwing undoes the change.
     */
    together?: (after: IncidentDoc) => Promise<AuditInput[] | void>;
  } = {},
): Promise<IncidentDoc | null> {
  const filter: Record<string, unknown> = { ...options.where, _id: number };
  if (options.onlyIf) filter.status = { $in: options.onlyIf };
  const update: Record<string, unknown> = { $set: changes };
  if (options.addParticipants?.length)
    update.$addToSet = { participants: { $each: options.addParticipants } };
  // The change and its audit entry commit together. The document before the change comes
  // back from the update itself (for the audit trail); the one after is computed from it.
  const written = await atomically(async () => {
    const before = await Incident.findOneAndUpdate(filter, update, {
      returnDocument: 'before',
    }).lean<IncidentDoc>();
    if (!before) return null;
    const after = applySet(before as IncidentDoc & Record<string, unknown>, changes);
    const added = (options.addParticipants ?? []).filter((p) => !before.participants.includes(p));
    if (added.length) after.participants = [...before.participants, ...added];
    const more = (await options.together?.(after)) ?? [];
    await appendAudits([
      ...incidentAudit(
        number,
        'incident-changed',
        before,
        after,
        {},
        { ...changes, ...(added.length ? { participants: after.participants } : {}) },
      ),
      ...more,
    ]);
    return after;
  });
  return written;
}

/** One audit entry per incident change: who, why (from the caller's context), changed fields. */
function incidentAudit(
  number: number,
  action: string,
  before: IncidentDoc | null,
  after: IncidentDoc,
  who: Partial<AuditInput>,
  set?: Record<string, unknown>,
): AuditInput[] {
  const fields = set ?? { ...after };
  delete fields._id;
  const changes = changedFields(before as Record<string, unknown> | null, fields);
  if (before && changes.length === 0) return []; // a retry that changed nothing
  return [{ action, subject: { type: 'incident', id: String(number) }, changes, ...who }];
}

/**
 * Open incidents per agent, in every group (an agent's capacity is theirs, not per group),
 * for load-aware assignment.
 */
export async function openLoads(agents: readonly string[]): Promise<Map<string, number>> {
  const rows = await Incident.aggregate<{ _id: string; n: number }>([
    {
      $match: {
        status: { $in: ['assigned', 'in-progress', 'pending-customer'] },
        assignee: { $in: agents },
      },
    },
    { $group: { _id: '$assignee', n: { $sum: 1 } } },
  ]);
  return new Map(rows.map((r) => [r._id, r.n]));
}

/**
 * The assignment state of these groups as read now: the round-robin pointer and a version
 * that every assignment to one of a group's members moves on (see claimAssignment).
 */
export async function groupStates(groups: readonly string[]): Promise<GroupStates> {
  const rows = await GroupState.find({ _id: { $in: groups } }).lean();
  return new Map(
    rows.map((r) => [String(r._id), { lastAssigned: r.lastAssigned ?? undefined, v: r.v ?? 0 }]),
  );
}
export type GroupStates = Map<string, { lastAssigned?: string; v: number }>;

/** Another assignment changed a group's state after it was read: choose again. */
export class AssignmentRaced extends Error {
  override name = 'AssignmentRaced';
  constructor(groups: readonly string[]) {
    super(`another assignment in ${groups.join(', ')} came first`);
  }
}

/**
 * Claim an assignment to `agent` in `group`: a compare-and-set on the state, as read in
 * `seen`, of every group the agent is in (the agent's load counts in all of them), moving
 * each one's version on and `group`'s round-robin pointer to the agent. Written at the end of
 * the assignment's transaction, with its other writes, which AssignmentRaced then undoes when
 * any of the groups moved since it was read, so that two assignments chosen from the same
 * state (the same "next" agent, the same last free slot under maxOpen) cannot both be
 * written. (Without transactions it is written, and checked, at once.) Returns the
 * claimed groups' state as written (it stands once the transaction commits).
 */
export async function claimAssignment(
  seen: GroupStates,
  agentGroups: readonly string[],
  group: string,
  agent: string,
): Promise<GroupStates> {
  const groups = [...new Set([group, ...agentGroups])];
  const claimed: GroupStates = new Map(
    groups.map((g) => {
      const was = seen.get(g);
      return [g, { lastAssigned: g === group ? agent : was?.lastAssigned, v: (was?.v ?? 0) + 1 }];
    }),
  );
  // With the assignment's other writes at the end of its transaction.
  await writeAtCommit({
    into: GroupState,
    ops: groups.map((g) => {
      const v = seen.get(g)?.v ?? 0;
      return {
        updateOne: {
          // A group never assigned to has no document: v 0 matches its absence.
          filter: { _id: g, ...(v === 0 ? { v: { $in: [0, null] } } : { v }) },
          update: { $set: { v: v + 1, ...(g === group ? { lastAssigned: agent } : {}) } },
          upsert: true,
        },
      };
    }),
    check: (done) => {
      if (done.matched + done.upserted !== groups.length) throw new AssignmentRaced(groups);
    },
    // The upsert of a state that changed meanwhile meets the existing document's _id.
    failure: (err) => (isDuplicateKey(err) ? new AssignmentRaced(groups) : (err as Error)),
  });
  return claimed;
}

/**
 * Every SLA check still ahead made due now: after a plan change, the next looks were computed
 * in calendars (business hours, holidays) and with warnings that may no longer hold, so the
 * sweep reviews each incident once under the new plan, which sets its next look again.
 */
export async function dueSlaChecks(now: Date): Promise<void> {
  await Incident.updateMany(
    { slaCheckAt: { $gt: now } },
    { $set: { slaCheckAt: now } },
    { timestamps: false },
  );
}

/** Incidents whose SLA needs a look: the sweep's work list (never relies on Redis timers). */
export async function incidentsDueForSlaCheck(now: Date, limit: number): Promise<number[]> {
  const rows = await Incident.find({ slaCheckAt: { $gte: EARLIEST, $lte: now } }, { number: 1 })
    .sort({ slaCheckAt: 1 })
    .limit(limit)
    .lean();
  return rows.map((r) => r.number);
}
