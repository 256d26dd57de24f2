/**
 * kill -9 of the whole process during a burst, twice, then a clean restart: every message
 * becomes an incident exactly once, is triaged and assigned, and every customer and agent is
 * told by exactly one message. Run from crash.test.ts on the shared test server (a one-node
 * replica set: transactions) and from crash-standalone.test.ts on a standalone one.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, disconnectStore, hasTransactions } from '../../src/store/db.js';
import { verifyChain, type AuditEntry } from '../../src/domain/audit.js';
import { auditCursor } from '../../src/store/audit.js';
import {
  AuditPending,
  Incident,
  Outbox,
  RawMessage,
  TimelineEntry,
} from '../../src/store/models.js';
import { deliverBurst, SUPPORT, testEnv, waitUntil, type TestEnv } from '../support/harness.js';
import { spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { startPrivateMongo, type PrivateMongo } from '../support/services.js';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from '../support/smtp-capture.js';

const PLAN = `version: 1
organisation: Example Corp
groups: [{ id: desk, name: Desk, assignment: round-robin }]
agents:
  - { id: ann, name: Ann, email: ann@example.test, groups: [desk] }
  - { id: ben, name: Ben, email: ben@example.test, groups: [desk] }
routing: { default: desk }
`;
const customer = (i: number) => `customer${String(i).padStart(3, '0')}@example.com`;

export interface CrashScenario {
  /** How many customers write at once. */
  messages: number;
  /**
   * Run on a private SecantusDB that presents itself as a standalone server: no transactions,
   * so every multi-document change takes its idempotent, repeat-after-a-crash path.
   */
  standalone?: boolean;
}

