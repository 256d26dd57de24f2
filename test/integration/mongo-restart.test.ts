/**
 * The database server dies and comes back: a private SecantusDB (the shared one stays up for
 * the other test files) is killed with SIGKILL during a burst of mail and restarted a few
 * seconds later on the same port and storage. A real `incidesk start` process rides it out:
 * /healthz says the store is down while it is down and healthy again after, the process does
 * not exit, and afterwards every message is exactly one incident with exactly one
 * acknowledgement, nothing is quarantined and no job is left failed.
 *
 * The server fsyncs its log on every commit (`--sync-on-commit`), as a real replica set
 * acknowledges the default `w: majority` only once journaled: without it SecantusDB
 * acknowledges before its log is on disk, and a SIGKILL loses the last acknowledged writes
 * (seen here: a message recorded as ingested whose incident was gone after the restart).
 *
 * This is the closest honest stand-in for a MongoDB fail-over the test server allows: it
 * presents itself as a one-node replica set and cannot hold an election, so what is tested is
 * the primary going away and the same primary coming back, not a secondary taking over.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { verifyChain, type AuditEntry } from '../../src/domain/audit.js';
import { auditCursor } from '../../src/store/audit.js';
import { AuditPending, Incident, Outbox, RawMessage } from '../../src/store/models.js';
import { QUEUES } from '../../src/queues.js';
import { deliverBurst, SUPPORT, testEnv, waitUntil, type TestEnv } from '../support/harness.js';
import { logTail, spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { freePort, startPrivateMongo, uniqueName, type PrivateMongo } from '../support/services.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const services = inject('services');
const MESSAGES = 40;
const DOWN_MS = 4_000;
const PLAN = `version: 1
organisation: Example Corp
acknowledgements: { perSenderPerHour: 50 }
`;
const customer = (i: number) => `dbrestart${String(i).padStart(3, '0')}@example.com`;

interface Healthz {
  status: number;
  store?: boolean;
}

describe('the database server killed and restarted during a burst', () => {
  let mongo: PrivateMongo;
  let smtp: SmtpCapture;
  let t: TestEnv;
  let httpPort: number;
  let proc: IncideskProcess | undefined;
  const log = join(tmpdir(), `incidesk-mongo-restart-${process.pid}.log`);

  /** GET /healthz with a short deadline; status 0 when it does not answer. */
  const healthz = async (): Promise<Healthz> => {
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`, {
        signal: AbortSignal.timeout(8_000),
      });
      const body = (await res.json()) as { checks?: { store?: boolean } };
      return { status: res.status, store: body.checks?.store };
    } catch {
      return { status: 0 };
    }
  };

  beforeAll(async () => {
    mongo = await startPrivateMongo(undefined, { syncOnCommit: true });
    smtp = await startSmtpCapture();
    httpPort = await freePort();
    const planFile = join(tmpdir(), `incidesk-mongo-restart-plan-${process.pid}.yaml`);
    writeFileSync(planFile, PLAN);
    t = testEnv(smtp, {
      MONGODB_URI: `${mongo.uri}${uniqueName('db').replace('-', '_')}`,
      INCIDESK_PLAN: planFile,
      INCIDESK_CONCURRENCY: '4',
      INCIDESK_HTTP_PORT: String(httpPort),
      IMAP_POLL_SECONDS: '2',
      INCIDESK_SLA_SWEEP_SECONDS: '3', // the recovery sweep re-enqueues what a fault lost
    });
    await connectStore(t.env.MONGODB_URI!);
  }, 60_000);

  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await disconnectStore().catch(() => undefined);
    await smtp?.close();
    await mongo?.stop();
  });

  it(
    `loses and duplicates nothing of ${MESSAGES} messages when MongoDB is SIGKILLed and restarted`,
    { timeout: 400_000 },
    async () => {
      proc = spawnIncidesk(['start'], t.env, log);
      await waitUntil('healthz ok before the fault', async () => (await healthz()).status === 200);

      // The burst: messages 0-19 in the background (delivery goes to Dovecot, which the fault
      // does not touch), 20-34 while the store is down, 35-39 after it is back.
      const send = (from: number, to: number, parallel: number) =>
        deliverBurst(t.mailboxUser, { from, to, parallel }, (i) => ({
          from: customer(i),
          to: SUPPORT,
          subject: `Database restart ${i}`,
          text: `Customer ${i} reports a problem.`,
          messageId: `<dbrestart-${i}@example.com>`,
        }));
      const burst = send(0, 20, 4);

      await waitUntil('work under way', async () => (await Incident.countDocuments()) >= 5);
      const atKill = `${await RawMessage.countDocuments()} stored/${await Incident.countDocuments()} incidents`;
      await mongo.kill();
      const killedAt = Date.now();

      // While it is down, /healthz says so (503, store false), and the process stays up.
      const down = await waitUntil(
        'healthz reports the store down',
        async () => {
          const h = await healthz();
          return h.status === 503 && h.store === false ? h : null;
        },
        60_000,
      );
      expect(down.store).toBe(false);
      await burst;
      await send(20, 35, 4); // the intake sees these while the store is down
      const remaining = DOWN_MS - (Date.now() - killedAt);
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
      expect(proc.child.exitCode).toBeNull();
      const downForMs = Date.now() - killedAt;
      await mongo.restart();
      const restartedAt = Date.now();

      await waitUntil(
        'healthz healthy again after the restart',
        async () => {
          const h = await healthz();
          return h.status === 200 && h.store === true;
        },
        120_000,
      );
      const healthyAfterMs = Date.now() - restartedAt;
      await send(35, MESSAGES, 1);

      const books = async () =>
        JSON.stringify({
          raw: await RawMessage.aggregate([{ $group: { _id: '$state', n: { $sum: 1 } } }]),
          outbox: await Outbox.aggregate([
            { $group: { _id: { kind: '$kind', state: '$state' }, n: { $sum: 1 } } },
          ]),
          incidents: await Incident.countDocuments(),
        });
      await waitUntil(
        'every acknowledgement sent',
        async () => (await Outbox.countDocuments({ kind: 'ack', state: 'sent' })) >= MESSAGES,
        240_000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}; books: ${await books()}; ${logTail(log)}`);
      });
      await new Promise((r) => setTimeout(r, 1500)); // room for a duplicate to show up
      expect(proc.child.exitCode).toBeNull(); // rode it out, never exited

      // Every message stored once, ingested into exactly one incident, none quarantined.
      expect(await RawMessage.countDocuments()).toBe(MESSAGES);
      expect(await RawMessage.countDocuments({ state: 'ingested' })).toBe(MESSAGES);
      expect(await RawMessage.countDocuments({ state: 'quarantined' })).toBe(0);
      const perCustomer = await Incident.aggregate<{ _id: string; n: number }>([
        { $group: { _id: '$customer.address', n: { $sum: 1 } } },
      ]);
      expect(perCustomer.map((c) => c._id).sort()).toEqual(
        Array.from({ length: MESSAGES }, (_, i) => customer(i)),
      );
      expect(perCustomer.every((c) => c.n === 1)).toBe(true);
      expect(await Outbox.countDocuments({ kind: 'ack' })).toBe(MESSAGES);
      expect(await Outbox.countDocuments({ state: { $ne: 'sent' } })).toBe(0);

      // Exactly one acknowledgement (one Message-ID) per customer.
      const acks = smtp.messages.filter((m) => m.header('x-incidesk-kind') === 'ack');
      const idsByCustomer = new Map<string, Set<string>>();
      for (const m of acks)
        idsByCustomer.set(
          m.envelopeTo[0]!,
          (idsByCustomer.get(m.envelopeTo[0]!) ?? new Set()).add(m.parsed.messageId!),
        );
      expect([...idsByCustomer.keys()].sort()).toEqual(
        Array.from({ length: MESSAGES }, (_, i) => customer(i)),
      );
      expect([...idsByCustomer.values()].every((ids) => ids.size === 1)).toBe(true);
      // SMTP is at-least-once: a send whose "sent" record the outage cut off is sent again with
      // the same Message-ID (receivers collapse it). At most one per notify slot.
      const resent = acks.length - MESSAGES;
      expect(resent).toBeLessThanOrEqual(8);

      // No job left failed in any queue: what failed while the store was down was retried.
      const redis = new Redis(services.redisUrl);
      try {
        const failed: Record<string, number> = {};
        for (const q of Object.values(QUEUES))
          failed[q] = await redis.zcard(`${t.env.INCIDESK_QUEUE_PREFIX}:${q}:failed`);
        expect(failed).toEqual(Object.fromEntries(Object.values(QUEUES).map((q) => [q, 0])));
      } finally {
        redis.disconnect();
      }

      expect(await proc.kill('SIGTERM')).toBe(0);
      proc = undefined;

      // The audit trail came through too: sealed on the clean stop (a seal that failed while
      // the server was down was tried again), unbroken, one opening entry per incident.
      expect(await AuditPending.countDocuments()).toBe(0);
      const chain: AuditEntry[] = [];
      for await (const e of auditCursor()) chain.push(e);
      expect(verifyChain(chain)).toBeNull();
      expect(chain.filter((e) => e.action === 'incident-opened')).toHaveLength(MESSAGES);
      console.log(
        `[mongo-restart] killed at ${atKill}; down ${downForMs} ms; healthz healthy ` +
          `${healthyAfterMs} ms after the restart; ${resent} ack(s) re-sent with the same Message-ID`,
      );
    },
  );
});
