/**
 * Mongoose models. Idempotency comes from unique keys, never from transactions: every write
 * a retried job repeats is an upsert or an insert on a deterministic _id.
 */
import mongoose, { Schema, type InferSchemaType } from 'mongoose';
import { KNOWN_ERROR_STATUSES } from '../domain/known-errors.js';
import { STATUSES, type Status } from '../domain/lifecycle.js';

const opts = { versionKey: false, autoIndex: false } as const;

/** Atomic sequences (incident numbers). */
const counterSchema = new Schema({ _id: String, seq: { type: Number, required: true } }, opts);

/** Where the IMAP intake is in each mailbox: UIDs are only meaningful within a UIDVALIDITY. */
const mailboxStateSchema = new Schema(
  {
    _id: String, // `${user}/${mailbox}`
    uidValidity: { type: String, required: true }, // a 32-bit unsigned number, kept as text
    lastUid: { type: Number, required: true, default: 0 },
    lastSyncAt: Date,
    resets: { type: Number, default: 0 }, // how many UIDVALIDITY changes were seen
    fence: Number, // the fencing number of the intake that last wrote it (mailbox-lease.ts)
  },
  opts,
);

export const RAW_STATES = ['stored', 'ingested', 'quarantined'] as const;
export type RawState = (typeof RAW_STATES)[number];

/** Every message as received, stored once by content hash; the bytes live in the blob store. */
const rawMessageSchema = new Schema(
  {
    _id: String, // sha256 of the raw bytes, hex
    size: { type: Number, required: true },
    /** The bytes themselves when small; otherwise `blobId` points into the blob store. */
    data: Buffer,
    blobId: Schema.Types.ObjectId,
    headersOnly: { type: Boolean, default: false }, // oversized: only the header block was fetched
    state: { type: String, enum: RAW_STATES, required: true, default: 'stored' },
    reason: String, // why it was quarantined
    kind: String, // customer | auto-reply | list | bounce | ...
    incidentNumber: Number,
    /** The number reserved for the incident this message opens, before the incident exists. */
    openingIncident: Number,
    source: { address: String, mailbox: String, uidValidity: String, uid: Number },
    receivedAt: { type: Date, required: true },
    processedAt: Date,
  },
  opts,
);
rawMessageSchema.index({ state: 1, receivedAt: 1 });
rawMessageSchema.index({ incidentNumber: 1 });

/** The lifecycle's statuses (src/domain/lifecycle.ts owns them and their transitions). */
export const INCIDENT_STATUSES = STATUSES;
export type IncidentStatus = Status;

/** An SLA clock (see src/domain/sla.ts) plus what the escalation sweep has done about it. */
const slaClockSchema = new Schema(
  {
    targetMs: { type: Number, required: true },
    consumedMs: { type: Number, required: true, default: 0 },
    runningSince: { type: Date, default: null },
    stoppedAt: { type: Date, default: null },
    warnedAt: Date,
    breachedAt: Date,
  },
  { _id: false },
);

