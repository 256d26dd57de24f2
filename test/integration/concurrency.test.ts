/**
 * Several processes writing to one incident at the same time, on the real database server,
 * with no lock of any kind: every update is one atomic operation with its guard in the
 * filter, and the change and its audit entry commit together. Were an update a read, a
 * change and a write back, the writers (dozens of updates in flight at once) would overwrite
 * each other's participants, more than one claim could pass its guard, and the audit chain
 * would fork.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain, type AuditEntry } from '../../src/domain/audit.js';
import { auditCursor, sealAudit } from '../../src/store/audit.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { findIncident, openIncident } from '../../src/store/incidents.js';
import { claimAcknowledgement, markUndeliverable, senderStanding } from '../../src/store/outbox.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Incident } from '../../src/store/models.js';
import { deliver, SUPPORT, testEnv, waitUntil } from '../support/harness.js';
import { spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { PROJECT_ROOT } from '../support/services.js';

describe('concurrent writers on one incident', () => {
  const { env } = testEnv({ port: 25 }); // no mail is sent: only the store is used
  beforeAll(() => connectStore(env.MONGODB_URI!));
  afterAll(() => disconnectStore());

  it('lose no update, exactly one guarded claim succeeds, and the audit chain stays one chain', async () => {
    const { incident } = await openIncident({
      openedBy: 'raw-concurrency',
      subject: 'Shared',
      customer: { address: 'shared@example.com' },
      at: new Date(),
    });
    const WRITERS = 4;
    const PER = 15;
    const writer = (name: string) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        const p = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'test/support/incident-writer.ts',
            env.MONGODB_URI!,
            String(incident.number),
            name,
            String(PER),
            String(WRITERS),
          ],
          { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
        );
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.once('exit', (code) =>
          code === 0 ? resolve(out.trim()) : reject(new Error(`${name} exited ${code}`)),
        );
      });
    const names = Array.from({ length: WRITERS }, (_, i) => `writer${i}`);
    const outcomes = await Promise.all(names.map(writer));

    expect(outcomes.filter((o) => o === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'lost')).toHaveLength(WRITERS - 1);
    const after = (await findIncident(incident.number))!;
    expect(after.participants).toHaveLength(1 + WRITERS * PER);
    expect(after.assignee).toBe(names[outcomes.indexOf('claimed')]);
    expect(after.status).toBe('assigned');

    // One audit entry per change that happened (each added participant, the one claim), in
    // one unbroken hash chain although four processes appended at once.
    const entries: AuditEntry[] = [];
    await sealAudit(); // each writer sealed at its end too, all at once; this picks up the rest
    for await (const e of auditCursor()) entries.push(e);
    expect(verifyChain(entries)).toBeNull();
    const mine = entries.filter(
      (e) => e.subject.id === String(incident.number) && e.action === 'incident-changed',
    );
    expect(mine).toHaveLength(WRITERS * PER + 1);
  }, 600_000); // four processes start (tsx, indexes) and race on one incident while the suite loads the server

  it('give out exactly the rate limit of acknowledgements to a sender writing many messages at once', async () => {
    const at = new Date();
    const sender = `burst-${at.getTime()}@example.org`;
    const claims = await Promise.all(
      Array.from({ length: 30 }, (_, i) => claimAcknowledgement(sender, at, 5, `raw-${i}`)),
    );
    expect(claims.filter(Boolean)).toHaveLength(5);
    expect((await senderStanding(sender, at)).acksToSenderLastHour).toBe(5);
    // An address known to bounce gets none, and one with room left gets one more.
    await markUndeliverable(`bad-${sender}`, '550 no such user');
    expect(await claimAcknowledgement(`bad-${sender}`, at, 5, 'raw-bad')).toBe(false);
    const later = new Date(at.getTime() + 3600_001);
    expect(await claimAcknowledgement(sender, later, 5, 'raw-later')).toBe(true);
  });

  it("claims a message's acknowledgement once, however often its ingest runs", async () => {
    const at = new Date();
    const sender = `rerun-${at.getTime()}@example.org`;
    // The first run claims; its reruns (it died before the incident committed) are refused
    // by the claim, and find it on the sender's record: no second place is taken.
    expect(await claimAcknowledgement(sender, at, 2, 'raw-a')).toBe(true);
    for (let rerun = 0; rerun < 3; rerun++) {
      expect(await claimAcknowledgement(sender, at, 2, 'raw-a')).toBe(false);
      expect((await senderStanding(sender, at, 'raw-a')).claimedBefore).toBe(true);
    }
    expect((await senderStanding(sender, at)).acksToSenderLastHour).toBe(1);
    // So the limit of 2 still leaves a place for another message, and only one.
    expect(await claimAcknowledgement(sender, at, 2, 'raw-b')).toBe(true);
    expect(await claimAcknowledgement(sender, at, 2, 'raw-c')).toBe(false);
    expect((await senderStanding(sender, at, 'raw-c')).claimedBefore).toBe(false);
  });
});

/**
 * New incidents triaged and assigned by three processes at once (6 jobs in flight in each),
 * with no lock and no one-at-a-time queue: each assignment is claimed by a compare-and-set on
 * the state of every group its agent is in, and a lost claim chooses again. Were two choices
 * made from the same state both written, round-robin would give someone a turn twice and an
 * agent in two groups would pass their maxOpen.
 */
