/**
 * Redis as operators run it, on real redis-servers of this file's own:
 *
 * - Sentinel: a master, a replica and a sentinel; incidesk connects with
 *   `redis+sentinel://…/mymaster`. Mail flows end to end; then the master is killed with
 *   SIGKILL while mail keeps arriving, the sentinel promotes the replica, and every message is
 *   still one incident with one acknowledgement (what the dead master had not replicated is
 *   re-enqueued by the recovery sweep from MongoDB, the source of truth).
 * - TLS: a redis-server that listens only on a TLS port, with a self-signed certificate;
 *   `rediss://` with the certificate as `REDIS_TLS_CA_FILE` carries the whole pipeline, and
 *   without it the connection is refused for the certificate (TLS really verifies).
 *
 * - Redis gone at a stop: `incidesk start` stopped by SIGTERM while Redis is unreachable exits
 *   0 within INCIDESK_STOP_GRACE_SECONDS and names what it stopped without (a connection caught
 *   between reconnection attempts never reports its end, and BullMQ's close waits for it).
 *
 * The sentinel is `redis-server --sentinel` (what Debian's redis-sentinel package runs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { connectCliRedis } from '../../src/cli/queues.js';
import { QUEUES } from '../../src/queues.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { Incident, Outbox } from '../../src/store/models.js';
import {
  deliver,
  SUPPORT,
  testEnv,
  testLogger,
  testPlan,
  testResolver,
  waitUntil,
  type TestEnv,
} from '../support/harness.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { freePort } from '../support/services.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const services = inject('services');
const HOST = '127.0.0.1';

/** A redis-server (or sentinel) of this file's own, killed at the end. */
class OwnRedis {
  readonly child: ChildProcess;
  constructor(args: string[]) {
    this.child = spawn(services.redisBin, args, { stdio: 'ignore' });
  }
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** One command on a fresh connection; null while the server does not answer. */
async function ask(options: RedisOptions, ...command: [string, ...string[]]): Promise<unknown> {
  const redis = new Redis({
    ...options,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(...command);
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

const customerMail = (tag: string, i: number) => ({
  from: `customer-${tag}-${i}@example.com`,
  to: SUPPORT,
  subject: `${tag} problem ${i}`,
  text: `Customer ${i} reports a problem.`,
  messageId: `<${tag}-${i}@example.com>`,
});

/** Every delivered message is one incident, and every incident has exactly one acknowledgement. */
async function expectOneIncidentAndAckEach(smtp: SmtpCapture, tag: string, count: number) {
  await waitUntil(`${count} ${tag} incidents acknowledged`, async () => {
    const sent = await Outbox.countDocuments({ kind: 'ack', state: 'sent' });
    return sent >= count;
  });
  const incidents = await Incident.find({}, { subject: 1 }).lean();
  expect(incidents.map((i) => i.subject).sort()).toEqual(
    Array.from({ length: count }, (_, i) => `${tag} problem ${i}`).sort(),
  );
  const acks = smtp.messages.filter((m) => m.header('auto-submitted') === 'auto-replied');
  expect(acks.map((m) => m.envelopeTo[0]).sort()).toEqual(
    Array.from({ length: count }, (_, i) => `customer-${tag}-${i}@example.com`).sort(),
  );
}

describe('Redis Sentinel: incidesk follows a fail-over without losing anything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'incidesk-sentinel-'));
  let master: OwnRedis, replica: OwnRedis, sentinel: OwnRedis;
  let ports: { master: number; replica: number; sentinel: number };
  let smtp: SmtpCapture;
  let t: TestEnv;
  let app: RunningApp | undefined;

  beforeAll(async () => {
    ports = { master: await freePort(), replica: await freePort(), sentinel: await freePort() };
    const common = ['--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir];
    master = new OwnRedis(['--port', String(ports.master), ...common]);
    replica = new OwnRedis([
      ...['--port', String(ports.replica), ...common],
      ...['--replicaof', HOST, String(ports.master)],
    ]);
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${ports.sentinel}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `sentinel monitor mymaster ${HOST} ${ports.master} 1`,
        'sentinel down-after-milliseconds mymaster 1000',
        'sentinel failover-timeout mymaster 5000',
        '',
      ].join('\n'),
    );
    sentinel = new OwnRedis([conf, '--sentinel']);
    const sentinelAt = { host: HOST, port: ports.sentinel };
    // The sentinel has found the replica, and the replica is in sync: a fail-over can happen.
    await waitUntil('sentinel sees an in-sync replica', async () => {
      const replicas = (await ask(sentinelAt, 'SENTINEL', 'REPLICAS', 'mymaster')) as
        string[][] | null;
      const fields = replicas?.[0];
      if (!fields) return false;
      const at = (k: string) => fields[fields.indexOf(k) + 1];
      return at('flags') === 'slave' && at('master-link-status') === 'ok';
    });

    smtp = await startSmtpCapture();
    t = testEnv(smtp, {
      REDIS_URL: `redis+sentinel://${HOST}:${ports.sentinel}/mymaster`,
      INCIDESK_SLA_SWEEP_SECONDS: '2', // the recovery sweep re-enqueues what the dead master lost
    });
    app = await startApp(t.config, testPlan(), testLogger(), { resolver: testResolver });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await smtp?.close();
    for (const r of [sentinel, replica, master]) await r?.kill();
  });

  it('connects through the sentinel and carries mail end to end', async () => {
    expect(t.config.redis).toMatchObject({
      name: 'mymaster',
      sentinels: [{ port: ports.sentinel }],
    });
    for (let i = 0; i < 3; i++) await deliver(t.mailboxUser, customerMail('before', i));
    await expectOneIncidentAndAckEach(smtp, 'before', 3);
    // The queues really live on the master the sentinel named.
    const keys = (await ask(
      { host: HOST, port: ports.master },
      'KEYS',
      `${t.config.queuePrefix}:*`,
    )) as string[];
    expect(keys.length).toBeGreaterThan(0);
  });

  it('survives SIGKILL of the master: the replica is promoted and no message is lost', async () => {
    const started = Date.now();
    await master.kill();
    for (let i = 0; i < 4; i++) await deliver(t.mailboxUser, customerMail('during', i));
    await waitUntil('the sentinel promotes the replica', async () => {
      const addr = (await ask(
        { host: HOST, port: ports.sentinel },
        'SENTINEL',
        'GET-MASTER-ADDR-BY-NAME',
        'mymaster',
      )) as string[] | null;
      return addr?.[1] === String(ports.replica);
    });
    const promotedAfterMs = Date.now() - started;
    for (let i = 0; i < 3; i++) await deliver(t.mailboxUser, customerMail('after', i));

    await waitUntil('all ten messages acknowledged', async () => {
      const sent = await Outbox.countDocuments({ kind: 'ack', state: 'sent' });
      return sent >= 10;
    });
    const subjects = (await Incident.find({}, { subject: 1 }).lean()).map((i) => i.subject);
    expect(subjects.sort()).toEqual(
      [
        ...[0, 1, 2].map((i) => `before problem ${i}`),
        ...[0, 1, 2, 3].map((i) => `during problem ${i}`),
        ...[0, 1, 2].map((i) => `after problem ${i}`),
      ].sort(),
    );
    // One acknowledgement per incident: nothing lost, nothing sent twice.
    const acked = smtp.messages
      .filter((m) => m.header('auto-submitted') === 'auto-replied')
      .map((m) => m.envelopeTo[0]);
    expect(acked).toHaveLength(10);
    expect(new Set(acked).size).toBe(10);
    // Every stage followed the fail-over, not only the acknowledgement's: all ten are triaged.
    await waitUntil('all ten incidents triaged', async () =>
      (await Incident.countDocuments({ status: 'new' })) === 0 ? true : null,
    );
    // The queues now live on the promoted replica.
    const keys = (await ask(
      { host: HOST, port: ports.replica },
      'KEYS',
      `${t.config.queuePrefix}:*`,
    )) as string[];
    expect(keys.length).toBeGreaterThan(0);
    console.log(`[sentinel] replica promoted ${promotedAfterMs} ms after SIGKILL of the master`);
  });
});

describe('Redis over TLS: rediss:// with the CA from REDIS_TLS_CA_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'incidesk-redis-tls-'));
  let server: OwnRedis;
  let port: number;
  let smtp: SmtpCapture;
  let t: TestEnv;
  let app: RunningApp | undefined;

  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, made here (nothing checked in expires).
    const tls = selfSignedCertificate(dir, 'redis', 'incidesk-test-redis', [
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ]);
    port = await freePort();
    // TLS only: port 0 turns the plaintext listener off, so nothing can get through without it.
    server = new OwnRedis([
      ...['--port', '0', '--tls-port', String(port), '--bind', HOST, '--save', '', '--dir', dir],
      ...['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile],
      ...['--tls-ca-cert-file', tls.certFile, '--tls-auth-clients', 'no'],
    ]);
    smtp = await startSmtpCapture();
    t = testEnv(smtp, {
      REDIS_URL: `rediss://${HOST}:${port}`,
      REDIS_TLS_CA_FILE: tls.certFile,
    });
    await waitUntil(
      'redis answers over TLS',
      async () => (await ask(t.config.redis, 'PING')) === 'PONG',
    );
    app = await startApp(t.config, testPlan(), testLogger(), { resolver: testResolver });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await smtp?.close();
    await server?.kill();
  });

  it('carries mail end to end over TLS', async () => {
    for (let i = 0; i < 2; i++) await deliver(t.mailboxUser, customerMail('tls', i));
    await expectOneIncidentAndAckEach(smtp, 'tls', 2);
  });

  it('refuses the server’s certificate without the CA', async () => {
    const withoutCa = loadConfig({ ...t.env, REDIS_TLS_CA_FILE: '' });
    expect(withoutCa.redis).toEqual({ host: HOST, port, tls: {} });
    await expect(connectCliRedis(withoutCa)).rejects.toThrow(/self[- ]signed certificate/);
  });
});

