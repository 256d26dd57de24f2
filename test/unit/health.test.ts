import { describe, expect, it } from 'vitest';
import {
  assessHealth,
  combineIntakes,
  healthMetrics,
  mailboxStatuses,
  intakeStaleAfterSeconds,
  statusText,
  type HealthSnapshot,
  type IntakeHealth,
} from '../../src/domain/health.js';
import { exposition } from '../../src/domain/prometheus.js';

const at = new Date('2026-11-24T10:00:00Z');
const ago = (s: number) => new Date(at.getTime() - s * 1000);
const counts = (failed = 0) => ({ waiting: 1, active: 2, delayed: 3, failed });

function snapshot(over: Partial<HealthSnapshot> = {}): HealthSnapshot {
  return {
    at,
    store: { ok: true },
    redis: { ok: true },
    pollSeconds: 60,
    intake: {
      connected: true,
      idling: true,
      lastHeartbeatAt: ago(10),
      reconnects: 1,
      stored: 42,
      lease: 'held',
    },
    configured: [],
    mailboxes: [{ key: 'support@example.test/INBOX', lastSyncAt: ago(10), lastUid: 42, resets: 0 }],
    backlog: null,
    signIn: [],
    queues: { ingest: counts(), notify: counts(2) },
    raw: { ingested: 40, quarantined: 2 },
    outbox: { sent: 40, failed: 1 },
    oldestOverdue: null,
    ...over,
  };
}

describe('assessHealth', () => {
  it('is unhealthy while a mail server refuses our sign-in, quoting its answer', () => {
    const v = assessHealth(
      snapshot({
        signIn: [
          {
            service: 'imap',
            account: 'support@imap.example.test',
            response: 'Authentication failed.',
            since: ago(600),
          },
        ],
      }),
    );
    expect(v.healthy).toBe(false);
    expect(v.checks.signIn).toBe(false);
    expect(v.reasons).toEqual([
      'imap: support@imap.example.test sign-in refused since 2026-11-24T09:50:00.000Z: Authentication failed.',
    ]);
  });

  it('is healthy when store, Redis and a fresh intake are up', () => {
    expect(assessHealth(snapshot())).toEqual({
      healthy: true,
      checks: { store: true, redis: true, intake: true, signIn: true },
      reasons: [],
    });
  });

  it('judges a standby intake by the mailbox checkpoints, which the lease holder keeps fresh', () => {
    const standby = {
      connected: false,
      idling: false,
      lastHeartbeatAt: null,
      reconnects: 0,
      stored: 0,
      lease: 'standby' as const,
    };
    expect(assessHealth(snapshot({ intake: standby }))).toMatchObject({
      healthy: true,
      checks: { intake: true },
    });
    const stale = assessHealth(
      snapshot({
        intake: standby,
        mailboxes: [
          { key: 'support@example.test/INBOX', lastSyncAt: ago(3600), lastUid: 42, resets: 0 },
        ],
      }),
    );
    expect(stale.healthy).toBe(false);
    expect(stale.reasons).toEqual(['intake: last mailbox sync 3600 s ago (limit 240 s)']);
    // Only its own mailboxes count: another mailbox's fresh checkpoint says nothing of its own.
    const elsewhere = assessHealth(
      snapshot({ intake: { ...standby, mailboxes: ['billing@example.test/INBOX'] } }),
    );
    expect(elsewhere.healthy).toBe(false);
    expect(elsewhere.reasons).toEqual(['intake: no mailbox has ever been synced']);
  });

  it('lists every reason at once', () => {
    const v = assessHealth(
      snapshot({
        store: { ok: false, error: 'connection refused' },
        redis: { ok: false, error: 'timeout' },
        intake: {
          connected: false,
          idling: false,
          lastHeartbeatAt: null,
          reconnects: 3,
          stored: 0,
          lastError: 'ECONNRESET',
          lease: 'held',
        },
      }),
    );
    expect(v.healthy).toBe(false);
    expect(v.checks).toEqual({ store: false, redis: false, intake: false, signIn: true });
    expect(v.reasons).toEqual([
      'store: connection refused',
      'redis: timeout',
      'intake: not connected to IMAP (ECONNRESET)',
    ]);
  });

  it('calls a connected intake dead when it has not synced for too long', () => {
    const limit = intakeStaleAfterSeconds(60);
    const fresh = snapshot({ intake: { ...snapshot().intake!, lastHeartbeatAt: ago(limit) } });
    expect(assessHealth(fresh).healthy).toBe(true);
    const stale = snapshot({ intake: { ...snapshot().intake!, lastHeartbeatAt: ago(limit + 1) } });
    expect(assessHealth(stale).reasons).toEqual([
      `intake: no successful sync for ${limit + 1} s (limit ${limit} s)`,
    ]);
    const never = snapshot({ intake: { ...snapshot().intake!, lastHeartbeatAt: null } });
    expect(assessHealth(never).reasons[0]).toMatch(/no sync has finished yet/);
  });

  it('does not judge an intake a workers-only process does not run', () => {
    const v = assessHealth(snapshot({ intake: undefined, mailboxes: [] }));
    expect(v).toMatchObject({ healthy: true, checks: { intake: null } });
  });

  it('judges the intake by the mailbox checkpoints from outside (incidesk status)', () => {
    const outside = (mailboxes: HealthSnapshot['mailboxes']) =>
      assessHealth(snapshot({ intake: undefined, mailboxes }), true);
    expect(outside([{ key: 'a', lastSyncAt: ago(30), lastUid: 1, resets: 0 }]).healthy).toBe(true);
    expect(outside([]).reasons).toEqual(['intake: no mailbox has ever been synced']);
    expect(
      outside([{ key: 'a', lastSyncAt: ago(4000), lastUid: 1, resets: 0 }]).reasons[0],
    ).toMatch(/last mailbox sync 4000 s ago/);
  });
});