describe('concurrent assignment by several processes', () => {
  const PLAN = `version: 1
organisation: Example Corp
groups:
  - { id: desk, name: Desk, assignment: round-robin }
  - { id: net, name: Network, assignment: least-loaded }
  - { id: web, name: Web, assignment: round-robin }
agents:
  - { id: ann, name: Ann, email: ann@example.test, groups: [desk] }
  - { id: ben, name: Ben, email: ben@example.test, groups: [desk] }
  - { id: cat, name: Cat, email: cat@example.test, groups: [desk] }
  - { id: oli, name: Oli, email: oli@example.test, groups: [net], maxOpen: 2 }
  - { id: sam, name: Sam, email: sam@example.test, groups: [net, web], maxOpen: 2 }
classification:
  defaults: { category: general, impact: medium, urgency: medium }
  rules:
    - { name: net, when: { text: '\\bnetwork\\b' }, set: { category: net } }
    - { name: web, when: { text: '\\bwebsite\\b' }, set: { category: web } }
routing:
  rules:
    - { name: net, when: { category: net }, group: net }
    - { name: web, when: { category: web }, group: web }
  default: desk
`;
  let smtp: SmtpCapture;
  let t: ReturnType<typeof testEnv>;
  const procs: IncideskProcess[] = [];
  beforeAll(async () => {
    smtp = await startSmtpCapture();
    const planFile = join(tmpdir(), `incidesk-assign-plan-${process.pid}.yaml`);
    writeFileSync(planFile, PLAN);
    t = testEnv(smtp, {
      INCIDESK_PLAN: planFile,
      INCIDESK_CONCURRENCY: '6',
      INCIDESK_SLA_SWEEP_SECONDS: '3600',
      LOG_LEVEL: 'info',
    });
    await connectStore(t.env.MONGODB_URI!);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await disconnectStore();
    await smtp?.close();
  });

  it('keeps round-robin turns and maxOpen exact across processes and groups', async () => {
    const log = `/tmp/incidesk-assign-${process.pid}.log`;
    rmSync(log, { force: true });
    writeFileSync(log, '');
    for (let i = 0; i < 3; i++) procs.push(spawnIncidesk(['start'], t.env, log));
    const mail = [
      ...Array.from({ length: 12 }, (_, i) => ({ subject: `Question ${i}`, text: 'hello' })),
      ...Array.from({ length: 4 }, (_, i) => ({ subject: `Lost link ${i}`, text: 'network' })),
      ...Array.from({ length: 4 }, (_, i) => ({ subject: `Broken page ${i}`, text: 'website' })),
    ];
    // Every process is up (each has its workers) before the burst arrives at once.
    await waitUntil(
      'three processes running',
      async () => (readFileSync(log, 'utf8').match(/incidesk started/g) ?? []).length >= 3,
      240_000,
    );
    await Promise.all(
      mail.map((m, i) =>
        deliver(t.mailboxUser, { from: `c${i}@customer.example`, to: SUPPORT, ...m }),
      ),
    );
    const all = await waitUntil(
      'every incident triaged',
      async () => {
        const docs = await Incident.find({}, { group: 1, assignee: 1, status: 1 }).lean();
        return docs.length === mail.length && docs.every((d) => d.status !== 'new') ? docs : null;
      },
      240_000,
    );
    const count = (pred: (d: (typeof all)[number]) => boolean) => all.filter(pred).length;
    // Round-robin: twelve incidents, three agents, four turns each.
    for (const agent of ['ann', 'ben', 'cat'])
      expect(count((d) => d.group === 'desk' && d.assignee === agent)).toBe(4);
    // maxOpen: Oli takes two, Sam two in his two groups together; the other four wait.
    expect(count((d) => d.assignee === 'oli')).toBe(2);
    expect(count((d) => d.assignee === 'sam')).toBe(2);
    expect(count((d) => d.group !== 'desk' && !d.assignee)).toBe(4);
  }, 600_000);
});
