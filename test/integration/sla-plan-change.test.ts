/**
 * A plan change re-reads every running SLA clock: an incident whose next look was days away
 * in its group's old business hours is looked at again at start-up under the new plan, and
 * breaches at once if the new hours make its target already past.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import {
  deliver,
  SUPPORT,
  testEnv,
  testLogger,
  testPlan,
  testResolver,
  waitUntil,
} from '../support/harness.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** Business hours of half an hour, three days from now: no business time before then. */
const farAway = () => {
  const day = DAYS[(new Date().getUTCDay() + 3) % 7]!;
  return `{ timezone: UTC, hours: { ${day}: ['10:00-10:30'] } }`;
};
const plan = (hours: string) =>
  testPlan(`calendars:
  desk-hours: ${hours === '24x7' ? '{ timezone: UTC, hours: 24x7 }' : hours}
groups: [{ id: desk, name: Desk, lead: lou, calendar: desk-hours }]
agents:
  - { id: ada, name: Ada, email: ada@example.test, groups: [desk] }
  - { id: lou, name: Lou Lead, email: lou@example.test, groups: [desk], away: true }
routing: { default: desk }
sla:
  P1: { firstResponse: 5s, resolution: 1h }
  P2: { firstResponse: 5s, resolution: 1h }
  P3: { firstResponse: 5s, resolution: 1h }
  P4: { firstResponse: 5s, resolution: 1h }
escalation: { chain: [lead], repeatAfter: 1h }
`);

describe('a plan change and the SLA clocks already running', () => {
  let smtp: SmtpCapture;
  let app: RunningApp | undefined;
  afterAll(async () => {
    await app?.stop();
    await smtp?.close();
  });

  it('looks at every running clock again under the new business hours', async () => {
    smtp = await startSmtpCapture();
    const t = testEnv(smtp, { INCIDESK_SLA_SWEEP_SECONDS: '1' });
    const start = (hours: string) =>
      startApp(t.config, plan(hours), testLogger(), { resolver: testResolver });

    app = await start(farAway());
    await deliver(t.mailboxUser, {
      from: 'kim@example.com',
      to: SUPPORT,
      subject: 'Printer offline',
      text: 'Printer 3 is offline.',
    });
    const assigned = await waitUntil('assigned', async () => {
      const i = await findIncident(1);
      return i?.status === 'assigned' ? i : null;
    });
    // No business time for days: the first look (the warning) is days away.
    expect(assigned.slaCheckAt!.getTime()).toBeGreaterThan(Date.now() + 24 * 3600_000);
    await app.stop();
    app = undefined;

    // The same plan otherwise, with round-the-clock hours: the 5 s target has passed.
    await new Promise((r) =>
      setTimeout(r, Math.max(0, assigned.createdAt.getTime() + 6000 - Date.now())),
    );
    app = await start('24x7');
    // The review records the breach on the timeline, then on the incident, then escalates.
    await waitUntil(
      'the breach recorded and escalated under the new plan',
      async () => {
        const i = await findIncident(1);
        return i?.sla?.firstResponse?.breachedAt && i.sla.escalationLevel === 1 ? i : null;
      },
      30_000,
    );
    expect((await timelineOf(1)).filter((e) => e.event === 'sla-breached')).toHaveLength(1);
  }, 120_000);
});
