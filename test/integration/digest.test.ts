/**
 * Manager digests end to end on real servers: incidents seeded through openIncident and
 * updateIncident, each digest checked
 * number by number against a computation over the raw incidents here, the tick run three
 * times with exactly one mail per manager and period at the SMTP server, the mail's MIME
 * structure, the CLI preview, the same digest again after the day caches are dropped, and
 * after an incident changes, the change in the next digest.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDigest,
  digestRecipients,
  digestEpoch,
  loadDigestInputs,
  produceDueDigests,
  type BuiltDigest,
  type DigestRecipient,
} from '../../src/actions/digest.js';
import { startApp, type RunningApp } from '../../src/app.js';
import type { PeriodWindow } from '../../src/domain/digest-schedule.js';
import { parsePlan } from '../../src/plan/load.js';
import type { Plan } from '../../src/plan/schema.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { openIncident, updateIncident } from '../../src/store/incidents.js';
import { Incident, type IncidentDoc } from '../../src/store/models.js';
import { testEnv, testLogger, waitUntil, type TestEnv } from '../support/harness.js';
import { mulberry32 } from '../support/prng.js';
import { seededSlaCheck } from '../support/sla.js';
import { runIncidesk } from '../support/process.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';

const H = 3600_000;
const NOW = new Date('2026-11-24T09:00:00Z'); // Tuesday; 10:00 in Berlin
const PLAN = `version: 1
organisation: Example Corp
timezone: UTC
agents:
  - { id: mia, name: Mia Manager, email: mia@example.test, groups: [desk] }
  - { id: ada, name: Ada, email: ada@example.test, groups: [desk, net] }
  - { id: lou, name: Lou, email: lou@example.test, groups: [net] }
  - { id: oz, name: Oz, email: oz@example.test, groups: [ops] }
groups:
  - { id: desk, name: Desk }
  - { id: net, name: Network, manager: lou }
  - { id: ops, name: Operations, manager: oz }
routing: { default: desk }
digests:
  recipients:
    - { agent: mia, hour: 7, timezone: Europe/Berlin, periods: [daily, weekly] }
`;

// The windows the four expected digests cover, written out by hand (not computed by the code).
const MIA_DAILY = {
  start: new Date('2026-11-22T23:00:00Z'),
  end: new Date('2026-11-23T23:00:00Z'),
  prevStart: new Date('2026-11-21T23:00:00Z'),
};
const MIA_WEEKLY = {
  start: new Date('2026-11-15T23:00:00Z'),
  end: new Date('2026-11-22T23:00:00Z'),
  prevStart: new Date('2026-11-08T23:00:00Z'),
};
const UTC_DAILY = {
  start: new Date('2026-11-23T00:00:00Z'),
  end: new Date('2026-11-24T00:00:00Z'),
  prevStart: new Date('2026-11-22T00:00:00Z'),
};

const win = (
  period: PeriodWindow['period'],
  w: { start: Date; end: Date },
  key: string,
  zone: string,
): PeriodWindow => ({ period, start: w.start, end: w.end, key, zone });

const TARGETS = {
  P1: [0.25 * H, 4 * H],
  P2: [H, 8 * H],
  P3: [4 * H, 24 * H],
  P4: [8 * H, 72 * H],
} as const;

interface Seed {
  createdAt: Date;
  priority: keyof typeof TARGETS;
  group: string;
  category: string;
  customer: string;
  ackAfter?: number;
  resolveAfter?: number;
  closed?: boolean;
}

function seeds(): Seed[] {
  const rnd = mulberry32(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const from = new Date('2026-11-08T00:00:00Z').getTime();
  const span = new Date('2026-11-24T08:00:00Z').getTime() - from;
  const out: Seed[] = [];
  for (let i = 0; i < 48; i++) {
    const createdAt = new Date(from + Math.floor(rnd() * span));
    const age = NOW.getTime() - createdAt.getTime();
    const priority = pick(['P1', 'P2', 'P3', 'P4'] as const);
    const s: Seed = {
      createdAt,
      priority,
      group: pick(['desk', 'desk', 'net']),
      category: pick(['network', 'email', 'email', 'billing', 'access']),
      customer: `${pick(['kim', 'lee'])}@${pick(['acme.test', 'globex.test', 'initech.test', 'umbrella.test'])}`,
    };
    const ack = rnd() * 2 * TARGETS[priority][0];
    if (rnd() < 0.8 && ack < age) s.ackAfter = ack;
    const res = rnd() * 2 * TARGETS[priority][1];
    if (s.ackAfter !== undefined && rnd() < 0.75 && res > s.ackAfter && res < age) {
      s.resolveAfter = res;
      s.closed = rnd() < 0.3;
    }
    out.push(s);
  }
  // Open, running, due within the next day and not breached: at risk.
  out.push({
    createdAt: new Date(NOW.getTime() - 2 * H),
    priority: 'P3',
    group: 'net',
    category: 'network',
    customer: 'kim@acme.test',
  });
  return out;
}

/** One stopped or running clock, as the SLA code would have left it (24×7 calendar). */
function clockFor(created: Date, targetMs: number, doneAfter: number | undefined) {
  const breachAt = new Date(created.getTime() + targetMs);
  if (doneAfter !== undefined)
    return {
      targetMs,
      consumedMs: doneAfter,
      runningSince: null,
      stoppedAt: new Date(created.getTime() + doneAfter),
      ...(doneAfter >= targetMs ? { breachedAt: breachAt } : {}),
    };
  return {
    targetMs,
    consumedMs: 0,
    runningSince: created,
    stoppedAt: null,
    ...(breachAt <= NOW ? { breachedAt: breachAt } : {}),
  };
}

