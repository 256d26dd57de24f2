/**
 * What "healthy" means, and how it is shown: the verdict behind `GET /healthz`, the metric
 * families behind `GET /metrics`, and the `incidesk status` table. All pure: the snapshot is
 * gathered elsewhere (src/ops/health.ts), so every rule here is unit tested.
 */
import type { MetricFamily } from './prometheus.js';
import { formatIncidentId } from './tokens.js';

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** A probe of one dependency: up, or the reason it is not. */
export type Probe = { ok: true } | { ok: false; error: string };

export interface MailboxHealth {
  /** `${user}/${mailbox}` */
  key: string;
  lastSyncAt: Date | null;
  lastUid: number;
  resets: number;
  /** The process that runs this mailbox's intake (its lease), if any has yet. */
  lease?: { holder: string; fence: number; expiresAt: Date };
}

/** Who a configured mailbox is: enough for its status row, no secrets. */
export interface MailboxIdentity {
  /** `default` for the first, else its name in INCIDESK_MAILBOXES. */
  name: string;
  /** Its support address: where customers write. */
  address: string;
  /** `user@host`, as refused sign-ins are recorded (src/store/sign-in.ts). */
  account: string;
  /** `user/mailbox`: its checkpoint and lease key. */
  key: string;
}

/** One mailbox's intake in this process, as combineIntakes keeps it for the status rows. */
export interface OwnIntake {
  key: string;
  connected: boolean;
  lease: 'held' | 'standby';
  lastError?: string;
}

/** The intake of this very process (absent in a workers-only process and in the CLI). */
export interface IntakeHealth {
  connected: boolean;
  idling: boolean;
  /** Last proof of a working IMAP session: a finished sync pass or batch. */
  lastHeartbeatAt: Date | null;
  reconnects: number;
  stored: number;
  lastError?: string;
  /** `standby`: another process holds the mailbox's lease and runs its intake. */
  lease: 'held' | 'standby';
  /** Checkpoint keys (`user/mailbox`) of the mailboxes it serves: a standby is judged by theirs. */
  mailboxes?: readonly string[];
  /** Each mailbox's own intake, for its status row. */
  each?: readonly OwnIntake[];
}

/**
 * The intakes of one process, one per mailbox, as one: it is healthy only when every mailbox
 * it holds is. Connected when all are, as fresh as the stalest, and the first broken one's
 * error named after its address, so that `/healthz` and `status` say which mailbox is down.
 */
export function combineIntakes(
  intakes: readonly [IntakeHealth & { address: string }, ...(IntakeHealth & { address: string })[]],
): IntakeHealth {
  const each = intakes.flatMap((i) =>
    (i.mailboxes ?? []).map((key) => ({
      key,
      connected: i.connected,
      lease: i.lease,
      ...(i.lastError !== undefined && { lastError: i.lastError }),
    })),
  );
  const held = intakes.filter((i) => i.lease === 'held');
  if (held.length === 0)
    return {
      ...intakes[0],
      lease: 'standby',
      mailboxes: intakes.flatMap((i) => i.mailboxes ?? []),
      each,
    };
  const broken = held.find((i) => !i.connected);
  const heartbeats = held.map((i) => i.lastHeartbeatAt);
  return {
    connected: !broken,
    idling: held.every((i) => i.idling),
    lastHeartbeatAt: heartbeats.includes(null)
      ? null
      : new Date(Math.min(...heartbeats.map((d) => d!.getTime()))),
    reconnects: intakes.reduce((n, i) => n + i.reconnects, 0),
    mailboxes: intakes.flatMap((i) => i.mailboxes ?? []),
    stored: intakes.reduce((n, i) => n + i.stored, 0),
    lastError:
      intakes.length === 1
        ? intakes[0].lastError
        : broken && `${broken.address}: ${broken.lastError ?? 'not connected'}`,
    lease: 'held',
    each,
  };
}

/** A mail server that refuses incidesk's credentials (src/store/sign-in.ts). */
export interface SignInHealth {
  service: 'imap' | 'smtp';
  account: string;
  response: string;
  since: Date;
}

