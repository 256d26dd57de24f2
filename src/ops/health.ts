/**
 * Gathers a HealthSnapshot from the live process: store and Redis pings, queue depths, the
 * intake's own state, and counts from the store. Every probe has a deadline, so a hung
 * dependency makes /healthz answer 503 quickly instead of hanging the health checker.
 */
import type { Redis } from 'ioredis';
import {
  QUEUE_STATES,
  type HealthSnapshot,
  type IntakeHealth,
  type MailboxIdentity,
  type Probe,
  type QueueState,
} from '../domain/health.js';
import type { Queues } from '../queues.js';
import { QUEUES } from '../queues.js';
import { signInRefusals } from '../store/sign-in.js';
import {
  backlogByAddress,
  mailboxCheckpoints,
  oldestOverdueIncident,
  outboxCountsByState,
  pingStore,
  rawCountsByState,
} from '../store/health.js';

/** A probe that takes longer than this counts as down. */
export const PROBE_TIMEOUT_MS = 3_000;
/**
 * Counts that scan whole collections are refreshed at most this often: a scrape every 15 s
 * must not keep a server without indexes busy.
 */
export const STORE_COUNTS_TTL_MS = 30_000;

export interface HealthSources {
  redis: Redis;
  /** Absent when Redis could not be reached at all (a one-shot `status`). */
  queues?: Queues;
  pollSeconds: number;
  /** The mailboxes the configuration names, for one status row each. */
  mailboxes: readonly MailboxIdentity[];
  /** The intake of this process, if it runs one. */
  intake?: () => IntakeHealth;
  now?: () => Date;
}

function withDeadline<T>(what: string, p: Promise<T>, ms = PROBE_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function probe(what: string, fn: () => Promise<unknown>): Promise<Probe> {
  try {
    await withDeadline(what, fn());
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

interface StoreCounts {
  raw: Record<string, number>;
  outbox: Record<string, number>;
  oldestOverdue: HealthSnapshot['oldestOverdue'];
  at: number;
}

export class HealthMonitor {
  private cached?: StoreCounts;
  private refreshing?: Promise<StoreCounts>;

  constructor(private readonly sources: HealthSources) {}

  /** `counts: false` (for /healthz) skips the queue depths and the collection scans. */
  async snapshot(options: { counts?: boolean } = {}): Promise<HealthSnapshot> {
    const withCounts = options.counts ?? true;
    const now = (this.sources.now ?? (() => new Date()))();
    const [store, redis] = await Promise.all([
      probe('the store', pingStore),
      probe('Redis', () => this.sources.redis.ping()),
    ]);
    const [mailboxes, backlog, signIn, queues, counts] = await Promise.all([
      store.ok ? withDeadline('the store', mailboxCheckpoints()).catch(() => null) : null,
      store.ok ? withDeadline('the store', backlogByAddress()).catch(() => null) : null,
      store.ok ? withDeadline('the store', signInRefusals()).catch(() => null) : null,
      redis.ok && withCounts ? this.queueDepths().catch(() => null) : null,
      store.ok && withCounts ? this.storeCounts(now).catch(() => null) : null,
    ]);
    return {
      at: now,
      store,
      redis,
      pollSeconds: this.sources.pollSeconds,
      intake: this.sources.intake?.(),
      configured: this.sources.mailboxes,
      mailboxes,
      backlog,
      signIn,
      queues,
      raw: counts?.raw ?? null,
      outbox: counts?.outbox ?? null,
      oldestOverdue: counts?.oldestOverdue ?? null,
    };
  }

  private async queueDepths(): Promise<Record<string, Record<QueueState, number>> | null> {
    const queues = this.sources.queues;
    if (!queues) return null;
    const names = Object.values(QUEUES);
    const rows = await withDeadline(
      'Redis',
      Promise.all(names.map((n) => queues[n].getJobCounts(...QUEUE_STATES))),
    );
    return Object.fromEntries(
      names.map((n, i) => [
        n,
        Object.fromEntries(QUEUE_STATES.map((s) => [s, rows[i]![s] ?? 0])) as Record<
          QueueState,
          number
        >,
      ]),
    );
  }

  private async storeCounts(now: Date): Promise<StoreCounts> {
    if (this.cached && now.getTime() - this.cached.at < STORE_COUNTS_TTL_MS) return this.cached;
    this.refreshing ??= (async () => {
      const [raw, outbox, oldestOverdue] = await Promise.all([
        rawCountsByState(),
        outboxCountsByState(),
        oldestOverdueIncident(now),
      ]);
      return { raw, outbox, oldestOverdue, at: now.getTime() };
    })().finally(() => (this.refreshing = undefined));
    this.cached = await withDeadline('the store', this.refreshing, PROBE_TIMEOUT_MS * 3);
    return this.cached;
  }
}