describe('health metrics', () => {
  it('exposes health, queue depths, failures and freshness under stable names', () => {
    const s = snapshot({ oldestOverdue: { incident: 7, slaCheckAt: ago(90) } });
    const page = exposition(healthMetrics(s, assessHealth(s)));
    for (const line of [
      'incidesk_healthy 1',
      'incidesk_check_up{check="store"} 1',
      'incidesk_check_up{check="intake"} 1',
      `incidesk_mailbox_last_sync_timestamp_seconds{mailbox="support@example.test/INBOX"} ${ago(10).getTime() / 1000}`,
      'incidesk_mailbox_sync_age_seconds{mailbox="support@example.test/INBOX"} 10',
      'incidesk_mailbox_last_uid{mailbox="support@example.test/INBOX"} 42',
      'incidesk_intake_connected 1',
      'incidesk_intake_idling 1',
      'incidesk_intake_heartbeat_age_seconds 10',
      'incidesk_intake_reconnects_total 1',
      'incidesk_queue_jobs{queue="notify",state="failed"} 2',
      'incidesk_queue_jobs{queue="ingest",state="delayed"} 3',
      'incidesk_raw_messages{state="quarantined"} 2',
      'incidesk_raw_messages{state="stored"} 0',
      'incidesk_outbox_messages{state="failed"} 1',
      'incidesk_sla_oldest_overdue_seconds 90',
      '# TYPE incidesk_intake_reconnects_total counter',
      '# TYPE incidesk_queue_jobs gauge',
    ])
      expect(page).toContain(`${line}\n`);
  });

  it('leaves out what could not be measured instead of reporting zeros', () => {
    const s = snapshot({
      store: { ok: false, error: 'down' },
      redis: { ok: false, error: 'down' },
      mailboxes: null,
      queues: null,
      raw: null,
      outbox: null,
      intake: undefined,
    });
    const page = exposition(healthMetrics(s, assessHealth(s)));
    expect(page).toContain('incidesk_healthy 0\n');
    expect(page).toContain('incidesk_check_up{check="redis"} 0\n');
    expect(page).not.toContain('incidesk_queue_jobs');
    expect(page).not.toContain('incidesk_sla_oldest_overdue_seconds');
    expect(page).not.toContain('check="intake"');
  });
});