export interface HealthSnapshot {
  at: Date;
  store: Probe;
  redis: Probe;
  /** How often the intake syncs at the least; liveness is judged against it. */
  pollSeconds: number;
  intake?: IntakeHealth;
  /** The mailboxes the configuration names, in its order (empty: not known here). */
  configured: readonly MailboxIdentity[];
  /** Checkpoints in the store; null when the store could not be asked. */
  mailboxes: MailboxHealth[] | null;
  /** Messages taken from each mailbox (by support address) and waiting for ingest; null: unknown. */
  backlog: Record<string, number> | null;
  /** Sign-ins refused right now; null when the store could not be asked. */
  signIn: SignInHealth[] | null;
  queues: Record<string, Record<QueueState, number>> | null;
  raw: Record<string, number> | null;
  outbox: Record<string, number> | null;
  oldestOverdue: { incident: number; slaCheckAt: Date } | null;
}

/** The intake counts as alive while it proved a working session within this many poll intervals. */
export const INTAKE_STALE_POLLS = 3;
/** Plus this slack, for a sync pass working through a large backlog. */
export const INTAKE_STALE_SLACK_SECONDS = 60;

export const intakeStaleAfterSeconds = (pollSeconds: number) =>
  pollSeconds * INTAKE_STALE_POLLS + INTAKE_STALE_SLACK_SECONDS;

const ageSeconds = (at: Date, since: Date | null | undefined) =>
  since ? Math.max(0, (at.getTime() - new Date(since).getTime()) / 1000) : null;

export type MailboxState = 'connected' | 'auth refused' | 'down' | 'unknown';

/** One row of `status` (and of `/healthz`): a configured mailbox and how its intake is doing. */
export interface MailboxStatus {
  name: string;
  address: string;
  account: string;
  key: string;
  state: MailboxState;
  /** Why it is not connected: the server's refusal, the intake's last error, a stale checkpoint. */
  reason?: string;
  lastCheckpointAt: Date | null;
  lastUid: number | null;
  backlog: number | null;
}

/**
 * Each configured mailbox's state. A refused sign-in says so, in the server's words. Otherwise
 * this process's own intake of the mailbox decides when it holds the lease; else (the CLI, a
 * standby) the checkpoint does: connected while some process synced it recently.
 */
export function mailboxStatuses(s: HealthSnapshot): MailboxStatus[] {
  const staleAfter = intakeStaleAfterSeconds(s.pollSeconds);
  return s.configured.map((id) => {
    const checkpoint = s.mailboxes?.find((m) => m.key === id.key);
    const refused = s.signIn?.find((r) => r.service === 'imap' && r.account === id.account);
    const own = s.intake?.each?.find((i) => i.key === id.key && i.lease === 'held');
    const age = ageSeconds(s.at, checkpoint?.lastSyncAt);
    const row = {
      ...id,
      lastCheckpointAt: checkpoint?.lastSyncAt ?? null,
      lastUid: checkpoint?.lastUid ?? null,
      backlog: s.backlog ? (s.backlog[id.address] ?? 0) : null,
    };
    if (refused) return { ...row, state: 'auth refused' as const, reason: refused.response };
    if (own)
      return own.connected
        ? { ...row, state: 'connected' as const }
        : { ...row, state: 'down' as const, reason: own.lastError ?? 'not connected' };
    if (!s.mailboxes) return { ...row, state: 'unknown' as const, reason: 'the store is down' };
    if (age !== null && age <= staleAfter) return { ...row, state: 'connected' as const };
    return {
      ...row,
      state: 'down' as const,
      reason:
        age === null ? 'never synced' : `no sync for ${Math.round(age)} s (limit ${staleAfter} s)`,
    };
  });
}

export interface Verdict {
  healthy: boolean;
  checks: { store: boolean; redis: boolean; intake: boolean | null; signIn: boolean };
  reasons: string[];
}

/**
 * Healthy when the store and Redis answer and the intake is alive. The intake is judged by
 * this process's own IMAP session when it runs one; otherwise (the CLI) by the newest mailbox
 * checkpoint in the store; a workers-only process has no intake to judge (`intake: null`).
 */
