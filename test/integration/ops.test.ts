/**
 * Operations on a running app: a poison job goes to the dead letters while the jobs behind it
 * in the same queue complete; `incidesk dlq` lists it and replays it once the cause is fixed,
 * without duplicating anything; `/healthz`, `/metrics` and `incidesk status` tell the truth.
 */
import { createHash } from 'node:crypto';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { ackIdFor } from '../../src/mail/compose.js';
import { jobIds } from '../../src/queues.js';
import { Incident, Outbox, RawMessage } from '../../src/store/models.js';
import { storeRaw } from '../../src/store/raw-messages.js';
import { deliver, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';
import { runIncidesk, spawnIncidesk } from '../support/process.js';
import { freePort } from '../support/services.js';

const message = (i: number) =>
  Buffer.from(
    [
      `From: Person ${i} <person${i}@example.com>`,
      `To: ${SUPPORT}`,
      `Subject: Ops test ${i}`,
      `Message-ID: <ops-${i}@example.com>`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0000',
      '',
      `Body of message ${i}.`,
      '',
    ].join('\r\n'),
  );

const httpPort = await freePort();

async function get(port: number, path: string) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('dead letters, health and metrics', () => {
  // One job at a time: a poison job at the head of the queue would block everything behind it.
  const h = useTestApp({
    env: { INCIDESK_CONCURRENCY: '1', INCIDESK_HTTP_PORT: String(httpPort) },
  });
  const poison = message(0);
  const poisonRaw = createHash('sha256').update(poison).digest('hex');
  const poisonJob = jobIds.ingest(poisonRaw);

  it('a job that always fails becomes a dead letter; the jobs behind it still complete', async () => {
    // An ingest job whose message is not in the store (as after restoring Redis without the
    // matching database): it fails every time, until the message is there.
    await h.app.ctx.queues.ingest.add('ingest', { rawId: poisonRaw }, { jobId: poisonJob });
    for (const i of [1, 2, 3])
      await deliver(h.t.mailboxUser, { raw: message(i), from: `person${i}@example.com` });
    await waitUntil('three incidents', async () => (await Incident.countDocuments()) === 3);
    await waitUntil('three acknowledgements', async () => h.smtp.messages.length >= 3);
    // The ingest job sends the acknowledgement, then marks its message ingested and ends.
    await waitUntil(
      'three messages ingested',
      async () => (await RawMessage.countDocuments({ state: 'ingested' })) === 3,
    );
    await waitUntil(
      'no ingest job running',
      async () => (await h.app.ctx.queues.ingest.getJobCounts()).active === 0,
    );
    expect((await h.app.ctx.queues.ingest.getJobCounts()).failed).toBe(1);
    expect(await h.app.ctx.queues.ingest.getJobState(poisonJob)).toBe('failed');
  });

  it('reports it in /metrics and `incidesk status`, and is healthy', async () => {
    await h.app.intake!.synced();
    const health = await get(httpPort, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({
      status: 'ok',
      checks: { store: true, redis: true, intake: true, signIn: true },
      reasons: [],
      mailboxes: [
        {
          name: 'default',
          address: h.t.config.supportAddress,
          account: `${h.t.config.imap.user}@${h.t.config.imap.host}`,
          key: `${h.t.config.imap.user}/INBOX`,
          state: 'connected',
          lastCheckpointAt: expect.any(String),
          lastUid: expect.any(Number),
          backlog: expect.any(Number),
        },
      ],
    });
    const metrics = await get(httpPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body).toContain('incidesk_queue_jobs{queue="ingest",state="failed"} 1\n');
    expect(metrics.body).toContain('incidesk_raw_messages{state="ingested"} 3\n');
    expect(metrics.body).toContain('incidesk_intake_connected 1\n');
    expect(metrics.body).toMatch(/^incidesk_mailbox_sync_age_seconds\{mailbox="[^"]+"\} \d/m);
    expect(metrics.body).toContain('# TYPE incidesk_queue_jobs gauge\n');
    expect((await get(httpPort, '/nope')).status).toBe(404);

    const status = await runIncidesk(['status'], h.t.env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('health:   ok');
    expect(status.stdout).toMatch(/^ingest\s+0\s+0\s+0\s+1$/m);
    const json = JSON.parse((await runIncidesk(['status', '--json'], h.t.env)).stdout);
    expect(json).toMatchObject({ healthy: true, queues: { ingest: { failed: 1 } } });
  });

  it('lists the dead letter, and replays it once the cause is fixed, exactly once', async () => {
    const listed = await runIncidesk(['dlq', 'list', '--json'], h.t.env);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout);
    expect(rows).toEqual([
      expect.objectContaining({
        queue: 'ingest',
        id: poisonJob,
        concerns: `raw ${poisonRaw}`,
        failedReason: expect.stringMatching(/not in the store/),
        failedAt: expect.any(String),
      }),
    ]);
    const table = await runIncidesk(['dlq', 'list', '--queue', 'ingest'], h.t.env);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^QUEUE\s+JOB\s+CONCERNS\s+ATTEMPTS\s+FAILED AT\s+REASON/,
    );
    expect(table.stdout).toContain(poisonJob);
    expect((await runIncidesk(['dlq', 'list', '--queue', 'notify'], h.t.env)).stdout.trim()).toBe(
      'no dead letters',
    );

    expect((await runIncidesk(['dlq', 'replay'], h.t.env)).code).toBe(64);
    expect((await runIncidesk(['dlq', 'replay', '--id', 'no-such-job'], h.t.env)).code).toBe(66);

    // The fix: the message is in the store now. The recovery sweep leaves a dead letter alone.
    await storeRaw(poison, { mailbox: 'INBOX', uidValidity: '1', uid: 999 });
    const replay = await runIncidesk(
      ['dlq', 'replay', '--queue', 'ingest', '--id', poisonJob],
      h.t.env,
    );
    expect(replay.stdout).toContain(`replayed ingest ${poisonJob}`);
    expect(replay.code).toBe(0);
    await waitUntil(
      'the replayed message ingested',
      async () => (await RawMessage.findById(poisonRaw).lean())?.state === 'ingested',
    );
    await waitUntil(
      'its acknowledgement sent',
      async () => (await Outbox.findById(ackIdFor(poisonRaw)).lean())?.state === 'sent',
    );
    expect(await Incident.countDocuments()).toBe(4);

    // Replaying again finds nothing to do: the job completed, nothing runs twice.
    const again = await runIncidesk(['dlq', 'replay', '--all'], h.t.env);
    expect(again.stdout).toContain('0 replayed, 0 skipped');
    const twice = await runIncidesk(['dlq', 'replay', '--id', poisonJob], h.t.env);
    expect(twice.stdout).toMatch(/skipped ingest \S+: it is completed/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await Incident.countDocuments()).toBe(4);
    const ack = (await Outbox.findById(ackIdFor(poisonRaw)).lean())!;
    expect(h.smtp.messages.filter((m) => m.parsed.messageId === ack.messageId)).toHaveLength(1);
    expect((await h.app.ctx.queues.ingest.getJobCounts()).failed).toBe(0);
  });

  it('replays a failed delivery after the mail server recovers', async () => {
    h.smtp.failWith(550);
    await deliver(h.t.mailboxUser, { raw: message(5), from: 'person5@example.com' });
    // Dovecot adds its own headers, so the stored message is found by its sender.
    const failed = await waitUntil('the permanent failure recorded', () =>
      Outbox.findOne({ to: 'person5@example.com', kind: 'ack', state: 'failed' }).lean(),
    );
    const job = jobIds.notify(String(failed._id));
    await waitUntil(
      'the dead letter',
      async () => (await h.app.ctx.queues.notify.getJobState(job)) === 'failed',
    );
    h.smtp.failWith(null);
    const before = h.smtp.messages.length;
    const replay = await runIncidesk(['dlq', 'replay', '--queue', 'notify', '--all'], h.t.env);
    expect(replay.stdout).toContain(`replayed notify ${job}`);
    await waitUntil(
      'sent after the replay',
      async () => (await Outbox.findById(failed._id).lean())?.state === 'sent',
    );
    await h.smtp.waitFor(before + 1);
    expect(h.smtp.messages.length).toBe(before + 1);
  });

  it('answers 503 with the reason when the intake cannot reach IMAP, and status exits 69 without Redis', async () => {
    const port = await freePort();
    const deadImap = await freePort();
    const proc = spawnIncidesk(['start', '--only', 'intake'], {
      ...h.t.env,
      // Its own mailbox: the test's app holds the lease of the other one, and a process
      // standing by is judged by that mailbox's fresh checkpoint.
      IMAP_USER: `unreachable-${h.t.mailboxUser}`,
      IMAP_PORT: String(deadImap),
      INCIDESK_HTTP_PORT: String(port),
    });
    try {
      // Every answer is 503: first while it waits for the mailbox's lease (a mailbox nobody has
      // synced), then because it cannot connect, which the test waits for.
      const health = await waitUntil(
        'the endpoint to name the IMAP failure',
        async () => {
          const r = await get(port, '/healthz').catch(() => null);
          if (r) expect(r.status).toBe(503);
          return r && /not connected to IMAP/.test(r.body) ? r : null;
        },
        60_000,
      );
      const body = JSON.parse(health.body);
      expect(body).toMatchObject({
        status: 'unavailable',
        checks: { store: true, redis: true, intake: false, signIn: true },
      });
      expect(body.reasons[0]).toMatch(/^intake: not connected to IMAP/);
      expect((await get(port, '/metrics')).body).toContain('incidesk_healthy 0\n');
    } finally {
      await proc.kill('SIGTERM');
    }
    const deadRedis = await freePort();
    const status = await runIncidesk(['status'], {
      ...h.t.env,
      REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
    });
    expect(status.code).toBe(69);
    expect(status.stdout).toMatch(/health: {3}UNHEALTHY/);
    expect(status.stdout).toMatch(/- redis: /);
  });

  it('an incident whose triage always throws is retried, dead-lettered, and triaged after the fix', async () => {
    // A damaged incident document (no customer): triage throws on every attempt.
    const now = new Date();
    await Incident.collection.insertOne({
      _id: 900,
      number: 900,
      openedBy: 'damaged-900',
      status: 'new',
      subject: 'Damaged',
      participants: [],
      createdAt: now,
      updatedAt: now,
    } as never);
    const job = jobIds.triage(900);
    await h.app.ctx.queues.triage.add(
      'triage',
      { incident: 900 },
      { jobId: job, attempts: 3, backoff: { type: 'fixed', delay: 300 } },
    );
    await deliver(h.t.mailboxUser, { raw: message(6), from: 'person6@example.com' });
    const later = await waitUntil('the later incident triaged', () =>
      Incident.findOne({ 'customer.address': 'person6@example.com', status: 'triaged' }).lean(),
    );
    expect(later.number).toBeLessThan(900);
    await waitUntil(
      'the dead letter',
      async () => (await h.app.ctx.queues.triage.getJobState(job)) === 'failed',
    );
    const [dead] = JSON.parse(
      (await runIncidesk(['dlq', 'list', '--queue', 'triage', '--json'], h.t.env)).stdout,
    );
    expect(dead).toMatchObject({ id: job, concerns: 'INC-000900', attemptsMade: 3, attempts: 3 });
    expect(dead.failedReason).toMatch(/address/);

    await Incident.updateOne(
      { _id: 900 },
      { $set: { customer: { address: 'fixed@example.com' } } },
    );
    const replay = await runIncidesk(['dlq', 'replay', '--all'], h.t.env);
    expect(replay.stdout).toContain(`replayed triage ${job}`);
    await waitUntil(
      'triaged after the replay',
      async () => (await Incident.findById(900).lean())?.status === 'triaged',
    );
    expect((await h.app.ctx.queues.triage.getJobCounts()).failed).toBe(0);
  });

  it('a message whose stored bytes cannot be read is retried, not quarantined, and ingested after the store recovers', async () => {
    // Over the inline limit, so the bytes live in GridFS; their chunks then go missing.
    const big = Buffer.concat([
      message(7).subarray(0, message(7).length - 2),
      Buffer.from(`${'Log line of a large report.\r\n'.repeat(12_000)}\r\n`),
    ]);
    const stored = await storeRaw(big, { mailbox: 'INBOX', uidValidity: '1', uid: 997 });
    const raw = (await RawMessage.findById(stored.rawId).lean())!;
    expect(raw.blobId).toBeTruthy();
    const chunks = mongoose.connection.db!.collection('blobs.chunks');
    const saved = await chunks.find({ files_id: raw.blobId }).toArray();
    await chunks.deleteMany({ files_id: raw.blobId });
    const job = jobIds.ingest(stored.rawId);
    await h.app.ctx.queues.ingest.add(
      'ingest',
      { rawId: stored.rawId },
      { jobId: job, attempts: 2, backoff: { type: 'fixed', delay: 300 } },
    );
    await waitUntil(
      'the dead letter',
      async () => (await h.app.ctx.queues.ingest.getJobState(job)) === 'failed',
    );
    expect((await RawMessage.findById(stored.rawId).lean())!.state).toBe('stored');

    await chunks.insertMany(saved); // the store is back
    const replay = await runIncidesk(['dlq', 'replay', '--queue', 'ingest', '--id', job], h.t.env);
    expect(replay.stdout).toContain(`replayed ingest ${job}`);
    await waitUntil(
      'ingested after the replay',
      async () => (await RawMessage.findById(stored.rawId).lean())?.state === 'ingested',
    );
  });
});
