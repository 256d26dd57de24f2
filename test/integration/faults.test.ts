/**
 * Faults on real servers, one after another while mail keeps arriving, with the intake and the
 * workers in separate processes (`start --only intake|workers`):
 *
 *   kill -9 of the intake · kill -9 of the workers · Redis killed and restarted · the IMAP
 *   connection cut mid-fetch · SMTP answering 4xx, then 5xx · a burst of malformed mail
 *
 * Then the books must balance: every delivered message is accounted for exactly once (an
 * incident or a quarantine entry), every incident has one acknowledgement with one Message-ID
 * (sent exactly once, apart from the documented at-least-once resend after a kill), or a
 * recorded permanent failure. crash.test.ts covers kill -9 of a combined process under load;
 * this file covers the split roles and the other dependencies.
 *
 * Redis here is a dedicated redis-server with AOF on its own port, so restarting it does not
 * disturb the other test files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { Incident, Outbox, RawMessage, TimelineEntry } from '../../src/store/models.js';
import { deliver, SUPPORT, testEnv, waitUntil, type TestEnv } from '../support/harness.js';
import { logTail, spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { freePort } from '../support/services.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const services = inject('services');
const PLAN = `version: 1
organisation: Example Corp
acknowledgements: { perSenderPerHour: 50 }
`;

const customer = (i: number) => `fault${String(i).padStart(3, '0')}@example.com`;
const message = (i: number) => ({
  from: customer(i),
  to: SUPPORT,
  subject: `Fault test ${i}`,
  text: `Customer ${i} reports a problem.`,
  messageId: `<fault-${i}@example.com>`,
});

/**
 * Mail that must be quarantined: not mail at all (a mis-delivered binary) or a header block cut
 * off mid-line. (A message with no usable sender is no longer quarantined: it opens an incident
 * with no reply address.)
 */
function unusable(i: number): { raw: Buffer; from: string } {
  const raw =
    i % 2 === 0
      ? Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from(`ftypheic garbage ${i} \x00\xff`)])
      : Buffer.from(
          `From: cut${i}@example.com\r\nTo: ${SUPPORT}\r\nSubject: unusable ${i}\r\nX-Cut-Off-Mid`,
        );
  return { raw, from: `unusable${i}@example.net` };
}

/** A redis-server of this file's own, with an append-only file so jobs survive a restart. */
class OwnRedis {
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'incidesk-faults-redis-'));
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    this.child = spawn(
      services.redisBin,
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir],
        ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
      ],
      { stdio: 'ignore' },
    );
    await waitUntil('redis up', () => this.ping(), 20_000);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const net = import('node:net');
      void net.then(({ connect }) => {
        const s = connect(this.port, '127.0.0.1');
        s.once('connect', () => s.write('PING\r\n'));
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
        s.once('error', () => resolve(false));
      });
    });
  }
}