export function assessHealth(s: HealthSnapshot, judgeMailboxes = false): Verdict {
  const reasons: string[] = [];
  if (!s.store.ok) reasons.push(`store: ${s.store.error}`);
  if (!s.redis.ok) reasons.push(`redis: ${s.redis.error}`);
  for (const r of s.signIn ?? [])
    reasons.push(
      `${r.service}: ${r.account} sign-in refused since ${new Date(r.since).toISOString()}: ${r.response}`,
    );
  const staleAfter = intakeStaleAfterSeconds(s.pollSeconds);
  let intake: boolean | null = null;
  if (s.intake?.lease === 'held') {
    const age = ageSeconds(s.at, s.intake.lastHeartbeatAt);
    if (!s.intake.connected)
      reasons.push(
        `intake: not connected to IMAP${s.intake.lastError ? ` (${s.intake.lastError})` : ''}`,
      );
    else if (age === null) reasons.push('intake: connected but no sync has finished yet');
    else if (age > staleAfter)
      reasons.push(`intake: no successful sync for ${Math.round(age)} s (limit ${staleAfter} s)`);
    intake = s.intake.connected && age !== null && age <= staleAfter;
  } else if (judgeMailboxes && !s.intake && s.mailboxes && s.configured.length > 0) {
    // From the CLI, knowing the configuration: every mailbox must be served, not just one.
    const rows = mailboxStatuses(s);
    for (const r of rows.filter((r) => r.state === 'down'))
      reasons.push(`intake: ${r.address} down (${r.reason})`);
    intake = rows.every((r) => r.state === 'connected');
  } else if ((judgeMailboxes || s.intake) && s.mailboxes) {
    // Judged by the checkpoints: from the CLI, and by a standby process (is its mailbox served
    // by another process? another mailbox's fresh checkpoint says nothing about that).
    const own = s.intake?.mailboxes;
    const newest = s.mailboxes
      .filter((m) => !own || own.includes(m.key))
      .map((m) => ageSeconds(s.at, m.lastSyncAt))
      .filter((a): a is number => a !== null)
      .sort((a, b) => a - b)[0];
    if (newest === undefined) reasons.push('intake: no mailbox has ever been synced');
    else if (newest > staleAfter)
      reasons.push(`intake: last mailbox sync ${Math.round(newest)} s ago (limit ${staleAfter} s)`);
    intake = newest !== undefined && newest <= staleAfter;
  }
  return {
    healthy: reasons.length === 0,
    checks: { store: s.store.ok, redis: s.redis.ok, intake, signIn: (s.signIn ?? []).length === 0 },
    reasons,
  };
}

const up = (b: boolean) => (b ? 1 : 0);

