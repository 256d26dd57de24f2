/**
 * The open incidents as the digest reads them (openIncidentSet in src/store/reporting.ts): one
 * aggregation on the server that counts them all and sends only the entries a digest can
 * list. Checked against the full list of open incidents, read here and made into entries by
 * the domain: the same counts, and the same digest for every scope of groups, with and
 * without business hours, from far fewer entries.
 */
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusinessCalendar } from '../../src/domain/business-time.js';
import { computeDigest, type DigestInput } from '../../src/domain/digest.js';
import { periodContaining, previousWindow } from '../../src/domain/digest-schedule.js';
import {
  openEntryOf,
  openSetOf,
  type IncidentLike,
  type OpenCount,
  type OpenEntry,
  type OpenSet,
} from '../../src/domain/reporting.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { Incident } from '../../src/store/models.js';
import { openIncidentSet } from '../../src/store/reporting.js';
import { testEnv } from '../support/harness.js';
import { mulberry32 } from '../support/prng.js';
import { lastClockChange, seededSlaCheck } from '../support/sla.js';

const H = 3600_000;
const NOW = new Date('2026-11-24T09:00:00Z'); // a Tuesday
const STATUSES = ['new', 'triaged', 'assigned', 'in-progress', 'pending-customer', 'resolved'];
const GROUPS = ['desk', 'net', 'ops', null, undefined];
const PRIORITIES = ['P1', 'P2', 'P3', 'P4', null, undefined];

/**
 * Incidents in every state a clock can be in: running, paused (no runningSince), stopped,
 * breached, over its target without a breach recorded, due within the day or later; some
 * merged, some acknowledged with their response clock still marked running, some without a
 * group or priority (absent or null), and creation times shared by several incidents.
 */
function seedIncidents(count: number) {
  const rnd = mulberry32(20261207);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const clock = (createdAt: Date) => {
    const r = rnd();
    const targetMs = pick([0.25, 1, 4, 8, 24, 72]) * H;
    const consumedMs = Math.floor(rnd() * 2 * targetMs);
    if (r < 0.15) return null;
    if (r < 0.3) return { targetMs, consumedMs, runningSince: null, stoppedAt: null }; // paused
    if (r < 0.4) return { targetMs, consumedMs, runningSince: null, stoppedAt: NOW }; // stopped
    const runningSince = new Date(
      Math.max(createdAt.getTime(), NOW.getTime() - Math.floor(rnd() * 10 * 24 * H)),
    );
    // Past its target: breached, as the SLA sweep records it (but not always yet).
    const due = runningSince.getTime() + targetMs - consumedMs;
    return {
      targetMs,
      consumedMs,
      runningSince,
      stoppedAt: null,
      ...(due < NOW.getTime() && rnd() < 0.9 ? { breachedAt: new Date(due) } : {}),
    };
  };
  return Array.from({ length: count }, (_, k) => {
    const n = k + 1;
    // A few dozen distinct instants: many incidents share their creation time.
    const createdAt = new Date(NOW.getTime() - (1 + Math.floor(rnd() * 60)) * 6 * H);
    const group = pick(GROUPS);
    const priority = pick(PRIORITIES);
    const sla = { firstResponse: clock(createdAt), resolution: clock(createdAt) };
    return {
      _id: n,
      number: n,
      openedBy: `reporting-${n}`,
      subject: `Problem ${n}`,
      status: pick(STATUSES),
      customer: { address: `kim@customer${n % 7}.example` },
      ...(group === undefined ? {} : { group }),
      ...(priority === undefined ? {} : { priority }),
      category: pick(['network', 'email', null]),
      assignee: pick(['ada', 'lou', null]),
      ...(rnd() < 0.05 ? { mergedInto: 1 } : {}),
      ...(rnd() < 0.3 ? { firstRespondedAt: new Date(createdAt.getTime() + H) } : {}),
      sla,
      // What the SLA code computed at the clocks' last change (the sweep has not looked since).
      slaCheckAt: seededSlaCheck(sla, lastClockChange(sla, createdAt)),
      createdAt,
      updatedAt: createdAt,
    };
  });
}

const OFFICE: BusinessCalendar = {
  timezone: 'UTC',
  hours: Object.fromEntries(
    (['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((d) => [d, ['09:00-17:00']]),
  ),
  holidays: [],
};

const byKey = (cs: OpenCount[]) =>
  [...cs].sort((a, b) =>
    JSON.stringify([a.group, a.priority]).localeCompare(JSON.stringify([b.group, b.priority])),
  );

describe('the open incidents a digest reads', () => {
  let all: OpenEntry[];
  let set: OpenSet;

  beforeAll(async () => {
    await connectStore(testEnv({ port: 1 }).env.MONGODB_URI!);
    await Incident.collection.insertMany(seedIncidents(1500) as never[]);
    all = (await Incident.find().lean<IncidentLike[]>()).flatMap((i) => openEntryOf(i) ?? []);
    set = await openIncidentSet(NOW);
  }, 60_000);
  afterAll(async () => {
    await mongoose.connection.dropDatabase();
    await disconnectStore();
  });

  it('counts every open incident per group and priority', () => {
    expect(all.length).toBeGreaterThan(1000);
    expect(byKey(set.counts)).toEqual(byKey(openSetOf(all).counts));
    // Absent and null group or priority are one key, as the domain makes them.
    expect(set.counts.filter((c) => c.group === null && c.priority === null)).toHaveLength(1);
  });

  it('sends only entries a digest can list, each as the domain makes it', () => {
    expect(set.entries.length).toBeLessThan(all.length / 4);
    const full = new Map(all.map((o) => [o.number, o]));
    for (const o of set.entries) expect(o).toEqual(full.get(o.number));
  });

  it('makes the same digest as the full list, for any groups and business hours', () => {
    const window = periodContaining('daily', new Date(NOW.getTime() - 24 * H), 'UTC');
    const input = (open: OpenSet, over: Partial<DigestInput>): DigestInput => ({
      window,
      previous: previousWindow(window),
      now: NOW,
      facts: [],
      open,
      actions: [],
      trendWindows: [window],
      trendHours: [],
      groups: null,
      ...over,
    });
    const scopes = [null, ['desk'], ['net', 'ops'], [''], ['nobody']];
    const calendars = [
      undefined,
      () => OFFICE,
      (g: string | null) => (g === 'net' ? OFFICE : undefined),
    ];
    let listed = 0;
    for (const groups of scopes)
      for (const cal of calendars) {
        const over: Partial<DigestInput> = {
          groups,
          ...(cal && {
            calendarOf: (g: string | null) =>
              cal(g) ?? { timezone: 'UTC', hours: '24x7', holidays: [] },
          }),
        };
        const got = computeDigest(input(set, over));
        expect(got).toEqual(computeDigest(input(openSetOf(all), over)));
        listed += got.atRisk.length + got.oldestOpen.length;
      }
    // The lists are full where the data allow: the comparison compared something.
    const org = computeDigest(input(set, {}));
    expect(org.oldestOpen).toHaveLength(5);
    expect(org.atRisk.length).toBeGreaterThan(3);
    expect(listed).toBeGreaterThan(50);
  });
});