describe('statusText', () => {
  it('shows the verdict, the queues and the failures', () => {
    const s = snapshot({ oldestOverdue: { incident: 7, slaCheckAt: ago(600) } });
    const text = statusText(s, assessHealth(s));
    expect(text.split('\n')[0]).toBe('health:   ok');
    expect(text).toContain('QUEUE     WAITING  ACTIVE  DELAYED  FAILED');
    expect(text).toContain('notify          1       2        3       2');
    expect(text).toContain('failures: 2 failed job(s) (incidesk dlq list)');
    expect(text).toContain('failures: 2 quarantined message(s), 0 awaiting ingest');
    expect(text).toContain('failures: 1 failed outbound mail(s), 0 pending');
    expect(text).toContain('sla:      oldest overdue check INC-000007, due 10 min ago');
  });

  it('says why it is unhealthy', () => {
    const s = snapshot({ redis: { ok: false, error: 'ECONNREFUSED' }, queues: null });
    const text = statusText(s, assessHealth(s));
    expect(text).toMatch(/^health: {3}UNHEALTHY\n {2}- redis: ECONNREFUSED\n/);
    expect(text).toContain('redis:    DOWN (ECONNREFUSED)');
  });
});

describe('combineIntakes', () => {
  const intake = (address: string, over: Partial<IntakeHealth> = {}) => ({
    address,
    connected: true,
    idling: true,
    lastHeartbeatAt: at,
    reconnects: 1,
    stored: 2,
    lease: 'held' as const,
    mailboxes: [`${address}/INBOX`],
    ...over,
  });

  it('one mailbox: its own status, unchanged', () => {
    const one = intake('support@example.test', { lastError: 'x' });
    expect(combineIntakes([one])).toEqual({
      ...one,
      address: undefined,
      each: [{ key: 'support@example.test/INBOX', connected: true, lease: 'held', lastError: 'x' }],
    });
  });

  it('several: healthy only when all are, as fresh as the stalest, the broken one named', () => {
    const older = new Date(at.getTime() - 60_000);
    const combined = combineIntakes([
      intake('support@example.test'),
      intake('security@example.test', { lastHeartbeatAt: older }),
      intake('billing@example.test', { connected: false, lastError: 'Authentication failed.' }),
    ]);
    expect(combined).toEqual({
      connected: false,
      idling: true,
      lastHeartbeatAt: older,
      reconnects: 3,
      stored: 6,
      lastError: 'billing@example.test: Authentication failed.',
      lease: 'held',
      mailboxes: [
        'support@example.test/INBOX',
        'security@example.test/INBOX',
        'billing@example.test/INBOX',
      ],
      each: [
        { key: 'support@example.test/INBOX', connected: true, lease: 'held' },
        { key: 'security@example.test/INBOX', connected: true, lease: 'held' },
        {
          key: 'billing@example.test/INBOX',
          connected: false,
          lease: 'held',
          lastError: 'Authentication failed.',
        },
      ],
    });
    expect(
      combineIntakes([
        intake('a@example.test', { lease: 'standby' }),
        intake('b@example.test', { lease: 'standby' }),
      ]),
    ).toMatchObject({
      lease: 'standby',
      mailboxes: ['a@example.test/INBOX', 'b@example.test/INBOX'],
    });
  });
});