async function seed(): Promise<void> {
  for (const [k, s] of seeds().entries()) {
    const { incident } = await openIncident({
      openedBy: `raw-digest-${k}`,
      subject: `Problem ${k} <b>bold</b>`,
      customer: { address: s.customer },
      at: s.createdAt,
    });
    // The store stamps createdAt with the wall clock; history needs it in the past.
    await Incident.collection.updateOne(
      { _id: incident.number as never },
      { $set: { createdAt: s.createdAt } },
    );
    const [respT, resT] = TARGETS[s.priority];
    const at = (ms: number | undefined) =>
      ms === undefined ? undefined : new Date(s.createdAt.getTime() + ms);
    const status = s.resolveAfter !== undefined ? (s.closed ? 'closed' : 'resolved') : 'assigned';
    const sla = {
      firstResponse: clockFor(s.createdAt, respT, s.ackAfter),
      resolution: clockFor(s.createdAt, resT, s.resolveAfter),
      escalationLevel: 0,
      notifiedLevel: 0,
    };
    await updateIncident(incident.number, {
      status,
      priority: s.priority,
      group: s.group,
      category: s.category,
      assignee: 'ada',
      firstRespondedAt: at(s.ackAfter),
      resolvedAt: at(s.resolveAfter),
      closedAt: s.closed ? at(s.resolveAfter! + H) : undefined,
      sla,
      // As the SLA code leaves it (the sweep's next look; none once resolved).
      slaCheckAt: status === 'assigned' ? seededSlaCheck(sla, s.createdAt) : null,
    } as never);
  }
  await mongoose.connection.db!.collection('review_actions').insertMany([
    {
      _id: 'ra-1',
      incidentNumber: 3,
      owner: 'ada',
      text: 'Add monitoring',
      dueAt: new Date('2026-11-20T12:00:00Z'),
    } as never,
    {
      _id: 'ra-2',
      incidentNumber: 4,
      owner: 'lou',
      text: 'Replace switch',
      dueAt: new Date('2026-11-23T12:00:00Z'),
    } as never,
    {
      _id: 'ra-3',
      incidentNumber: 5,
      owner: 'ada',
      text: 'Runbook',
      dueAt: new Date('2026-11-19T12:00:00Z'),
      doneAt: new Date('2026-11-19T10:00:00Z'),
    } as never,
    {
      _id: 'ra-4',
      incidentNumber: 6,
      owner: 'mia',
      text: 'Postmortem',
      dueAt: new Date('2026-11-30T12:00:00Z'),
    } as never,
  ]);
}

