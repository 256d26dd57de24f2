/**
 * kill -9 of the whole process during a burst, twice, then a clean restart: every message
 * becomes an incident exactly once and every customer is acknowledged by exactly one message.
 */
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { Incident, Outbox, RawMessage, TimelineEntry } from '../../src/store/models.js';
import { deliver, SUPPORT, testEnv, waitUntil, type TestEnv } from '../support/harness.js';
import { spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const MESSAGES = 200;
const customer = (i: number) => `customer${String(i).padStart(3, '0')}@example.com`;

describe('crash safety', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let proc: IncideskProcess | undefined;
  const log = `/tmp/incidesk-crash-${process.pid}.log`;

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp, { INCIDESK_CONCURRENCY: '4' });
    await connectStore(t.env.MONGODB_URI!);
  });
  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await disconnectStore();
    await smtp?.close();
  });

  it(
    'loses and duplicates nothing when killed with SIGKILL twice during a burst of 200',
    { timeout: 240_000 },
    async () => {
      const start = () => spawnIncidesk(['start'], t.env, log);
      proc = start();

      // The burst: 10 deliveries in flight at a time, in the background.
      let next = 0;
      const burst = Promise.all(
        Array.from({ length: 10 }, async () => {
          while (next < MESSAGES) {
            const i = next++;
            await deliver(t.mailboxUser, {
              from: customer(i),
              to: SUPPORT,
              subject: `Problem number ${i}`,
              text: `Customer ${i} reports a problem.`,
              messageId: `<burst-${i}@example.com>`,
            });
          }
        }),
      );

      const kills: string[] = [];
      for (const threshold of [40, 110]) {
        await waitUntil(
          `${threshold} incidents`,
          async () => (await Incident.countDocuments()) >= threshold,
          60_000,
        );
        const state = `${await Incident.countDocuments()} incidents, ${smtp.messages.length} acks`;
        expect(await proc.kill('SIGKILL')).toBeNull();
        kills.push(state);
        proc = start();
      }
      await burst;

      await waitUntil(
        'every acknowledgement sent',
        async () => (await Outbox.countDocuments({ kind: 'ack', state: 'sent' })) === MESSAGES,
        120_000,
      );
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

      // Every customer acknowledged by exactly one message (one Message-ID). SMTP itself is
      // at-least-once: a kill between the server's 250 and our "sent" record resends the same
      // message, same Message-ID, which receivers collapse. Count and bound those too.
      const byCustomer = new Map<string, Set<string>>();
      for (const m of smtp.messages) {
        const to = m.envelopeTo[0]!;
        byCustomer.set(to, (byCustomer.get(to) ?? new Set()).add(m.parsed.messageId!));
      }
      expect(byCustomer.size).toBe(MESSAGES);
      for (let i = 0; i < MESSAGES; i++) expect(byCustomer.get(customer(i))?.size).toBe(1);
      const resent = smtp.messages.length - MESSAGES;
      expect(resent).toBeLessThanOrEqual(kills.length * 4); // at most one in flight per notify slot
      console.log(
        `crash test: killed at [${kills.join('; ')}]; ${resent} acknowledgement(s) re-sent with the same Message-ID`,
      );
      expect(mongoose.connection.readyState).toBe(1);
    },
  );
});