describe('Redis gone at a stop: incidesk start exits within its grace period', () => {
  const dir = mkdtempSync(join(tmpdir(), 'incidesk-redis-gone-'));
  let server: OwnRedis;
  let smtp: SmtpCapture;
  let proc: IncideskProcess | undefined;

  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await smtp?.close();
    await server?.kill();
  });

  it('exits 0 on SIGTERM while Redis is down, naming the workers it did not wait for', async () => {
    const port = await freePort();
    server = new OwnRedis(['--port', String(port), '--bind', HOST, '--save', '', '--dir', dir]);
    smtp = await startSmtpCapture();
    const t = testEnv(smtp, {
      REDIS_URL: `redis://${HOST}:${port}`,
      INCIDESK_STOP_GRACE_SECONDS: '2',
      LOG_LEVEL: 'info',
    });
    await waitUntil('redis answers', async () => (await ask(t.config.redis, 'PING')) === 'PONG');
    await connectStore(t.env.MONGODB_URI!);
    try {
      proc = spawnIncidesk(['start'], t.env);
      let log = '';
      proc.child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
      await deliver(t.mailboxUser, customerMail('gone', 0));
      await expectOneIncidentAndAckEach(smtp, 'gone', 1);

      await server.kill();
      // Long enough for every connection to be waiting between reconnection attempts.
      await new Promise((r) => setTimeout(r, 3000));
      const started = Date.now();
      const code = await proc.kill('SIGTERM');
      const tookMs = Date.now() - started;
      proc = undefined;

      expect(code).toBe(0);
      // Two bounded steps (the workers, then the queue clients) of 2 s each, the rest promptly.
      expect(tookMs).toBeLessThan(15_000);
      const records = log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; notClosed?: string[] });
      const stopped = records.find((r) => r.notClosed);
      const workers = Object.values(QUEUES).map((q) => `worker ${q}`);
      expect(stopped?.notClosed?.filter((n) => workers.includes(n)).length).toBeGreaterThan(0);
      expect(records.at(-1)?.msg).toBe('incidesk stopped');
    } finally {
      await disconnectStore();
    }
  }, 120_000);
});