const incidentSchema = new Schema(
  {
    /**
     * The incident number is also the primary key: every lookup by number is an _id lookup,
     * fast on any MongoDB-protocol server whatever it does with secondary indexes.
     */
    _id: Number,
    number: { type: Number, required: true },
    /** The raw message that opened it: makes creation idempotent under retries. */
    openedBy: { type: String, required: true },
    status: { type: String, enum: INCIDENT_STATUSES, required: true, default: 'new' },
    subject: { type: String, required: true },
    customer: { address: { type: String, required: true }, name: String, tier: String },
    /** The support address the customer wrote to: every mail about it goes out from there. */
    mailbox: String,
    participants: { type: [String], default: [] },
    /** Set when the opening message was automatic (monitoring alert, list mail): no ack. */
    automatic: String,
    messageCount: { type: Number, default: 0 },
    lastMessageAt: Date,
    /** Message-ID of the latest customer message, for threading our replies to it. */
    lastCustomerMessageId: String,
    planFingerprint: String,
    /** The customer's language, chosen when the incident is opened: all their mail uses it. */
    locale: String,
    // Triage
    category: String,
    impact: { type: String, enum: ['high', 'medium', 'low'] },
    urgency: { type: String, enum: ['high', 'medium', 'low'] },
    priority: { type: String, enum: ['P1', 'P2', 'P3', 'P4'] },
    skills: [String],
    group: String,
    assignee: String,
    triagedAt: Date,
    /** Why: the classification rules that fired, the routing rule, the plan that had them. */
    triage: { rules: [String], routing: String, plan: String },
    assignedAt: Date,
    /**
     * The occasion (triage, a transfer, a command) of the current assignment, or after a
     * transfer of the one still to be made: its idempotency key.
     */
    assignCause: String,
    /** False between storing an assignment and queueing the agent's notification. */
    assignNotified: Boolean,
    // SLA
    sla: {
      firstResponse: slaClockSchema,
      resolution: slaClockSchema,
      escalationLevel: { type: Number, default: 0 },
      /** The highest level whose step has fully run (below escalationLevel only after a crash). */
      notifiedLevel: { type: Number, default: 0 },
      lastEscalatedAt: Date,
    },
    /** When the SLA sweep must look at this incident next (null: nothing pending). */
    slaCheckAt: { type: Date, default: null },
    /**
     * When the protocol sweep must next look at this incident: its next interval (`every`)
     * message, or the grace after an opening or resolution whose messages it replays (null:
     * nothing can fall due). Set at triage, on every clock change and by the sweep itself
     * (src/actions/clocks.ts, src/actions/protocols.ts), so a sweep reads only incidents due.
     */
    protocolCheckAt: { type: Date, default: null },
    firstRespondedAt: Date,
    // Resolution
    resolution: { cause: String, fix: String, workaround: String, by: String },
    resolvedAt: Date,
    closedAt: Date,
    /** The earlier incident this one continues (a customer writing long after closure). */
    linkedTo: Number,
    mergedInto: Number,
    // Post-incident review, duplicates and outages (src/actions/review.ts, src/actions/links.ts).
    /** Lessons learned; action items live in `review_actions`. `id` makes a retried add a no-op. */
    review: {
      lessons: {
        type: [{ _id: false, id: String, text: String, by: String, at: Date }],
        default: undefined,
      },
    },
    /** Open incidents of the same customer with a similar subject, found at triage. */
    duplicateOf: { type: [Number], default: undefined },
    /** The outage incident this report is grouped under; resolving the parent resolves it. */
    parent: Number,
    /** The reports grouped under this outage incident (a copy of `incident_links`, for display). */
    children: { type: [Number], default: undefined },
  },
  { ...opts, timestamps: true },
);
incidentSchema.index({ number: 1 }, { unique: true });
incidentSchema.index({ openedBy: 1 }, { unique: true });
incidentSchema.index({ status: 1, createdAt: -1 });
incidentSchema.index({ 'customer.address': 1, createdAt: -1 });
incidentSchema.index({ slaCheckAt: 1 }, { sparse: true });
incidentSchema.index({ protocolCheckAt: 1 }, { sparse: true });
incidentSchema.index({ group: 1, assignee: 1, status: 1 });
incidentSchema.index({ parent: 1 }, { sparse: true });
// Digests and reports: range queries per kind of event (src/store/reporting.ts), and the
// incidents changed since the digest caches were last checked.
incidentSchema.index({ createdAt: 1 });
incidentSchema.index({ firstRespondedAt: 1 }, { sparse: true });
incidentSchema.index({ resolvedAt: 1 }, { sparse: true });
incidentSchema.index({ 'sla.firstResponse.breachedAt': 1 }, { sparse: true });
incidentSchema.index({ 'sla.resolution.breachedAt': 1 }, { sparse: true });
incidentSchema.index({ updatedAt: 1 });

/**
 * The incident's history: messages in and out, and events (decisions, deliveries, failures).
 * A collection of its own, not an array in the incident, so it grows without bound and each
 * entry's deterministic _id makes appending idempotent.
 */
const timelineSchema = new Schema(
  {
    _id: String,
    incidentNumber: { type: Number, required: true },
    at: { type: Date, required: true },
    type: { type: String, enum: ['message', 'event'], required: true },
    direction: { type: String, enum: ['inbound', 'outbound'] },
    rawId: String,
    messageId: String,
    from: String,
    to: [String],
    subject: String,
    /** The new part of the message (quotes and signature stripped). */
    text: String,
    /** The whole decoded text body. */
    fullText: String,
    html: String,
    attachmentIds: [String],
    automatic: String,
    /**
     * Set on a message from an agent's address that could not be shown to be theirs (see
     * src/domain/agent-mail.ts): kept, never acted on or relayed. `reason` is the refusal code.
     */
    unverified: { reason: String, explanation: String },
    event: String,
    detail: Schema.Types.Mixed,
  },
  opts,
);
timelineSchema.index({ incidentNumber: 1, at: 1 });
timelineSchema.index({ messageId: 1 }, { sparse: true });

