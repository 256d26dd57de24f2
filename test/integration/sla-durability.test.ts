/**
 * An overdue incident is never silent: kill -9 the process and wipe its Redis keys (every
 * delayed SLA timer gone) before the target passes; after a restart the sweep escalates it.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { deliver, SUPPORT, testEnv, waitUntil, type TestEnv } from '../support/harness.js';
import { spawnIncidesk, type IncideskProcess } from '../support/process.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const PLAN = `version: 1
organisation: Example Corp
groups: [{ id: desk, name: Desk, lead: lou }]
agents:
  - { id: ada, name: Ada, email: ada@example.test, groups: [desk] }
  - { id: lou, name: Lou Lead, email: lou@example.test, groups: [desk], away: true }
routing: { default: desk }
sla:
  P1: { firstResponse: 30s, resolution: 1h }
  P2: { firstResponse: 30s, resolution: 1h }
  P3: { firstResponse: 30s, resolution: 1h }
  P4: { firstResponse: 30s, resolution: 1h }
escalation: { chain: [lead], repeatAfter: 1h }
`;

describe('SLA escalation survives a killed process and a wiped Redis', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let proc: IncideskProcess | undefined;
  const log = join(tmpdir(), `incidesk-sla-${process.pid}.log`);

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    const planFile = join(tmpdir(), `incidesk-sla-plan-${process.pid}.yaml`);
    writeFileSync(planFile, PLAN);
    t = testEnv(smtp, { INCIDESK_PLAN: planFile, INCIDESK_SLA_SWEEP_SECONDS: '1' });
    await connectStore(t.env.MONGODB_URI!);
  });
  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await disconnectStore();
    await smtp?.close();
  });

  it('escalates an incident whose timer was lost', { timeout: 240_000 }, async () => {
    proc = spawnIncidesk(['start'], t.env, log);
    await deliver(t.mailboxUser, {
      from: 'kim@example.com',
      to: SUPPORT,
      subject: 'Printer offline',
      text: 'Printer 3 is offline.',
    });
    const assigned = await waitUntil(
      'assigned',
      async () => {
        const i = await findIncident(1);
        return i?.status === 'assigned' ? i : null;
      },
      120_000, // includes the child process starting up, slow when the suite loads both cores
    );
    expect(assigned.slaCheckAt).toBeTruthy();

    expect(await proc.kill('SIGKILL')).toBeNull();
    proc = undefined;
    const redis = new Redis(t.env.REDIS_URL!);
    const keys = await redis.keys(`${t.env.INCIDESK_QUEUE_PREFIX}:*`);
    expect(keys.some((k) => k.includes(':sla:'))).toBe(true); // the pending timer was there
    await redis.del(...keys);
    redis.disconnect();

    // The first-response target (30 s: room for a slow start when the suite loads both cores)
    // passes while nothing runs.
    const due = new Date(assigned.createdAt).getTime() + 30_000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()) + 1000));
    expect((await findIncident(1))!.sla?.escalationLevel ?? 0).toBe(0);

    proc = spawnIncidesk(['start'], t.env, log);
    await smtp.waitFor(3, 120_000); // ack, assignment, escalation (slow when the suite runs in parallel)
    const escalation = await waitUntil('escalation mail to the lead', async () =>
      smtp.messages.find((m) => m.envelopeTo.includes('lou@example.test')),
    );
    expect(escalation.parsed.text).toContain('escalated to you as lead');
    const events = (await timelineOf(1)).map((e) => e.event);
    expect(events.filter((e) => e === 'sla-breached')).toHaveLength(1);
    expect(events.filter((e) => e === 'escalated')).toHaveLength(1);
    expect((await findIncident(1))!.sla?.escalationLevel).toBe(1);
  });
});