/** The metric families of `GET /metrics` (names are documented in docs/operations.md). */
export function healthMetrics(s: HealthSnapshot, verdict: Verdict): MetricFamily[] {
  const families: MetricFamily[] = [
    {
      name: 'incidesk_healthy',
      help: 'Whether /healthz reports healthy (1) or not (0).',
      type: 'gauge',
      samples: [{ value: up(verdict.healthy) }],
    },
    {
      name: 'incidesk_check_up',
      help: 'Whether a dependency answered: the store (MongoDB), Redis, the IMAP intake.',
      type: 'gauge',
      samples: Object.entries(verdict.checks)
        .filter((e): e is [string, boolean] => e[1] !== null)
        .map(([check, ok]) => ({ labels: { check }, value: up(ok) })),
    },
  ];
  if (s.mailboxes) {
    const synced = s.mailboxes.filter((m) => m.lastSyncAt);
    families.push(
      {
        name: 'incidesk_mailbox_last_sync_timestamp_seconds',
        help: 'When the intake last finished a sync of the mailbox (Unix time).',
        type: 'gauge',
        samples: synced.map((m) => ({
          labels: { mailbox: m.key },
          value: new Date(m.lastSyncAt!).getTime() / 1000,
        })),
      },
      {
        name: 'incidesk_mailbox_sync_age_seconds',
        help: 'Seconds since the intake last finished a sync of the mailbox.',
        type: 'gauge',
        samples: synced.map((m) => ({
          labels: { mailbox: m.key },
          value: ageSeconds(s.at, m.lastSyncAt)!,
        })),
      },
      {
        name: 'incidesk_mailbox_last_uid',
        help: 'The highest IMAP UID taken in (the checkpoint).',
        type: 'gauge',
        samples: s.mailboxes.map((m) => ({ labels: { mailbox: m.key }, value: m.lastUid })),
      },
    );
  }
  const rows = mailboxStatuses(s);
  if (rows.length > 0)
    families.push(
      {
        name: 'incidesk_mailbox_up',
        help: 'Whether the mailbox is served: its intake connected and syncing (0: down or sign-in refused).',
        type: 'gauge',
        samples: rows.map((r) => ({
          labels: { address: r.address, state: r.state },
          value: up(r.state === 'connected'),
        })),
      },
      {
        name: 'incidesk_mailbox_backlog',
        help: 'Messages taken from the mailbox and waiting for ingest.',
        type: 'gauge',
        samples: rows
          .filter((r) => r.backlog !== null)
          .map((r) => ({ labels: { address: r.address }, value: r.backlog! })),
      },
    );
  if (s.intake) {
    const i = s.intake;
    families.push(
      {
        name: 'incidesk_intake_connected',
        help: 'Whether this process has its IMAP mailbox open.',
        type: 'gauge',
        samples: [{ value: up(i.connected) }],
      },
      {
        name: 'incidesk_intake_idling',
        help: 'Whether the IMAP connection is in IDLE right now (it leaves IDLE to sync).',
        type: 'gauge',
        samples: [{ value: up(i.idling) }],
      },
      {
        name: 'incidesk_intake_heartbeat_age_seconds',
        help: 'Seconds since the intake last proved a working IMAP session (a finished sync); -1 before the first.',
        type: 'gauge',
        samples: [{ value: ageSeconds(s.at, i.lastHeartbeatAt) ?? -1 }],
      },
      {
        name: 'incidesk_intake_lease_held',
        help: "Whether this process holds its mailbox's lease and runs the intake (0: standing by).",
        type: 'gauge',
        samples: [{ value: up(i.lease === 'held') }],
      },
      {
        name: 'incidesk_intake_reconnects_total',
        help: 'IMAP reconnections since this process started.',
        type: 'counter',
        samples: [{ value: i.reconnects }],
      },
      {
        name: 'incidesk_intake_stored_total',
        help: 'Messages this process stored from IMAP since it started.',
        type: 'counter',
        samples: [{ value: i.stored }],
      },
    );
  }
  if (s.queues) {
    families.push({
      name: 'incidesk_queue_jobs',
      help: 'Jobs per queue and state; failed jobs are the dead letters (incidesk dlq list).',
      type: 'gauge',
      samples: Object.entries(s.queues).flatMap(([queue, counts]) =>
        QUEUE_STATES.map((state) => ({ labels: { queue, state }, value: counts[state] })),
      ),
    });
  }
  if (s.raw) {
    families.push({
      name: 'incidesk_raw_messages',
      help: 'Stored raw messages by state (quarantined: set aside with a reason).',
      type: 'gauge',
      samples: ['stored', 'ingested', 'quarantined'].map((state) => ({
        labels: { state },
        value: s.raw![state] ?? 0,
      })),
    });
  }
  if (s.outbox) {
    families.push({
      name: 'incidesk_outbox_messages',
      help: 'Outbound mail by state (failed: a permanent SMTP failure or retries used up).',
      type: 'gauge',
      samples: ['pending', 'sent', 'failed'].map((state) => ({
        labels: { state },
        value: s.outbox![state] ?? 0,
      })),
    });
  }
  if (s.store.ok) {
    families.push({
      name: 'incidesk_sla_oldest_overdue_seconds',
      help: 'How long the oldest due SLA check has waited for the sweep (0: none overdue).',
      type: 'gauge',
      samples: [{ value: s.oldestOverdue ? ageSeconds(s.at, s.oldestOverdue.slaCheckAt)! : 0 }],
    });
  }
  return families;
}

const fmtAge = (seconds: number | null) => {
  if (seconds === null) return 'never';
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
};