/** Attachment metadata; the bytes are in the blob store, never in the incident document. */
const attachmentSchema = new Schema(
  {
    _id: String, // `${rawId}-${index}`
    rawId: { type: String, required: true },
    incidentNumber: Number,
    filename: String,
    contentType: String,
    size: { type: Number, required: true },
    sha256: { type: String, required: true },
    blobId: { type: Schema.Types.ObjectId, required: true },
    contentId: String,
    inline: Boolean,
  },
  opts,
);
attachmentSchema.index({ rawId: 1 });

export const OUTBOX_STATES = ['pending', 'sent', 'failed'] as const;

/** Outbound mail, rendered once and sent by the notify worker; the record of what was sent. */
const outboxSchema = new Schema(
  {
    _id: String, // `${kind}-${cause}`: deterministic so a retried producer cannot send twice
    kind: { type: String, required: true },
    /** 0 for mail about no single incident (digests): nothing goes on a timeline. */
    incidentNumber: { type: Number, required: true },
    to: { type: String, required: true },
    /** The support address it is sent from (absent before several mailboxes: the first). */
    from: String,
    messageId: { type: String, required: true },
    inReplyTo: String,
    references: [String],
    replyTo: String,
    subject: { type: String, required: true },
    text: { type: String, required: true },
    html: String,
    headers: Schema.Types.Mixed,
    /** Attachments (ids in `attachments`) to send along, e.g. files an agent attached. */
    attachmentIds: { type: [String], default: [] },
    /** Images the HTML shows by `cid:` (a digest's chart), stored with the message: small. */
    inline: {
      type: [{ _id: false, cid: String, filename: String, contentType: String, data: Buffer }],
      default: undefined,
    },
    state: { type: String, enum: OUTBOX_STATES, required: true, default: 'pending' },
    attempts: { type: Number, default: 0 },
    lastError: String,
    /** When the last attempt to send it began (the sender's claim). */
    lastAttemptAt: Date,
    /**
     * The job sending it now (its job id: a rerun of the same job is the same sender), null
     * when nobody is: while claimed, no other job sends it (src/store/outbox.ts, claimOutbox).
     */
    claimedBy: String,
    sentAt: Date,
    /**
     * Its timeline entry was written when the mail was decided, with the decision. Absent on
     * mail stored before that was so: its sender writes the entry (src/actions/notify.ts).
     */
    onTimeline: Boolean,
  },
  { ...opts, timestamps: true },
);
outboxSchema.index({ incidentNumber: 1, kind: 1, createdAt: -1 });

/** Per-address delivery knowledge (e.g. undeliverable after a permanent bounce). */
const addressSchema = new Schema(
  {
    _id: String, // lower-case address
    undeliverable: { type: Boolean, default: false },
    reason: String,
    /** When we last acknowledged this sender (the newest few), for the rate limit. */
    recentAcks: { type: [Date], default: [] },
    /**
     * The raw messages those acknowledgements were claimed for (the newest few), so that a
     * rerun of a message's ingest finds its claim instead of taking another place.
     */
    ackedFor: { type: [String], default: undefined },
    updatedAt: Date,
  },
  opts,
);

/**
 * Per-group assignment memory: the round-robin pointer, and a version moved on by every
 * assignment to one of the group's members (the compare-and-set of claimAssignment).
 */
const groupStateSchema = new Schema({ _id: String, lastAssigned: String, v: Number }, opts);

export const Counter = mongoose.model('Counter', counterSchema, 'counters');
export const MailboxState = mongoose.model('MailboxState', mailboxStateSchema, 'mailbox_state');
export const RawMessage = mongoose.model('RawMessage', rawMessageSchema, 'raw_messages');
export const Incident = mongoose.model('Incident', incidentSchema, 'incidents');
export const TimelineEntry = mongoose.model('TimelineEntry', timelineSchema, 'timeline');
export const Attachment = mongoose.model('Attachment', attachmentSchema, 'attachments');
export const Outbox = mongoose.model('Outbox', outboxSchema, 'outbox');
export const Address = mongoose.model('Address', addressSchema, 'addresses');
export const GroupState = mongoose.model('GroupState', groupStateSchema, 'group_state');

