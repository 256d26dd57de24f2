/**
 * Queue names and job payloads shared by producers and workers. Payloads carry ids, and
 * never state that can change: the truth is in MongoDB, so a replayed or duplicated job reads
 * current state, not a stale copy. The exceptions are facts that do not change: the opening
 * message's text (bounded) and the new incident as inserted travel with the triage job, so
 * triage need not read them back; its decision's guard catches an incident changed meanwhile.
 */
import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';
import {
  JOB_ATTEMPTS,
  JOB_BACKOFF_MS,
  JOB_KEEP_COMPLETED,
  JOB_KEEP_FAILED,
  OPENING_TEXT_IN_JOB_MAX_CHARS,
} from './constants.js';

export const QUEUES = {
  ingest: 'ingest',
  triage: 'triage',
  assign: 'assign',
  announce: 'announce',
  sla: 'sla',
  notify: 'notify',
  digest: 'digest',
  index: 'index',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface IngestJob {
  rawId: string;
}
export interface NotifyJob {
  outboxId: string;
}
/**
 * Triage a new incident: classify, route, start its clocks, give it its playbook, assign it
 * and tell the agent. `opening` is what its opening message said, when ingest had it at hand
 * and it is short enough; without it (recovery, a long message, a job from an older version)
 * triage reads the message. `born` is the incident as ingest inserted it; without it triage
 * reads the incident.
 */
export interface TriageJob {
  incident: number;
  opening?: OpeningFacts;
  born?: BornFacts;
}

/**
 * What triage decides from, as the incident was inserted: fixed at birth, except that it may
 * be grouped under a parent while still `new`, which the decision's guard checks.
 */
export interface BornFacts {
  subject: string;
  customer: { address: string; name?: string };
  mailbox?: string;
  openedBy: string;
  /** Epoch milliseconds (a job is JSON). */
  createdAt: number;
}

/** The born facts of an incident just inserted, for its triage job. */
export function bornFacts(incident: {
  subject: string;
  customer: { address: string; name?: string | null };
  mailbox?: string | null;
  openedBy: string;
  createdAt: Date;
}): BornFacts {
  const { address, name } = incident.customer;
  return {
    subject: incident.subject,
    customer: name ? { address, name } : { address },
    ...(incident.mailbox ? { mailbox: incident.mailbox } : {}),
    openedBy: incident.openedBy,
    createdAt: incident.createdAt.getTime(),
  };
}

/** The opening message's immutable facts, as triage and the agent's mail use them. */
export interface OpeningFacts {
  /** The text as on the timeline (quotes and signature stripped). */
  text: string;
  attachmentIds: string[];
}

/** The opening facts for a triage job, or none when the text is too long to carry in Redis. */
export function openingFacts(
  text: string | null | undefined,
  attachmentIds: readonly string[],
): OpeningFacts | undefined {
  const t = text ?? '';
  return t.length <= OPENING_TEXT_IN_JOB_MAX_CHARS
    ? { text: t, attachmentIds: [...attachmentIds] }
    : undefined;
}
/** Pick an agent in the incident's current group (after triage, a transfer or an escalation). */
export interface AssignJob {
  incident: number;
  /** What caused the (re)assignment, for the timeline; also part of the job id. */
  cause: string;
}
/**
 * Tell the agent of a stored assignment made by an assign job (a new incident's triage tells
 * the agent itself). Apart from the assignment: the notification looks up similar incidents.
 */
export type AnnounceJob = AssignJob;
/** Review one incident's SLA clocks; `incident` 0 is the periodic sweep over all of them. */
export interface SlaJob {
  incident: number;
}
/** Build and queue every manager digest that is due (the periodic tick). */
export type DigestJob = Record<string, never>;

/** The built-in nightly retention run; its job id names the UTC day. */
export type MaintenanceJob = Record<string, never>;

/** Bring the search index up to date for one incident or known error (see src/actions/search.ts). */
export interface IndexJob {
  kind: 'incident' | 'known-error';
  id: number;
}

export interface Queues {
  ingest: Queue<IngestJob>;
  triage: Queue<TriageJob>;
  assign: Queue<AssignJob>;
  announce: Queue<AnnounceJob>;
  sla: Queue<SlaJob>;
  notify: Queue<NotifyJob>;
  digest: Queue<DigestJob>;
  index: Queue<IndexJob>;
  maintenance: Queue<MaintenanceJob>;
  close(): Promise<void>;
}

export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
  removeOnComplete: JOB_KEEP_COMPLETED,
  removeOnFail: JOB_KEEP_FAILED,
};

export function openQueues(connection: ConnectionOptions, prefix: string): Queues {
  const options = { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS };
  const queues = {
    ingest: new Queue<IngestJob>(QUEUES.ingest, options),
    triage: new Queue<TriageJob>(QUEUES.triage, options),
    assign: new Queue<AssignJob>(QUEUES.assign, options),
    announce: new Queue<AnnounceJob>(QUEUES.announce, options),
    sla: new Queue<SlaJob>(QUEUES.sla, options),
    notify: new Queue<NotifyJob>(QUEUES.notify, options),
    digest: new Queue<DigestJob>(QUEUES.digest, options),
    index: new Queue<IndexJob>(QUEUES.index, options),
    maintenance: new Queue<MaintenanceJob>(QUEUES.maintenance, options),
  };
  return {
    ...queues,
    async close() {
      await Promise.all(Object.values(queues).map((q) => q.close()));
    },
  };
}

/**
 * Add the job unless one with this id is waiting, running or failed (a failed job is a dead
 * letter, kept for inspection and replay). A job that completed while its work is still
 * unfinished is removed first, so the work runs again (every processor is idempotent); a
 * plain re-add would be swallowed by the completed job's id.
 */
export async function requeue<T>(
  queue: Queue<T>,
  name: string,
  data: T,
  jobId: string,
): Promise<void> {
  const existing = await queue.getJob(jobId);
  if (existing) {
    const state = await existing.getState();
    if (state !== 'completed') return;
    await existing.remove().catch(() => undefined); // another sweep may have removed it
  }
  await (queue as Queue).add(name, data, { jobId });
}

/** Job ids are deterministic so that enqueueing twice (a retried producer) runs once. */
export const jobIds = {
  ingest: (rawId: string) => `ingest-${rawId}`,
  triage: (incident: number) => `triage-${incident}`,
  assign: (incident: number, cause: string) => `assign-${incident}-${cause}`,
  announce: (incident: number, cause: string) => `announce-${incident}-${cause}`,
  /** One pending timer per incident and instant: rescheduling to the same time is a no-op. */
  sla: (incident: number, at: Date) => `sla-${incident}-${at.getTime()}`,
  notify: (outboxId: string) => `notify-${outboxId}`,
  /** One digest tick per window of DIGEST_TICK_MS, whichever process enqueues it. */
  digestTick: (at: Date, everyMs: number) => `digest-tick-${Math.floor(at.getTime() / everyMs)}`,
  /** One built-in maintenance run per UTC day (`day` is YYYY-MM-DD). */
  maintenance: (day: string) => `maintenance-${day}`,
  /** One run per change of the document's text (`cause` names the change). */
  index: (job: IndexJob, cause: string) =>
    `index-${job.kind}-${job.id}-${cause.replace(/[^A-Za-z0-9_-]/g, '_')}`,
};