/** A checkpoint's UID, UIDVALIDITY resets and lease, for a status line. */
function checkpointText(s: HealthSnapshot, m: MailboxHealth | undefined): string {
  if (!m) return '';
  const lease = m.lease
    ? `; intake ${m.lease.holder} (fence ${m.lease.fence}${new Date(m.lease.expiresAt) < s.at ? ', lease EXPIRED' : ''})`
    : '';
  return `, last UID ${m.lastUid}${m.resets ? `, ${m.resets} UIDVALIDITY reset(s)` : ''}${lease}`;
}

/** The human-readable `incidesk status`. */
export function statusText(s: HealthSnapshot, verdict: Verdict): string {
  const out = [
    `health:   ${verdict.healthy ? 'ok' : 'UNHEALTHY'}`,
    ...verdict.reasons.map((r) => `  - ${r}`),
    `store:    ${s.store.ok ? 'up' : `DOWN (${s.store.error})`}`,
    `redis:    ${s.redis.ok ? 'up' : `DOWN (${s.redis.error})`}`,
  ];
  if (s.intake?.lease === 'standby')
    out.push('intake:   standing by (another process holds the lease)');
  else if (s.intake) {
    out.push(
      `intake:   ${s.intake.connected ? 'connected' : 'DISCONNECTED'}${s.intake.idling ? ', idling' : ''}, last sync ${fmtAge(ageSeconds(s.at, s.intake.lastHeartbeatAt))}, ${s.intake.reconnects} reconnects`,
    );
  }
  for (const r of s.signIn ?? [])
    out.push(`sign-in:  ${r.service.toUpperCase()} ${r.account} REFUSED: ${r.response}`);
  const rows = mailboxStatuses(s);
  const named = new Set(rows.map((r) => r.key));
  for (const r of rows) {
    const state = r.state === 'connected' ? 'connected' : r.state.toUpperCase();
    out.push(
      `mailbox:  ${r.address}  ${state}${r.reason ? `: ${r.reason}` : ''}; last checkpoint ${fmtAge(ageSeconds(s.at, r.lastCheckpointAt))}, backlog ${r.backlog ?? '?'}${checkpointText(
        s,
        s.mailboxes?.find((m) => m.key === r.key),
      )}`,
    );
  }
  if (s.mailboxes) {
    if (s.mailboxes.length === 0 && rows.length === 0) out.push('mailboxes: none synced yet');
    // Checkpoints of mailboxes not configured here (the CLI without the IMAP variables, a
    // mailbox since removed): by their key.
    for (const m of s.mailboxes.filter((m) => !named.has(m.key)))
      out.push(
        `mailbox:  ${m.key}  last sync ${fmtAge(ageSeconds(s.at, m.lastSyncAt))}${checkpointText(s, m)}`,
      );
  }
  if (s.queues) {
    out.push('', 'QUEUE     WAITING  ACTIVE  DELAYED  FAILED');
    for (const [q, c] of Object.entries(s.queues))
      out.push(
        `${q.padEnd(8)}  ${String(c.waiting).padStart(7)}  ${String(c.active).padStart(6)}  ${String(c.delayed).padStart(7)}  ${String(c.failed).padStart(6)}`,
      );
  }
  const failures: string[] = [];
  if (s.queues) {
    const failed = Object.values(s.queues).reduce((n, c) => n + c.failed, 0);
    failures.push(`${failed} failed job(s) (incidesk dlq list)`);
  }
  if (s.raw)
    failures.push(
      `${s.raw.quarantined ?? 0} quarantined message(s), ${s.raw.stored ?? 0} awaiting ingest`,
    );
  if (s.outbox)
    failures.push(
      `${s.outbox.failed ?? 0} failed outbound mail(s), ${s.outbox.pending ?? 0} pending`,
    );
  if (failures.length) out.push('', ...failures.map((f) => `failures: ${f}`));
  if (s.store.ok)
    out.push(
      s.oldestOverdue
        ? `sla:      oldest overdue check ${formatIncidentId(s.oldestOverdue.incident)}, due ${fmtAge(ageSeconds(s.at, s.oldestOverdue.slaCheckAt))}`
        : 'sla:      no overdue SLA check',
    );
  return out.join('\n');
}