/**
 * Which process runs the intake of a mailbox (`_id` as in mailbox_state). `fence` grows by one
 * with every new holder and guards the checkpoint's writes.
 */
const mailboxLeaseSchema = new Schema(
  { _id: String, holder: String, fence: Number, expiresAt: Date },
  opts,
);
export const MailboxLease = mongoose.model('MailboxLease', mailboxLeaseSchema, 'mailbox_leases');

/**
 * A mail server that refused our credentials, one document per service and account while it
 * lasts (`_id` like `imap support@mail.example.com`): what `status` and `/healthz` report.
 */
const signInProblemSchema = new Schema(
  { _id: String, service: String, response: String, since: Date, lastAt: Date },
  opts,
);
export const SignInProblem = mongoose.model(
  'SignInProblem',
  signInProblemSchema,
  'sign_in_problems',
);

// --- Post-incident review (src/store/review.ts) -------------------------------------------

/**
 * Action items of post-incident reviews, one document each; other features (the manager
 * digest) read this collection directly, so its shape is a contract:
 * `{_id: "<incidentNumber>-<k>", incidentNumber, owner (email), text, dueAt, doneAt?,
 * lastRemindedAt?, createdAt}`. Small (P1/P2 reviews only), so the reminder sweep may scan it.
 */
const reviewActionSchema = new Schema(
  {
    _id: String,
    incidentNumber: { type: Number, required: true },
    owner: { type: String, required: true },
    text: { type: String, required: true },
    dueAt: { type: Date, required: true },
    doneAt: Date,
    lastRemindedAt: Date,
    createdAt: { type: Date, required: true },
  },
  opts,
);
reviewActionSchema.index({ incidentNumber: 1 });
reviewActionSchema.index({ doneAt: 1, dueAt: 1 });
export const ReviewAction = mongoose.model('ReviewAction', reviewActionSchema, 'review_actions');
export type ReviewActionDoc = InferSchemaType<typeof reviewActionSchema> & { _id: string };

// --- Playbooks (src/store/playbook.ts) -----------------------------------------------------

/**
 * The playbook steps an incident got at triage, one document each, copied from the plan in
 * force then (a later plan edit does not change an incident's steps):
 * `{_id: "<incidentNumber>-<step>", incidentNumber, step, phase, title, owner (role), mandatory,
 * dueAt?, state: open|done|skipped, by?, reason?, closedAt?, remindedSlot?, plan, createdAt}`.
 */
const playbookStepSchema = new Schema(
  {
    _id: String,
    incidentNumber: { type: Number, required: true },
    step: { type: Number, required: true },
    category: { type: String, required: true },
    phase: { type: String, required: true },
    title: { type: String, required: true },
    owner: { type: String, required: true },
    mandatory: { type: Boolean, required: true },
    dueAt: Date,
    state: { type: String, enum: ['open', 'done', 'skipped'], required: true },
    by: String,
    reason: String,
    closedAt: Date,
    /** The last reminder sent (src/domain/playbook.ts stepReminderDue). */
    remindedSlot: Number,
    /** Set when the incident was found resolved with the step still open: chasing stops. */
    chaseEnded: Date,
    plan: String,
    createdAt: { type: Date, required: true },
  },
  opts,
);
playbookStepSchema.index({ incidentNumber: 1, step: 1 });
// The chase sweep: open, still chased steps by due date.
playbookStepSchema.index({ state: 1, chaseEnded: 1, dueAt: 1 });
export const PlaybookStep = mongoose.model('PlaybookStep', playbookStepSchema, 'playbook_steps');
export type PlaybookStepDoc = InferSchemaType<typeof playbookStepSchema> & { _id: string };

/**
 * Messages owed under a communication protocol (src/domain/protocols.ts), one per key: the key
 * is the _id, so however often a moment is replayed (a retried job, the next sweep, a process
 * killed half-way) each recipient is told once per moment. `held` waits for approval.
 */