describe('one status row per mailbox', () => {
  const id = (name: string) => ({
    name,
    address: `${name}@example.test`,
    account: `${name}@imap.example.test`,
    key: `${name}@example.test/INBOX`,
  });
  const checkpoint = (name: string, secondsAgo: number | null) => ({
    key: `${name}@example.test/INBOX`,
    lastSyncAt: secondsAgo === null ? null : ago(secondsAgo),
    lastUid: 7,
    resets: 0,
  });
  /** Three mailboxes seen from the CLI: support fresh, billing refused, security stale. */
  const three = snapshot({
    intake: undefined,
    configured: [id('support'), id('billing'), id('security')],
    mailboxes: [checkpoint('support', 5), checkpoint('billing', 5), checkpoint('security', 900)],
    backlog: { 'support@example.test': 3 },
    signIn: [
      {
        service: 'imap',
        account: 'billing@imap.example.test',
        response: 'Authentication failed.',
        since: ago(60),
      },
    ],
  });

  it('connected, auth refused with the server’s words, or down with why; checkpoint and backlog', () => {
    expect(mailboxStatuses(three)).toEqual([
      {
        ...id('support'),
        state: 'connected',
        lastCheckpointAt: ago(5),
        lastUid: 7,
        backlog: 3,
      },
      {
        ...id('billing'),
        state: 'auth refused',
        reason: 'Authentication failed.',
        lastCheckpointAt: ago(5),
        lastUid: 7,
        backlog: 0,
      },
      {
        ...id('security'),
        state: 'down',
        reason: 'no sync for 900 s (limit 240 s)',
        lastCheckpointAt: ago(900),
        lastUid: 7,
        backlog: 0,
      },
    ]);
    // From the CLI every configured mailbox must be served: the stale one is a reason too.
    expect(assessHealth(three, true).reasons).toEqual([
      'imap: billing@imap.example.test sign-in refused since 2026-11-24T09:59:00.000Z: Authentication failed.',
      'intake: security@example.test down (no sync for 900 s (limit 240 s))',
    ]);
  });

  it('this process’s own intake decides for the mailboxes whose lease it holds', () => {
    const s = snapshot({
      configured: [id('support'), id('never')],
      intake: {
        connected: false,
        idling: false,
        lastHeartbeatAt: null,
        reconnects: 2,
        stored: 0,
        lease: 'held',
        each: [
          {
            key: 'support@example.test/INBOX',
            connected: false,
            lease: 'held',
            lastError: 'connect ECONNREFUSED',
          },
        ],
      },
      mailboxes: [checkpoint('support', 5)],
    });
    expect(mailboxStatuses(s).map((r) => [r.state, r.reason])).toEqual([
      ['down', 'connect ECONNREFUSED'],
      ['down', 'never synced'],
    ]);
    expect(mailboxStatuses({ ...s, mailboxes: null, intake: undefined })[0]).toMatchObject({
      state: 'unknown',
      backlog: null,
    });
  });

  it('status prints a row per mailbox, naming the broken one in its own row; metrics per address', () => {
    const text = statusText(three, assessHealth(three, true));
    expect(text.split('\n').filter((l) => l.startsWith('mailbox:'))).toEqual([
      'mailbox:  support@example.test  connected; last checkpoint 5 s ago, backlog 3, last UID 7',
      'mailbox:  billing@example.test  AUTH REFUSED: Authentication failed.; last checkpoint 5 s ago, backlog 0, last UID 7',
      'mailbox:  security@example.test  DOWN: no sync for 900 s (limit 240 s); last checkpoint 15 min ago, backlog 0, last UID 7',
    ]);
    const metrics = exposition(healthMetrics(three, assessHealth(three, true)));
    expect(metrics).toContain(
      'incidesk_mailbox_up{address="billing@example.test",state="auth refused"} 0',
    );
    expect(metrics).toContain(
      'incidesk_mailbox_up{address="support@example.test",state="connected"} 1',
    );
    expect(metrics).toContain('incidesk_mailbox_backlog{address="support@example.test"} 3');
  });
});
