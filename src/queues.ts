/**
 * Queue names and job payloads shared by producers and workers. Payloads carry ids only: the
 * truth is in MongoDB, so a replayed or duplicated job reads current state, not a stale copy.
 */
import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';
import {
  JOB_ATTEMPTS,
  JOB_BACKOFF_MS,
  JOB_KEEP_COMPLETED,
  JOB_KEEP_FAILED,
} from './constants.js';

export const QUEUES = { ingest: 'ingest', notify: 'notify' } as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface IngestJob {
  rawId: string;
}
export interface NotifyJob {
  outboxId: string;
}

export interface Queues {
  ingest: Queue<IngestJob>;
  notify: Queue<NotifyJob>;
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
  const ingest = new Queue<IngestJob>(QUEUES.ingest, options);
  const notify = new Queue<NotifyJob>(QUEUES.notify, options);
  return {
    ingest,
    notify,
    async close() {
      await Promise.all([ingest.close(), notify.close()]);
    },
  };
}

/** Job ids are deterministic so that enqueueing twice (a retried producer) runs once. */
export const jobIds = {
  ingest: (rawId: string) => `ingest-${rawId}`,
  notify: (outboxId: string) => `notify-${outboxId}`,
};