const protocolMessageSchema = new Schema(
  {
    _id: String, // the message key: incident/protocol/template/moment#occurrence/recipient
    /** A short id for people: `#approve 3fa9c1` and `incidesk protocol approve`. */
    ref: { type: String, required: true },
    incidentNumber: { type: Number, required: true },
    protocol: { type: String, required: true },
    moment: { type: String, required: true },
    occurrence: { type: Number, required: true },
    recipient: { type: String, required: true }, // role:lead, list:board, customer:a@b, …
    /** The incident the recipient's mail is about: a reporter's own report under an outage. */
    about: { type: Number, required: true },
    audience: { type: String, enum: ['internal', 'external'], required: true },
    template: { type: String, required: true },
    locale: { type: String, required: true },
    approval: String,
    state: { type: String, enum: ['held', 'pending', 'released', 'rejected'], required: true },
    approvedBy: String,
    decidedAt: Date,
    /** The addresses it went to (a list's members, a role's holder), set when released. */
    to: { type: [String], default: undefined },
    releasedAt: Date,
    createdAt: { type: Date, required: true },
  },
  opts,
);
protocolMessageSchema.index({ incidentNumber: 1, createdAt: 1 });
// The held messages waiting for someone's approval, oldest first.
protocolMessageSchema.index({ state: 1, createdAt: 1 });
// The evidence pack: what went out in a period.
protocolMessageSchema.index({ releasedAt: 1 }, { sparse: true });
export const ProtocolMessage = mongoose.model(
  'ProtocolMessage',
  protocolMessageSchema,
  'protocol_messages',
);
export type ProtocolMessageDoc = InferSchemaType<typeof protocolMessageSchema> & { _id: string };

/**
 * Outage grouping: one document per child under a parent. The truth for "which reports does
 * resolving this parent resolve", found by the `parent` index; the parent's `children` is a
 * copy written in the same transaction. Small: only grouped incidents appear here.
 */
const incidentLinkSchema = new Schema(
  {
    _id: String, // `${parent}-${child}`
    parent: { type: Number, required: true },
    child: { type: Number, required: true },
    at: { type: Date, required: true },
    by: String,
  },
  opts,
);
incidentLinkSchema.index({ parent: 1 });
export const IncidentLink = mongoose.model('IncidentLink', incidentLinkSchema, 'incident_links');

// ---------------------------------------------------------------------------------------------
// Retention (src/store/maintenance.ts, src/store/archive.ts): archive collections, legal holds
// and the record of maintenance runs.

/**
 * Archived incidents and timeline entries: the hot documents copied verbatim (same `_id`,
 * plus `archivedAt`), so an interrupted move is completed by the next run and a restore puts
 * back exactly what left. Not strict: the shape is whatever the hot collection held.
 */
const archivedIncidentSchema = new Schema(
  { _id: Number, archivedAt: Date },
  { ...opts, strict: false },
);
const archivedTimelineSchema = new Schema(
  { _id: String, incidentNumber: Number, at: Date, archivedAt: Date },
  { ...opts, strict: false },
);
archivedTimelineSchema.index({ incidentNumber: 1, at: 1 });
/** An archived incident's playbook steps and staff threads: the same documents, `archivedAt` added. */
const archivedPlaybookStepSchema = new Schema(
  { _id: String, incidentNumber: Number, step: Number, archivedAt: Date },
  { ...opts, strict: false },
);
archivedPlaybookStepSchema.index({ incidentNumber: 1, step: 1 });
const archivedStaffThreadSchema = new Schema(
  { _id: String, archivedAt: Date },
  { ...opts, strict: false },
);

/** A legal hold: the incident, its raw messages and attachments are never archived or purged. */
const legalHoldSchema = new Schema(
  {
    _id: Number, // the incident number
    reason: { type: String, required: true },
    by: String,
    at: { type: Date, required: true },
  },
  opts,
);

/** What each maintenance run (or dry run) did or would do, per retention class. */
const maintenanceRunSchema = new Schema(
  {
    _id: String,
    dryRun: { type: Boolean, required: true },
    status: { type: String, enum: ['running', 'done', 'failed'], required: true },
    startedAt: { type: Date, required: true },
    finishedAt: Date,
    policy: Schema.Types.Mixed,
    counts: Schema.Types.Mixed,
    error: String,
  },
  opts,
);
maintenanceRunSchema.index({ startedAt: -1 });