// ---------------------------------------------------------------------------------------------
// The independent computation over the raw incidents

const OPEN = ['new', 'triaged', 'assigned', 'in-progress', 'pending-customer'];
const inRange = (d: Date | null | undefined, a: Date, b: Date) => !!d && d >= a && d < b;
const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? null
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const domainOf = (a: string) => a.slice(a.indexOf('@') + 1);
const topOf = (keys: string[]) =>
  [...keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>())]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
    .slice(0, 5);

function expected(
  all: IncidentDoc[],
  w: { start: Date; end: Date; prevStart: Date },
  groups: string[] | null,
  actions: { _id: string; owner: string; dueAt: Date; doneAt?: Date }[],
  owners: string[] | null = null,
) {
  const mine = all.filter((i) => groups === null || groups.includes(i.group ?? ''));
  const isResolved = (i: IncidentDoc) => i.status === 'resolved' || i.status === 'closed';
  const news = mine.filter((i) => inRange(i.createdAt, w.start, w.end));
  const resolved = mine.filter((i) => isResolved(i) && inRange(i.resolvedAt, w.start, w.end));
  const prevResolved = mine.filter(
    (i) => isResolved(i) && inRange(i.resolvedAt, w.prevStart, w.start),
  );
  const acked = mine.filter((i) => inRange(i.firstRespondedAt, w.start, w.end));
  const prevAcked = mine.filter((i) => inRange(i.firstRespondedAt, w.prevStart, w.start));
  const open = mine.filter((i) => OPEN.includes(i.status));
  const ackMs = (i: IncidentDoc) => i.firstRespondedAt!.getTime() - i.createdAt!.getTime();
  const resMs = (i: IncidentDoc) => i.resolvedAt!.getTime() - i.createdAt!.getTime();
  const pct = (met: number, total: number) =>
    total ? Math.round((1000 * met) / total) / 10 : null;
  const ackMet = acked.filter((i) => ackMs(i) < i.sla!.firstResponse!.targetMs).length;
  const resMet = resolved.filter((i) => resMs(i) < i.sla!.resolution!.targetMs).length;
  const breaches = mine.flatMap((i) =>
    [i.sla?.firstResponse?.breachedAt, i.sla?.resolution?.breachedAt]
      .filter((d) => inRange(d, w.start, w.end))
      .map(() => i.number),
  );
  const by = (key: (i: IncidentDoc) => string, keys: string[]) =>
    keys.map((k) => ({
      key: k,
      new: news.filter((i) => key(i) === k).length,
      resolved: resolved.filter((i) => key(i) === k).length,
      open: open.filter((i) => key(i) === k).length,
    }));
  const groupKeys = [...new Set([...news, ...resolved, ...open].map((i) => i.group!))].sort();
  const horizon = NOW.getTime() + 24 * H;
  const atRisk = open
    .filter((i) => !i.sla?.firstResponse?.breachedAt && !i.sla?.resolution?.breachedAt)
    .map((i) => {
      const dues = [i.firstRespondedAt ? null : i.sla!.firstResponse!, i.sla!.resolution!].flatMap(
        (c) => (c?.runningSince ? [c.runningSince.getTime() + c.targetMs - c.consumedMs] : []),
      );
      return { number: i.number, due: Math.min(...dues) };
    })
    .filter((r) => r.due < horizon)
    .sort((a, b) => a.due - b.due || a.number - b.number)
    .map((r) => r.number);
  return {
    totals: {
      new: news.length,
      resolved: resolved.length,
      open: open.length,
      acknowledged: acked.length,
    },
    byPriority: by((i) => i.priority!, ['P1', 'P2', 'P3', 'P4']),
    byGroup: by((i) => i.group!, groupKeys),
    response: { met: ackMet, total: acked.length, pct: pct(ackMet, acked.length) },
    resolution: { met: resMet, total: resolved.length, pct: pct(resMet, resolved.length) },
    breaches: breaches.length,
    breachedIncidents: [...new Set(breaches)].sort((a, b) => a - b),
    ack: [
      avg(acked.map(ackMs)),
      med(acked.map(ackMs)),
      avg(prevAcked.map(ackMs)),
      med(prevAcked.map(ackMs)),
    ],
    resolve: [
      avg(resolved.map(resMs)),
      med(resolved.map(resMs)),
      avg(prevResolved.map(resMs)),
      med(prevResolved.map(resMs)),
    ],
    atRisk,
    oldestOpen: [...open]
      .sort((a, b) => a.createdAt!.getTime() - b.createdAt!.getTime() || a.number - b.number)
      .slice(0, 5)
      .map((i) => i.number),
    topCategories: topOf(news.map((i) => i.category!)),
    topCustomers: topOf(news.map((i) => domainOf(i.customer.address))),
    overdueActions: actions
      .filter((a) => !a.doneAt && a.dueAt < w.end && (!owners || owners.includes(a.owner)))
      .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())
      .map((a) => a._id),
    trend: (windows: PeriodWindow[]) => ({
      opened: windows.map((x) => mine.filter((i) => inRange(i.createdAt, x.start, x.end)).length),
      resolved: windows.map(
        (x) => mine.filter((i) => isResolved(i) && inRange(i.resolvedAt, x.start, x.end)).length,
      ),
    }),
  };
}