describe('faults on real servers', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let redis: OwnRedis;
  let proxy: TcpProxy;
  let intake: IncideskProcess | undefined;
  let workers: IncideskProcess | undefined;
  const log = join(tmpdir(), `incidesk-faults-${process.pid}.log`);

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    redis = new OwnRedis(await freePort());
    await redis.start();
    proxy = await TcpProxy.start(services.imapPort);
    const planFile = join(tmpdir(), `incidesk-faults-plan-${process.pid}.yaml`);
    writeFileSync(planFile, PLAN);
    t = testEnv(smtp, {
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      IMAP_PORT: String(proxy.port),
      IMAP_POLL_SECONDS: '2',
      INCIDESK_PLAN: planFile,
      INCIDESK_CONCURRENCY: '4',
      INCIDESK_SLA_SWEEP_SECONDS: '3', // the recovery sweep re-enqueues what a fault lost
    });
    await connectStore(t.env.MONGODB_URI!);
  });
  afterAll(async () => {
    await intake?.kill('SIGKILL');
    await workers?.kill('SIGKILL');
    await redis?.kill().catch(() => undefined);
    await proxy?.close();
    await disconnectStore();
    await smtp?.close();
  });

  it.skipIf(!services.redisBin)(
    'accounts for every message and acknowledgement exactly once through six kinds of fault',
    { timeout: 400_000 },
    async () => {
      const startIntake = () => spawnIncidesk(['start', '--only', 'intake'], t.env, log);
      const startWorkers = () => spawnIncidesk(['start', '--only', 'workers'], t.env, log);
      intake = startIntake();
      workers = startWorkers();
      let sent = 0;
      const send = async (n: number) => {
        const from = sent;
        for (let i = from; i < from + n; i++) await deliver(t.mailboxUser, message(i));
        sent += n;
      };
      const raws = () => RawMessage.countDocuments();
      const incidents = () => Incident.countDocuments();
      const faults: string[] = [];
      const note = async (fault: string) =>
        faults.push(`${fault} at ${await raws()} stored/${await incidents()} incidents`);

      // 1. kill -9 the intake while it is taking a batch in.
      await send(6);
      await waitUntil('intake at work', async () => (await raws()) >= 2, 60_000);
      await note('intake SIGKILL');
      expect(await intake.kill('SIGKILL')).toBeNull();
      await send(2); // arrives while no intake runs
      intake = startIntake();

      // 2. kill -9 the workers with jobs in flight.
      await send(6);
      await waitUntil('workers at work', async () => (await incidents()) >= 4, 90_000);
      await note('workers SIGKILL');
      expect(await workers.kill('SIGKILL')).toBeNull();
      workers = startWorkers();

      // 3. Redis dies (SIGKILL) and comes back on the same port with its append-only file.
      await send(6);
      await waitUntil('more stored', async () => (await raws()) >= 16, 90_000);
      await note('redis SIGKILL');
      await redis.kill();
      await send(2); // the intake sees this while Redis is down
      await new Promise((r) => setTimeout(r, 1500));
      await redis.start();

      // 4. The IMAP connection is cut mid-sync (the batch partly stored), then again.
      const beforeCut = await raws();
      await send(6);
      await waitUntil('a sync under way', async () => (await raws()) > beforeCut, 90_000);
      await note('IMAP cut');
      proxy.cut();
      await new Promise((r) => setTimeout(r, 800));
      proxy.cut();

      // 5. SMTP answers 451 for a while, then 550 for a while.
      smtp.failWith(451);
      await send(4);
      await waitUntil(
        'a temporary SMTP failure',
        async () => (await Outbox.countDocuments({ attempts: { $gt: 0 } })) > 0,
        90_000,
      );
      await note('SMTP 451');
      smtp.failWith(550);
      await send(3);
      await waitUntil(
        'a permanent SMTP failure',
        async () => (await Outbox.countDocuments({ state: 'failed' })) > 0,
        90_000,
      );
      await note('SMTP 550');
      smtp.failWith(null);

      // 6. A burst of malformed mail for the quarantine, then ordinary mail after it.
      const malformed = 10;
      for (let i = 0; i < malformed; i++) await deliver(t.mailboxUser, unusable(i));
      await send(3);
      const customers = sent;

      // The books.
      await waitUntil(
        'every message processed and no mail pending',
        async () =>
          (await raws()) === customers + malformed &&
          (await RawMessage.countDocuments({ state: 'stored' })) === 0 &&
          (await incidents()) >= customers &&
          (await Outbox.countDocuments({ state: 'pending' })) === 0,
        240_000,
      ).catch(async (err: Error) => {
        const states = await RawMessage.aggregate([{ $group: { _id: '$state', n: { $sum: 1 } } }]);
        const out = await Outbox.aggregate([{ $group: { _id: '$state', n: { $sum: 1 } } }]);
        throw new Error(
          `${err.message}: raw ${JSON.stringify(states)}, incidents ${await incidents()}/${customers}, outbox ${JSON.stringify(out)}; faults ${faults.join('; ')}; ${logTail(log)}`,
        );
      });
      const sentOk = await Outbox.countDocuments({ state: 'sent' });
      await waitUntil('every sent mail captured', async () => smtp.messages.length >= sentOk);
      await new Promise((r) => setTimeout(r, 1500)); // room for a duplicate to show up

      // Every message exactly once: an incident per customer, a quarantine entry per malformed.
      expect(await raws()).toBe(customers + malformed);
      expect(await RawMessage.countDocuments({ state: 'ingested' })).toBe(customers);
      const quarantined = await RawMessage.find({ state: 'quarantined' }).lean();
      expect(quarantined).toHaveLength(malformed);
      for (const q of quarantined) expect(q.reason).toBeTruthy();
      expect(await incidents()).toBe(customers);
      for (let i = 0; i < customers; i++)
        expect(
          await Incident.countDocuments({ 'customer.address': customer(i) }),
          customer(i),
        ).toBe(1);
      expect(await TimelineEntry.countDocuments({ type: 'message', direction: 'inbound' })).toBe(
        customers,
      );

      // Every acknowledgement exactly once: one outbox message per incident, and either sent
      // under one Message-ID or failed permanently (recorded, never captured).
      const acks = await Outbox.find({ kind: 'ack' }).lean();
      expect(acks).toHaveLength(customers);
      let resent = 0;
      let failed = 0;
      for (const ack of acks) {
        const captured = smtp.messages.filter((m) => m.parsed.messageId === ack.messageId);
        const toThem = smtp.messages.filter((m) => m.envelopeTo.includes(ack.to));
        if (ack.state === 'sent') {
          expect(captured.length, ack.to).toBeGreaterThanOrEqual(1);
          expect(
            toThem.every((m) => m.parsed.messageId === ack.messageId),
            ack.to,
          ).toBe(true);
          resent += captured.length - 1;
        } else {
          expect(ack.state, ack.to).toBe('failed');
          expect(captured, ack.to).toHaveLength(0);
          const events = await TimelineEntry.countDocuments({
            incidentNumber: ack.incidentNumber,
            event: 'delivery-failed',
          });
          expect(events, ack.to).toBe(1);
          failed++;
        }
      }
      expect(failed).toBeGreaterThan(0); // the 550 phase did fail something
      expect(acks.length - failed).toBeGreaterThan(customers / 2);
      // SMTP is at-least-once: only a kill between the server's 250 and our record resends,
      // and then with the same Message-ID; at most one per notify slot of the killed process.
      expect(resent).toBeLessThanOrEqual(4);
      expect(smtp.messages.length).toBe(acks.length - failed + resent);
      console.log(
        `faults: ${faults.join('; ')}. ${customers} customer messages → ${customers} incidents, ${malformed} quarantined; acknowledgements ${acks.length - failed} sent, ${failed} failed permanently (550), ${resent} resent with the same Message-ID`,
      );
      expect(await workers.kill('SIGTERM')).toBe(0);
      expect(await intake.kill('SIGTERM')).toBe(0);
      workers = intake = undefined;
    },
  );
});