export const ArchivedIncident = mongoose.model(
  'ArchivedIncident',
  archivedIncidentSchema,
  'archive_incidents',
);
export const ArchivedTimelineEntry = mongoose.model(
  'ArchivedTimelineEntry',
  archivedTimelineSchema,
  'archive_timeline',
);
export const ArchivedPlaybookStep = mongoose.model(
  'ArchivedPlaybookStep',
  archivedPlaybookStepSchema,
  'archive_playbook_steps',
);
export const ArchivedStaffThread = mongoose.model(
  'ArchivedStaffThread',
  archivedStaffThreadSchema,
  'archive_staff_threads',
);
export const LegalHold = mongoose.model('LegalHold', legalHoldSchema, 'legal_holds');
export const MaintenanceRun = mongoose.model(
  'MaintenanceRun',
  maintenanceRunSchema,
  'maintenance_runs',
);
// ---------------------------------------------------------------------------------------------
// Digests (src/store/reporting.ts reads the incidents and caches settled days with the driver).

/** Digests already queued (_id: their outbox id): a tick skips them without computing. Small. */
const digestLogSchema = new Schema({ _id: String, queuedAt: Date }, opts);
export const DigestLog = mongoose.model('DigestLog', digestLogSchema, 'digest_log');

export const ALL_MODELS: { createIndexes(): Promise<unknown> }[] = [
  Counter,
  MailboxState,
  RawMessage,
  Incident,
  TimelineEntry,
  Attachment,
  Outbox,
  Address,
  GroupState,
  SignInProblem,
  MailboxLease,
  ReviewAction,
  PlaybookStep,
  ProtocolMessage,
  IncidentLink,
  ArchivedIncident,
  ArchivedTimelineEntry,
  ArchivedPlaybookStep,
  ArchivedStaffThread,
  LegalHold,
  MaintenanceRun,
  DigestLog,
];

export interface SlaClockDoc {
  targetMs: number;
  consumedMs: number;
  runningSince: Date | null;
  stoppedAt: Date | null;
  warnedAt?: Date | null;
  breachedAt?: Date | null;
}
export type IncidentDoc = Omit<InferSchemaType<typeof incidentSchema>, 'sla' | 'customer'> & {
  _id: number;
  customer: { address: string; name?: string | null; tier?: string | null };
  sla?: {
    firstResponse?: SlaClockDoc | null;
    resolution?: SlaClockDoc | null;
    escalationLevel?: number;
    notifiedLevel?: number;
    lastEscalatedAt?: Date | null;
  } | null;
};
export type TimelineDoc = InferSchemaType<typeof timelineSchema> & { _id: string };
export type NewTimelineEntry = Partial<
  Omit<TimelineDoc, 'incidentNumber' | '_id' | 'at' | 'type'>
> &
  Pick<TimelineDoc, '_id' | 'at' | 'type'>;
export type RawMessageDoc = Omit<InferSchemaType<typeof rawMessageSchema>, 'data'> & {
  _id: string;
  data?: Buffer | { buffer: Uint8Array } | null;
};
export type OutboxDoc = InferSchemaType<typeof outboxSchema> & { _id: string };

// --- Audit trail (issue 5: access control and audit) ---------------------------------------

/**
 * The append-only audit log: `_id` is the entry's `seq`, so a second writer of the same seq
 * fails with E11000 instead of forking the chain. Entries are stored exactly as they were
 * hashed (plain JSON, `at` an ISO string); see src/domain/audit.ts.
 */
const auditEntrySchema = new Schema({ _id: Number }, { ...opts, strict: false });
auditEntrySchema.index({ at: 1 }); // exports by date range
// One seal per recorded entry, however many sealers run or die half-way (see sealAudit).
auditEntrySchema.index({ entryId: 1 }, { unique: true, sparse: true });

/**
 * Entries recorded but not yet linked into the chain: inserted beside the change they record,
 * under their own ObjectId, so concurrent writers never contend for a seq.
 */
const auditPendingSchema = new Schema({}, { ...opts, strict: false });

/**
 * Where the chain ends, moved forward with every append (in its transaction): `audit verify`
 * compares it with the last entry to notice entries cut off the end.
 */
const auditHeadSchema = new Schema(
  { _id: String, seq: { type: Number, required: true }, hash: { type: String, required: true } },
  opts,
);

/** Every plan text incidesk has run with, in order (`_id` 1, 2, … so two starters cannot fork). */
const planVersionSchema = new Schema(
  {
    _id: Number,
    fingerprint: { type: String, required: true },
    version: { type: Number, required: true },
    text: { type: String, required: true },
    recordedAt: { type: Date, required: true },
    /** Set on a version made by `incidesk plan review --approve`: the annual review. */
    approvedBy: String,
    approvedAt: Date,
    note: String,
  },
  opts,
);

