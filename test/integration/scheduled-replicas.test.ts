/**
 * Scheduled work with three replicas: three in-process incidesk apps (every role) share one
 * MongoDB database, one Redis queue prefix and one mailbox, and each runs its own timers, as
 * three `incidesk start` processes do. The SLA sweep (every second here), the digest tick and
 * the built-in nightly maintenance must each run exactly once per period:
 *
 * - sweeps: every sweep run is seen by the worker that ran it; no period's sweep runs twice,
 *   and no period in between is skipped;
 * - digests and maintenance: a manager's daily digest reaches the SMTP server once per day,
 *   and `maintenance_runs` records one run per day, over two days (the replicas are restarted
 *   with the clock a day on, so that all three tick again in the new period).
 */
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { parsePlan } from '../../src/plan/load.js';
import { QUEUES } from '../../src/queues.js';
import { MaintenanceRun } from '../../src/store/models.js';
import { testEnv, testLogger, testResolver, waitUntil, type TestEnv } from '../support/harness.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const REPLICAS = 3;
const DAY = 24 * 3600_000;
// After today's real date, so that the installation (the first plan version, recorded with the
// real clock) is before every digest period of the test.
const DAY_ONE = new Date('2026-12-09T09:00:00Z');
const PLAN = parsePlan(
  `version: 1
organisation: Example Corp
timezone: UTC
agents:
  - { id: mia, name: Mia Manager, email: mia@example.test, groups: [desk] }
groups:
  - { id: desk, name: Desk }
routing: { default: desk }
digests:
  recipients:
    - { agent: mia, hour: 7, timezone: UTC, periods: [daily] }
`,
  'scheduled-replicas-plan',
);

describe('scheduled work with three replicas', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let clock = DAY_ONE;
  let apps: RunningApp[] = [];
  /** Sweep job ids, one entry per run, from whichever replica ran it. */
  const sweepRuns: string[] = [];

  const startReplicas = async () => {
    // One after another: in one test process the apps share mongoose's one connection.
    for (let i = 0; i < REPLICAS; i++)
      apps.push(
        await startApp(t.config, PLAN, testLogger(), { now: () => clock, resolver: testResolver }),
      );
    for (const app of apps)
      app.workers
        .find((w) => w.name === QUEUES.sla)!
        .on('completed', (job: Job) => {
          if (job.name === 'sweep') sweepRuns.push(job.id!);
        });
  };
  const stopReplicas = async () => {
    await Promise.all(apps.map((a) => a.stop()));
    apps = [];
  };
  /** Nothing waiting, running or delayed in the queues the schedule feeds. */
  const settled = async () => {
    const queues = apps[0]!.ctx.queues;
    for (const q of [queues.digest, queues.maintenance, queues.notify]) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(c).some((n) => n > 0)) return false;
    }
    return true;
  };
  const digestsToMia = () =>
    smtp.messages
      .filter((m) => m.envelopeTo.includes('mia@example.test'))
      .map((m) => m.parsed.subject);

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp, { INCIDESK_SLA_SWEEP_SECONDS: '1', INCIDESK_MAINTENANCE_HOUR: '3' });
    await startReplicas();
  });
  afterAll(async () => {
    await stopReplicas();
    await smtp?.close();
  });

  it('runs each SLA sweep once per period, and no period without one', async () => {
    const from = sweepRuns.length;
    await new Promise((r) => setTimeout(r, 6_000));
    const runs = sweepRuns.slice(from);
    // The job id is `sweep-<period>`: count runs per period, not per id.
    const windows = runs.map((id) => Number(id.split('-')[1])).sort((a, b) => a - b);
    expect(windows.every(Number.isInteger)).toBe(true);
    expect(new Set(windows).size).toBe(windows.length); // no period swept twice
    expect(windows.length).toBeGreaterThanOrEqual(4); // three timers, one sweep a second
    expect(windows.at(-1)! - windows[0]! + 1).toBe(windows.length); // none skipped
  });

  it('sends the daily digest once and runs maintenance once per day', async () => {
    await waitUntil('day one digest sent', async () => digestsToMia().length >= 1);
    await waitUntil('day one maintenance done', async () =>
      (await MaintenanceRun.countDocuments({ status: 'done' })) >= 1 ? true : null,
    );
    await waitUntil('day one queues settled', settled);
    expect(digestsToMia()).toEqual(['Daily digest: Tue 8 Dec 2026']);
    expect(await MaintenanceRun.countDocuments()).toBe(1);

    // Day two: the replicas restart with the clock a day on, and all three tick again.
    await stopReplicas();
    clock = new Date(DAY_ONE.getTime() + DAY);
    await startReplicas();
    await waitUntil('day two digest sent', async () => digestsToMia().length >= 2);
    await waitUntil('day two maintenance done', async () =>
      (await MaintenanceRun.countDocuments({ status: 'done' })) >= 2 ? true : null,
    );
    await waitUntil('day two queues settled', settled);
    expect(digestsToMia()).toEqual([
      'Daily digest: Tue 8 Dec 2026',
      'Daily digest: Wed 9 Dec 2026',
    ]);
    const runs = await MaintenanceRun.find({}, { startedAt: 1, status: 1 }).lean();
    expect(runs.map((r) => r.status)).toEqual(['done', 'done']);
    // Each run was made for its own day (its id starts with the clock's time of the run).
    expect(runs.map((r) => String(r._id).slice(0, 10)).sort()).toEqual([
      '2026-12-09',
      '2026-12-10',
    ]);
  });
});