export function crashScenario({ messages: MESSAGES, standalone = false }: CrashScenario): void {
  describe(standalone ? 'crash safety on a server without transactions' : 'crash safety', () => {
    let smtp: SmtpCapture;
    let t: TestEnv;
    let proc: IncideskProcess | undefined;
    let mongo: PrivateMongo | undefined;
    const log = `/tmp/incidesk-crash${standalone ? '-standalone' : ''}-${process.pid}.log`;

    beforeAll(async () => {
      smtp = await startSmtpCapture();
      if (standalone) mongo = await startPrivateMongo(undefined, { standalone: true });
      const planFile = join(tmpdir(), `incidesk-crash-plan-${standalone}-${process.pid}.yaml`);
      writeFileSync(planFile, PLAN);
      t = testEnv(smtp, {
        INCIDESK_CONCURRENCY: '4',
        INCIDESK_PLAN: planFile,
        INCIDESK_SLA_SWEEP_SECONDS: '5',
        ...(mongo ? { MONGODB_URI: `${mongo.uri}crash` } : {}),
      });
      await connectStore(t.env.MONGODB_URI!);
      // The test's premise: whether the server the product meets runs transactions.
      expect(hasTransactions()).toBe(!standalone);
    });
    afterAll(async () => {
      await proc?.kill('SIGKILL');
      await disconnectStore();
      await smtp?.close();
      await mongo?.stop();
    });

    it(
      `loses and duplicates nothing when killed with SIGKILL twice during a burst of ${MESSAGES}`,
      { timeout: 1_800_000 },
      async () => {
        const start = () => spawnIncidesk(['start'], t.env, log);
        proc = start();

        // The burst: 10 deliveries in flight at a time, in the background.
        const burst = deliverBurst(t.mailboxUser, { from: 0, to: MESSAGES, parallel: 10 }, (i) => ({
          from: customer(i),
          to: SUPPORT,
          subject: `Problem number ${i}`,
          text: `Customer ${i} reports a problem.`,
          messageId: `<burst-${i}@example.com>`,
        }));

        const kills: string[] = [];
        for (const threshold of [Math.round(MESSAGES * 0.2), Math.round(MESSAGES * 0.55)]) {
          await waitUntil(
            `${threshold} incidents`,
            async () => (await Incident.countDocuments()) >= threshold,
            600_000, // the suite runs three other files against the same test server meanwhile
          );
          const state = `${await Incident.countDocuments()} incidents, ${smtp.messages.length} acks`;
          expect(await proc.kill('SIGKILL')).toBeNull();
          kills.push(state);
          proc = start();
        }
        await burst;

        // The plan has one group, so every incident is also triaged, assigned, and its agent
        // notified; all of that must survive the kills too.
        const outboxState = async () =>
          JSON.stringify(
            await Outbox.aggregate([
              { $group: { _id: { kind: '$kind', state: '$state' }, n: { $sum: 1 } } },
            ]),
          ) +
          JSON.stringify(
            await Incident.aggregate([{ $group: { _id: '$status', n: { $sum: 1 } } }]),
          );
        await waitUntil(
          'every acknowledgement and assignment notification sent',
          async () =>
            (await Outbox.countDocuments({ kind: 'ack', state: 'sent' })) === MESSAGES &&
            (await Outbox.countDocuments({ kind: 'assignment', state: 'sent' })) === MESSAGES,
          // Generous: the database server is shared with every other test file running in parallel.
          900_000,
        ).catch(async (err: Error) => {
          throw new Error(`${err.message}; outbox and incidents: ${await outboxState()}`);
        });
        await new Promise((r) => setTimeout(r, 1500)); // room for a duplicate to show up
        expect(await proc.kill('SIGTERM')).toBe(0);
        proc = undefined;

        // Every message stored once and ingested into exactly one incident.
        expect(await RawMessage.countDocuments()).toBe(MESSAGES);
        expect(await RawMessage.countDocuments({ state: 'ingested' })).toBe(MESSAGES);
        expect(await Incident.countDocuments()).toBe(MESSAGES);
        const perCustomer = await Incident.aggregate<{ _id: string; n: number }>([
          { $group: { _id: '$customer.address', n: { $sum: 1 } } },
        ]);
        expect(perCustomer).toHaveLength(MESSAGES);
        expect(perCustomer.every((c) => c.n === 1)).toBe(true);
        expect(await TimelineEntry.countDocuments({ type: 'message', direction: 'inbound' })).toBe(
          MESSAGES,
        );

        // The audit trail: sealed on the clean stop, one unbroken chain across both kills, and
        // one 'incident-opened' entry per incident (recorded in the incident's own transaction).
        expect(await AuditPending.countDocuments()).toBe(0);
        const chain: AuditEntry[] = [];
        for await (const e of auditCursor()) chain.push(e);
        expect(verifyChain(chain)).toBeNull();
        const opened = chain.filter((e) => e.action === 'incident-opened');
        expect(new Set(opened.map((e) => e.subject.id)).size).toBe(MESSAGES);
        expect(opened).toHaveLength(MESSAGES);

        // Every customer acknowledged by exactly one message (one Message-ID). SMTP itself is
        // at-least-once: a kill between the server's 250 and our "sent" record resends the same
        // message, same Message-ID, which receivers collapse. Count and bound those too.
        const distinctIds = (kind: string, key: (m: CapturedMail) => string) => {
          const sent = smtp.messages.filter((m) => m.header('x-incidesk-kind') === kind);
          const byKey = new Map<string, Set<string>>();
          for (const m of sent)
            byKey.set(key(m), (byKey.get(key(m)) ?? new Set()).add(m.parsed.messageId!));
          return { sent: sent.length, byKey };
        };
        const acks = distinctIds('ack', (m) => m.envelopeTo[0]!);
        expect(acks.byKey.size).toBe(MESSAGES);
        for (let i = 0; i < MESSAGES; i++) expect(acks.byKey.get(customer(i))?.size).toBe(1);
        const assignments = distinctIds('assignment', (m) => m.parsed.subject!.slice(0, 12));
        expect(assignments.byKey.size).toBe(MESSAGES);
        expect([...assignments.byKey.values()].every((ids) => ids.size === 1)).toBe(true);
        const resent = acks.sent + assignments.sent - 2 * MESSAGES;
        // At most one in flight per sending slot: ingest (4, acknowledgements), triage (2, the agent's
        // notice) and notify (2, retries).
        expect(resent).toBeLessThanOrEqual(kills.length * 8);
        console.log(
          `crash test: killed at [${kills.join('; ')}]; ${resent} message(s) re-sent with the same Message-ID`,
        );
        expect(mongoose.connection.readyState).toBe(1);
      },
    );
  });
}