export const AuditEntryModel = mongoose.model('AuditEntry', auditEntrySchema, 'audit_log');
export const AuditHead = mongoose.model('AuditHead', auditHeadSchema, 'audit_head');
export const AuditPending = mongoose.model('AuditPending', auditPendingSchema, 'audit_pending');
export const PlanVersion = mongoose.model('PlanVersion', planVersionSchema, 'plan_versions');
ALL_MODELS.push(AuditEntryModel, AuditHead, AuditPending, PlanVersion);
// ---------------------------------------------------------------------------------------------
// Known errors (search/report/known-errors work).

/** A known error: an underlying cause with its workaround and permanent fix. */
const knownErrorSchema = new Schema(
  {
    _id: Number, // the number of KE-0001
    title: { type: String, required: true },
    cause: { type: String, default: '' },
    workaround: { type: String, default: '' },
    fix: { type: String, default: '' },
    status: { type: String, enum: KNOWN_ERROR_STATUSES, required: true, default: 'open' },
    /** Incident numbers it explains. */
    incidents: { type: [Number], default: [] },
    fixedAt: Date,
  },
  { ...opts, timestamps: true },
);
knownErrorSchema.index({ status: 1 });

export const KnownError = mongoose.model('KnownError', knownErrorSchema, 'known_errors');
ALL_MODELS.push(KnownError);

// ---------------------------------------------------------------------------------------------
// The full-text index (src/store/search-index.ts reads and writes it with the driver; these
// models declare the collections and their indexes).

/**
 * One chunk of a term's postings list: `_id` "term#k", at most SEARCH_CHUNK_POSTINGS postings
 * packed as int32 id + float32 weight (src/domain/search.ts), so a common term is a few
 * documents of bounded size rather than one per posting.
 */
const searchPostingSchema = new Schema(
  { _id: String, t: String, k: Number, n: Number, p: Buffer },
  opts,
);
searchPostingSchema.index({ t: 1, k: 1 }, { unique: true });
export const SearchPosting = mongoose.model(
  'SearchPosting',
  searchPostingSchema,
  'search_postings',
);

/**
 * One per indexed incident (_id: its number) or known error (_id: minus its number): what a
 * hit shows, and the terms it put in the index (three parallel arrays: term, weight, chunk
 * holding the posting) so an update removes exactly its stale postings.
 */
const searchDocumentSchema = new Schema(
  {
    _id: Number,
    kind: String,
    ref: String,
    title: String,
    status: String,
    at: Date,
    resolution: { cause: String, fix: String, workaround: String },
    terms: [String],
    weights: [Number],
    chunks: [Number],
  },
  opts,
);
export const SearchDocument = mongoose.model(
  'SearchDocument',
  searchDocumentSchema,
  'search_documents',
);
ALL_MODELS.push(SearchPosting, SearchDocument);
export type KnownErrorDoc = InferSchemaType<typeof knownErrorSchema> & { _id: number };

// --- Table-top drills (src/domain/drill.ts, `incidesk drill`) -------------------------------

/**
 * One drill run: the scenario, the plan it ran against, the simulated timeline and the gaps
 * it found. Evidence of testing the plan; nothing else reads or writes incidents for a drill.
 */
const drillRunSchema = new Schema(
  {
    _id: String,
    scenario: { type: String, required: true },
    scenarioFile: String,
    scenarioSha256: String,
    plan: { type: String, required: true },
    /** When the simulated clock started; `ranAt` is when the drill was run. */
    start: { type: Date, required: true },
    ranAt: { type: Date, required: true },
    by: String,
    minutes: Number,
    entries: Schema.Types.Mixed,
    findings: Schema.Types.Mixed,
    incidents: Schema.Types.Mixed,
    /** `--mail-to`: the one mailbox the would-be messages went to, and how many were sent. */
    mailedTo: String,
    mailed: Number,
  },
  opts,
);
drillRunSchema.index({ ranAt: -1 });
export const DrillRunModel = mongoose.model('DrillRun', drillRunSchema, 'drill_runs');
export type DrillRunDoc = InferSchemaType<typeof drillRunSchema> & { _id: string };
ALL_MODELS.push(DrillRunModel);
