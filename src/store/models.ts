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
    source: { mailbox: String, uidValidity: String, uid: Number },
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
    participants: { type: [String], default: [] },
    /** Set when the opening message was automatic (monitoring alert, list mail): no ack. */
    automatic: String,
    messageCount: { type: Number, default: 0 },
    lastMessageAt: Date,
    /** Message-ID of the latest customer message, for threading our replies to it. */
    lastCustomerMessageId: String,
    planFingerprint: String,
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
    /** What the current assignment was for (triage, a transfer, a command): its idempotency key. */
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
    firstRespondedAt: Date,
    // Resolution
    resolution: { cause: String, fix: String, workaround: String, by: String },
    resolvedAt: Date,
    closedAt: Date,
    /** The earlier incident this one continues (a customer writing long after closure). */
    linkedTo: Number,
    mergedInto: Number,
  },
  { ...opts, timestamps: true },
);
incidentSchema.index({ number: 1 }, { unique: true });
incidentSchema.index({ openedBy: 1 }, { unique: true });
incidentSchema.index({ status: 1, createdAt: -1 });
incidentSchema.index({ 'customer.address': 1, createdAt: -1 });
incidentSchema.index({ slaCheckAt: 1 }, { sparse: true });
incidentSchema.index({ group: 1, assignee: 1, status: 1 });

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
    incidentNumber: { type: Number, required: true },
    to: { type: String, required: true },
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
    state: { type: String, enum: OUTBOX_STATES, required: true, default: 'pending' },
    attempts: { type: Number, default: 0 },
    lastError: String,
    sentAt: Date,
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
    updatedAt: Date,
  },
  opts,
);

/** Per-group assignment memory (the round-robin pointer). */
const groupStateSchema = new Schema({ _id: String, lastAssigned: String }, opts);

export const Counter = mongoose.model('Counter', counterSchema, 'counters');
export const MailboxState = mongoose.model('MailboxState', mailboxStateSchema, 'mailbox_state');
export const RawMessage = mongoose.model('RawMessage', rawMessageSchema, 'raw_messages');
export const Incident = mongoose.model('Incident', incidentSchema, 'incidents');
export const TimelineEntry = mongoose.model('TimelineEntry', timelineSchema, 'timeline');
export const Attachment = mongoose.model('Attachment', attachmentSchema, 'attachments');
export const Outbox = mongoose.model('Outbox', outboxSchema, 'outbox');
export const Address = mongoose.model('Address', addressSchema, 'addresses');
export const GroupState = mongoose.model('GroupState', groupStateSchema, 'group_state');

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
export type RawMessageDoc = Omit<InferSchemaType<typeof rawMessageSchema>, 'data'> & {
  _id: string;
  data?: Buffer | { buffer: Uint8Array } | null;
};
export type OutboxDoc = InferSchemaType<typeof outboxSchema> & { _id: string };

// ---------------------------------------------------------------------------------------------
// Known errors (search/report/known-errors work). The full-text index lives in collections of
// its own (search_terms_XX, search_docs_XX, search_meta), written with the driver by
// src/store/search-index.ts, not through models: there are hundreds of partitions.

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
export type KnownErrorDoc = InferSchemaType<typeof knownErrorSchema> & { _id: number };