function compare(d: BuiltDigest, e: ReturnType<typeof expected>) {
  const m = d.model;
  expect(m.totals).toEqual(e.totals);
  expect(m.byPriority).toEqual(e.byPriority);
  expect(m.byGroup).toEqual(e.byGroup);
  expect(m.sla.response).toEqual(e.response);
  expect(m.sla.resolution).toEqual(e.resolution);
  expect(m.sla.breaches).toBe(e.breaches);
  expect(m.sla.breachedIncidents).toEqual(e.breachedIncidents);
  expect([m.ack.meanMs, m.ack.medianMs, m.ack.previousMeanMs, m.ack.previousMedianMs]).toEqual(
    e.ack,
  );
  expect([
    m.resolve.meanMs,
    m.resolve.medianMs,
    m.resolve.previousMeanMs,
    m.resolve.previousMedianMs,
  ]).toEqual(e.resolve);
  expect(m.atRisk.map((r) => r.number)).toEqual(e.atRisk.slice(0, 10));
  expect(m.oldestOpen.map((o) => o.number)).toEqual(e.oldestOpen);
  expect(m.topCategories).toEqual(e.topCategories);
  expect(m.topCustomers).toEqual(e.topCustomers);
  expect(m.overdueActions.map((a) => a._id)).toEqual(e.overdueActions);
  expect({ opened: m.trend.opened, resolved: m.trend.resolved }).toEqual(e.trend(m.trend.windows));
}

describe('manager digests', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  let plan: Plan;
  let app: RunningApp | undefined;
  let incidents: IncidentDoc[];
  let actions: { _id: string; owner: string; dueAt: Date; doneAt?: Date }[];
  const planFile = join(tmpdir(), `incidesk-digest-plan-${process.pid}.yaml`);
  const recipient = (id: string) => digestRecipients(plan).find((r) => r.agent.id === id)!;
  const build = async (r: DigestRecipient, w: PeriodWindow) =>
    buildDigest(app!.ctx, r, await loadDigestInputs(w, NOW), NOW);

  beforeAll(async () => {
    writeFileSync(planFile, PLAN);
    smtp = await startSmtpCapture();
    t = testEnv(smtp, { INCIDESK_PLAN: planFile });
    plan = parsePlan(PLAN, planFile);
    await connectStore(t.env.MONGODB_URI!);
    await seed();
    incidents = await Incident.find().lean<IncidentDoc[]>();
    actions = (await mongoose.connection
      .db!.collection('review_actions')
      .find()
      .toArray()) as never;
    await disconnectStore();
    // Started after seeding: its first tick at start-up already finds the due digests.
    app = await startApp(t.config, plan, testLogger(), { now: () => NOW });
  }, 240_000);
  afterAll(async () => {
    await app?.stop();
    await smtp?.close();
  });

  it('the seeded history has something in every section', () => {
    expect(incidents).toHaveLength(49);
    const e = expected(incidents, MIA_DAILY, null, actions);
    expect(e.totals.new).toBeGreaterThan(0);
    expect(e.totals.resolved).toBeGreaterThan(0);
    expect(e.breaches).toBeGreaterThan(0);
    expect(e.atRisk.length).toBeGreaterThan(0);
    expect(e.overdueActions).toEqual(['ra-1', 'ra-2']);
  });

  it('computes each digest exactly as the raw incidents say', { timeout: 120_000 }, async () => {
    const mia = recipient('mia');
    const [daily, weekly] = [
      await build(mia, win('daily', MIA_DAILY, '20261123', 'Europe/Berlin')),
      await build(mia, win('weekly', MIA_WEEKLY, '20261116', 'Europe/Berlin')),
    ];
    compare(daily, expected(incidents, MIA_DAILY, null, actions));
    expect(daily.model.trend.windows).toHaveLength(14);
    compare(weekly, expected(incidents, MIA_WEEKLY, null, actions));
    expect(weekly.model.trend.windows).toHaveLength(12);
    const lou = recipient('lou');
    expect(lou.groups).toEqual(['net']);
    const net = await build(lou, win('daily', UTC_DAILY, '20261123', 'UTC'));
    compare(net, expected(incidents, UTC_DAILY, ['net'], actions, ['ada', 'lou']));
    expect(net.model.overdueActions.map((a) => a._id)).toEqual(['ra-1', 'ra-2']);
  });

  it(
    'sends one mail per manager and period however often the tick runs',
    { timeout: 180_000 },
    async () => {
      const queue = app!.ctx.queues.digest;
      for (const id of ['test-tick-1', 'test-tick-2']) {
        await queue.add('tick', {}, { jobId: id });
        await waitUntil(`digest ${id}`, async () => (await queue.getJob(id))?.finishedOn);
      }
      await smtp.waitFor(4, 120_000);
      await new Promise((r) => setTimeout(r, 3000)); // anything extra would have arrived by now
      const digests = smtp.messages.map((m) => [m.envelopeTo.join(), m.parsed.subject]);
      expect(digests.sort()).toEqual([
        ['lou@example.test', 'Daily digest (net): Mon 23 Nov 2026'],
        ['mia@example.test', 'Daily digest: Mon 23 Nov 2026'],
        ['mia@example.test', 'Weekly digest: week of 16 Nov 2026'],
        ['oz@example.test', 'Daily digest (ops): Mon 23 Nov 2026'],
      ]);
    },
  );

  it('is multipart/alternative with an inline PNG the HTML shows by cid', async () => {
    const mail = smtp.messages.find((m) => m.parsed.subject === 'Daily digest: Mon 23 Nov 2026')!;
    const raw = mail.raw.toString('latin1');
    expect(raw).toMatch(/Content-Type: multipart\/related/i);
    expect(raw).toMatch(/Content-Type: multipart\/alternative/i);
    const parsed = await simpleParser(mail.raw, { keepCidLinks: true });
    const png = parsed.attachments.find((a) => a.contentType === 'image/png')!;
    expect(png.related).toBe(true);
    expect(png.content.subarray(1, 4).toString('latin1')).toBe('PNG');
    const cid = png.cid ?? png.contentId!.replace(/[<>]/g, '');
    const html = parsed.html as string;
    expect(html).toContain(`src="cid:${cid}"`);
    expect(html).not.toMatch(/<script|<link|<style/i);
    // The token is the manager's own (role letter a: an agent of the plan), not a customer's.
    expect(html).toMatch(/href="mailto:support\+INC-\d{6}\.a[a-z2-7]{18}@example\.test/);
    expect(html).toContain('Problem');
    expect(html).not.toContain('<b>bold</b>'); // subjects are escaped
    const e = expected(incidents, MIA_DAILY, null, actions);
    expect(parsed.text).toContain(
      `New ${e.totals.new}   Resolved ${e.totals.resolved}   Open now ${e.totals.open}`,
    );
    expect(mail.header('auto-submitted')).toBe('auto-generated');
  });

  it('says so in one line when there is nothing to report', () => {
    const mail = smtp.messages.find((m) => m.envelopeTo.includes('oz@example.test'))!;
    expect(mail.parsed.text!.trim()).toBe(
      'Nothing to report for Mon 23 Nov 2026 (ops): no new, resolved, open or overdue items.',
    );
    expect(mail.parsed.attachments).toHaveLength(0);
  });

  it(
    'previews on the command line; dropped caches and changed incidents are read afresh',
    { timeout: 180_000 },
    async () => {
      const before = await build(
        recipient('mia'),
        win('daily', MIA_DAILY, '20261123', 'Europe/Berlin'),
      );
      const htmlFile = join(tmpdir(), `incidesk-digest-${process.pid}.html`);
      const pngFile = join(tmpdir(), 'incidesk-digest-chart.png'); // kept: look at it
      const preview = await runIncidesk(
        ['digest', 'preview', '--manager', 'mia@example.test', '--at', NOW.toISOString()].concat([
          '--html',
          htmlFile,
          '--png',
          pngFile,
        ]),
        t.env,
      );
      expect(preview.stderr).toBe('');
      expect(preview.code).toBe(0);
      expect(preview.stdout).toContain('Subject: Daily digest: Mon 23 Nov 2026');
      expect(preview.stdout).toContain(before.rendered.text.split('\n')[2]!);
      // The preview page shows the chart inline (a browser cannot follow cid:); mail keeps cid:.
      const page = readFileSync(htmlFile, 'utf8');
      expect(page).toContain('src="data:image/png;base64,');
      expect(page).not.toContain('cid:');
      const inline = await buildDigest(
        app!.ctx,
        recipient('mia'),
        await loadDigestInputs(before.model.window, NOW),
        NOW,
        { inlineChart: true },
      );
      expect(page).toBe(inline.rendered.html);
      expect(before.rendered.html).toContain('src="cid:');
      expect(readFileSync(pngFile).equals(before.chart!)).toBe(true);

      const rebuilt = await runIncidesk(['digest', 'rebuild-projection'], t.env);
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.stdout).toMatch(/^dropped \d+ cached days/);
      const after = await build(recipient('mia'), before.model.window);
      expect(after.model).toEqual(before.model);
      // Days cached by an older version, in another layout, are recomputed, not misread.
      const cache = mongoose.connection.db!.collection('report_day_facts');
      const cached = await cache.find({}, { projection: { _id: 1 } }).toArray();
      expect(cached.length).toBeGreaterThan(0);
      for (const { _id } of cached)
        await cache.replaceOne({ _id }, { facts: { kind: [0], at: [0] }, computedAt: NOW });
      const fromOldCache = await build(recipient('mia'), before.model.window);
      expect(fromOldCache.model).toEqual(before.model);

      // A settled day is cached now; a change to one of its incidents must still show.
      const moved = incidents.find(
        (i) => i.group === 'desk' && inRange(i.createdAt, MIA_DAILY.start, MIA_DAILY.end),
      )!;
      await updateIncident(moved.number, { group: 'net' }); // the app holds the store open
      const changed = incidents.map((i) => (i === moved ? { ...i, group: 'net' } : i));
      compare(
        await build(recipient('mia'), before.model.window),
        expected(changed, MIA_DAILY, null, actions),
      );
    },
  );

  it(
    'an explicit send and the scheduled run over a day boundary deliver each period once; a preview consumes nothing',
    { timeout: 240_000 },
    async () => {
      // No digest covers a period before this: the earliest incident (the plan was recorded
      // when the app started, on the wall clock, after the seeded history).
      expect(await digestEpoch()).toEqual(
        new Date(Math.min(...incidents.map((i) => i.createdAt!.getTime()))),
      );
      const before = smtp.messages.length;
      const at = ['--at', '2026-11-24T20:00:00Z']; // Tuesday evening, Tuesday still running
      const send = (...args: string[]) =>
        runIncidesk(['digest', 'send', '--manager', 'mia', ...args, ...at], t.env);

      // A preview of Tuesday so far: its own outbox id, marked in the subject.
      const preview = await send();
      expect(preview.stderr).toBe('');
      expect(preview.stdout).toMatch(/^queued digest-preview-mia-daily-20261124-20261124T200000Z/);
      // Sunday is closed and was never sent (the first tick sends only the latest period).
      const sunday = await send('--period', 'daily:2026-11-22');
      expect(sunday.stdout.trim()).toBe('queued digest-mia-daily-20261122');
      const again = await send('--period', 'daily:2026-11-22');
      expect(again.stdout).toMatch(/^digest-mia-daily-20261122 was already sent/);
      // Tuesday is not over: no digest of it under its scheduled id.
      const early = await send('--period', 'daily:2026-11-24');
      expect(early.code).toBe(64);
      expect(early.stderr).toMatch(/not over yet/);

      // Wednesday 08:00 UTC: the schedule sends Tuesday's digests, once however often it runs.
      const wednesday = { ...app!.ctx, now: () => new Date('2026-11-25T08:00:00Z') };
      expect((await produceDueDigests(wednesday)).sort()).toEqual([
        'digest-lou-daily-20261124',
        'digest-mia-daily-20261124',
        'digest-oz-daily-20261124',
      ]);
      expect(await produceDueDigests(wednesday)).toEqual([]);

      await smtp.waitFor(before + 5, 120_000);
      await new Promise((r) => setTimeout(r, 3000)); // anything extra would have arrived by now
      const fresh = smtp.messages.slice(before);
      expect(fresh).toHaveLength(5);
      const toMia = (ms: typeof fresh) =>
        ms
          .filter((m) => m.envelopeTo.includes('mia@example.test'))
          .map((m) => m.parsed.subject)
          .sort();
      expect(toMia(fresh)).toEqual([
        'Daily digest: Sun 22 Nov 2026',
        'Daily digest: Tue 24 Nov 2026',
        '[Preview, so far] Daily digest: Tue 24 Nov 2026',
      ]);
      const previewMail = fresh.find((m) => m.parsed.subject!.startsWith('[Preview'))!;
      expect(previewMail.parsed.text).toContain('so far, as of Tue 24 Nov 21:00');
      // Over the whole run, each of Mia's days exactly once.
      expect(toMia(smtp.messages).filter((x) => x!.startsWith('Daily digest:'))).toEqual([
        'Daily digest: Mon 23 Nov 2026',
        'Daily digest: Sun 22 Nov 2026',
        'Daily digest: Tue 24 Nov 2026',
      ]);

      // --force sends a period already sent again, under an id of its own.
      const forced = await send('--period', 'daily:2026-11-23', '--force');
      expect(forced.stdout).toMatch(/^queued digest-mia-daily-20261123-resend-20261124T200000Z/);
      await smtp.waitFor(before + 6, 60_000);
    },
  );
});
