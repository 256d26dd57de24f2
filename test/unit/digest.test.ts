import { describe, expect, it } from 'vitest';
import {
  computeDigest,
  mayBeAtRisk,
  mean,
  median,
  type DigestInput,
} from '../../src/domain/digest.js';
import {
  periodContaining,
  previousWindow,
  trailingWindows,
} from '../../src/domain/digest-schedule.js';
import {
  factDays,
  factsOf,
  openEntryOf,
  openSetOf,
  packFacts,
  packSummary,
  summariseDay,
  summariseOpen,
  unpackFacts,
  unpackSummary,
  utcDaysBetween,
  type IncidentLike,
} from '../../src/domain/reporting.js';
import { renderDigest } from '../../src/mail/digest.js';

const H = 3600_000;
const day = periodContaining('daily', new Date('2026-11-23T12:00:00Z'), 'UTC');
const at = (hours: number) => new Date(day.start.getTime() + hours * H);
const clock = (targetMs: number, consumedMs: number, breached?: Date) => ({
  targetMs,
  consumedMs,
  runningSince: null,
  stoppedAt: at(0),
  breachedAt: breached ?? null,
});

function incident(n: number, over: Partial<IncidentLike>): IncidentLike {
  return {
    number: n,
    subject: `Incident ${n}`,
    status: 'assigned',
    createdAt: at(1),
    customer: { address: `kim@${n % 2 ? 'acme.test' : 'globex.test'}` },
    priority: 'P2',
    group: 'desk',
    category: 'network',
    ...over,
  };
}

describe('facts and open entries', () => {
  it('a resolved incident has opened, acknowledged and resolved facts with durations', () => {
    const i = incident(7, {
      status: 'resolved',
      firstRespondedAt: at(1.5),
      resolvedAt: at(5),
      sla: { firstResponse: clock(H, 0.5 * H), resolution: clock(4 * H, 4 * H, at(5)) },
    });
    const facts = factsOf(i);
    expect(facts.map((f) => f._id)).toEqual([
      '7-opened',
      '7-acknowledged',
      '7-resolved',
      '7-breached-resolution',
    ]);
    expect(facts[1]).toMatchObject({ durationMs: 0.5 * H, met: true, customer: 'acme.test' });
    expect(facts[2]).toMatchObject({ durationMs: 4 * H, met: false });
    expect(openEntryOf(i)).toBeNull();
    expect(factDays(i)).toEqual(['20261123']);
  });

  it('an open incident has an open entry with its running clocks due dates', () => {
    const i = incident(8, {
      sla: {
        firstResponse: { targetMs: H, consumedMs: 0, runningSince: at(1), stoppedAt: null },
        resolution: { targetMs: 8 * H, consumedMs: 2 * H, runningSince: at(3), stoppedAt: null },
      },
    });
    expect(openEntryOf(i)).toMatchObject({
      _id: 8,
      responseDueAt: at(2),
      resolutionDueAt: at(9),
      breached: false,
    });
    expect(openEntryOf({ ...i, status: 'closed' })).toBeNull();
    expect(openEntryOf({ ...i, mergedInto: 3 })).toBeNull();
  });

  it('the open set of a full list counts it per group and priority and lists it all', () => {
    const entries = [
      incident(1, {}),
      incident(2, {}),
      incident(3, { group: 'net' }),
      incident(4, { group: null, priority: null }),
    ].flatMap((i) => openEntryOf(i) ?? []);
    const set = openSetOf(entries);
    expect(set.counts).toEqual([
      { group: 'desk', priority: 'P2', count: 2 },
      { group: 'net', priority: 'P2', count: 1 },
      { group: null, priority: null, count: 1 },
    ]);
    expect(set.entries).toEqual(entries);
  });

  it('summarises open incidents: counts per group and priority, each group oldest', () => {
    const rows = [
      // Group desk: six open, two of them created at the same instant (the number decides).
      ...[5, 3, 2, 4, 1].map((h, k) => ({
        number: 10 + k,
        status: 'assigned',
        createdAt: at(h),
        group: 'desk',
        priority: 'P2',
      })),
      { number: 9, status: 'in-progress', createdAt: at(2), group: 'desk', priority: 'P1' },
      { number: 20, status: 'new', createdAt: at(7), group: 'net', priority: null },
      { number: 21, status: 'new', createdAt: at(6) }, // no group, no priority
      // Not open: resolved, merged, without a creation time.
      { number: 30, status: 'resolved', createdAt: at(0), group: 'desk', priority: 'P2' },
      { number: 31, status: 'assigned', createdAt: at(0), group: 'desk', mergedInto: 9 },
      { number: 32, status: 'assigned', createdAt: null, group: 'net', priority: 'P3' },
    ];
    const { counts, oldest } = summariseOpen(rows, 3);
    expect(counts).toEqual([
      { group: 'desk', priority: 'P2', count: 5 },
      { group: 'desk', priority: 'P1', count: 1 },
      { group: 'net', priority: null, count: 1 },
      { group: null, priority: null, count: 1 },
    ]);
    expect(oldest).toEqual([14, 9, 12, 20, 21]);
  });

  it('an entry may be at risk when unbreached with a clock due, wall-clock, before the horizon', () => {
    const running = (since: number, targetH: number) => ({
      targetMs: targetH * H,
      consumedMs: 0,
      runningSince: at(since),
      stoppedAt: null,
    });
    const entry = (sla: IncidentLike['sla']) => openEntryOf(incident(1, { sla }))!;
    const horizon = at(10).getTime();
    expect(mayBeAtRisk(entry({ resolution: running(1, 8) }), horizon)).toBe(true);
    expect(mayBeAtRisk(entry({ resolution: running(1, 9) }), horizon)).toBe(false);
    expect(mayBeAtRisk(entry({ firstResponse: running(1, 2), resolution: null }), horizon)).toBe(
      true,
    );
    expect(
      mayBeAtRisk(entry({ resolution: { ...running(1, 8), breachedAt: at(0) } }), horizon),
    ).toBe(false);
    expect(mayBeAtRisk(entry({ resolution: null }), horizon)).toBe(false);
  });

  it('a day of facts packs into one document and back unchanged', () => {
    const facts = [
      ...factsOf(
        incident(7, {
          status: 'resolved',
          firstRespondedAt: at(1.5),
          resolvedAt: at(5),
          sla: { firstResponse: clock(H, 0.5 * H), resolution: clock(4 * H, 4 * H, at(5)) },
        }),
      ),
      ...factsOf(incident(8, { priority: null, group: null, category: null })),
    ];
    expect(unpackFacts(packFacts(facts))).toEqual(facts);
  });

  it('UTC days overlapping a local day, and hourly summaries', () => {
    const berlin = periodContaining('daily', new Date('2026-11-23T12:00:00Z'), 'Europe/Berlin');
    expect(utcDaysBetween(berlin.start, berlin.end)).toEqual(['20261122', '20261123']);
    const s = summariseDay(
      '20261123',
      [...factsOf(incident(1, {})), ...factsOf(incident(2, { group: null }))],
      at(30),
    );
    expect(s.opened.desk![1]).toBe(1);
    expect(s.opened['-']![1]).toBe(1);
    expect(unpackSummary('20261123', packSummary(s), at(30))).toEqual(s);
  });

  it('a packed day keeps its strings once and nulls as nulls', () => {
    const facts = [
      ...factsOf(incident(1, {})),
      ...factsOf(incident(2, {})),
      ...factsOf(incident(3, { group: null, category: null })),
    ];
    const packed = packFacts(facts);
    expect(packed.strings.filter((s) => s === 'desk')).toHaveLength(1);
    // A column read from the database may start at any byte: unpacking copies it.
    const shifted = Object.fromEntries(
      Object.entries(packed.columns).map(([k, bytes]) => {
        const b = new Uint8Array(bytes.length + 1);
        b.set(bytes, 1);
        return [k, b.subarray(1)];
      }),
    ) as typeof packed.columns;
    expect(unpackFacts({ ...packed, columns: shifted })).toEqual(facts);
  });
});

describe('digest computation', () => {
  const previous = previousWindow(day);
  // Current period: 1..4 opened; 1,2 resolved; 3 open and at risk; 4 open, breached.
  // Previous period: 5 opened and resolved, 6 opened and acknowledged.
  const incidents: IncidentLike[] = [
    incident(1, {
      status: 'resolved',
      priority: 'P1',
      firstRespondedAt: at(1.25),
      resolvedAt: at(3),
      sla: { firstResponse: clock(H, 0.25 * H), resolution: clock(4 * H, 2 * H) },
    }),
    incident(2, {
      status: 'closed',
      category: 'email',
      firstRespondedAt: at(3),
      resolvedAt: at(9),
      sla: { firstResponse: clock(H, 2 * H, at(2)), resolution: clock(8 * H, 8 * H, at(9)) },
    }),
    incident(3, {
      createdAt: at(2),
      group: 'net',
      sla: {
        firstResponse: { targetMs: 30 * H, consumedMs: 0, runningSince: at(2), stoppedAt: null },
      },
    }),
    incident(4, {
      createdAt: at(0.5),
      priority: 'P3',
      sla: {
        resolution: {
          targetMs: H,
          consumedMs: 0,
          runningSince: at(0.5),
          stoppedAt: null,
          breachedAt: at(1.5),
        },
      },
    }),
    incident(5, {
      createdAt: at(-20),
      status: 'resolved',
      firstRespondedAt: at(-19),
      resolvedAt: at(-10),
      sla: { firstResponse: clock(H, H / 2), resolution: clock(20 * H, 10 * H) },
    }),
    incident(6, { createdAt: at(-5), status: 'pending-customer', firstRespondedAt: at(-3) }),
  ];
  const now = at(24 + 7);
  const input = (over: Partial<DigestInput> = {}): DigestInput => ({
    window: day,
    previous,
    now,
    facts: incidents.flatMap(factsOf),
    open: openSetOf(incidents.flatMap((i) => openEntryOf(i) ?? [])),
    actions: [
      { _id: 'a1', incidentNumber: 2, owner: 'ada', text: 'Fix DNS', dueAt: at(20) },
      { _id: 'a2', incidentNumber: 2, owner: 'ada', text: 'Done', dueAt: at(1), doneAt: at(2) },
      { _id: 'a3', incidentNumber: 1, owner: 'bo', text: 'Later', dueAt: at(30) },
    ],
    trendWindows: trailingWindows(day, 3),
    trendHours: [
      { hour: at(1), group: 'desk', opened: 3, resolved: 1 },
      { hour: at(2), group: 'net', opened: 1, resolved: 0 },
      { hour: at(-10), group: 'desk', opened: 1, resolved: 1 },
    ],
    groups: null,
    ...over,
  });

  it('counts, compliance, durations and their change against the previous period', () => {
    const m = computeDigest(input());
    expect(m.empty).toBe(false);
    expect(m.totals).toEqual({ new: 4, resolved: 2, open: 3, acknowledged: 2 });
    expect(m.byPriority).toEqual([
      { key: 'P1', new: 1, resolved: 1, open: 0 },
      { key: 'P2', new: 2, resolved: 1, open: 2 },
      { key: 'P3', new: 1, resolved: 0, open: 1 },
      { key: 'P4', new: 0, resolved: 0, open: 0 },
    ]);
    expect(m.byGroup).toEqual([
      { key: 'desk', new: 3, resolved: 2, open: 2 },
      { key: 'net', new: 1, resolved: 0, open: 1 },
    ]);
    expect(m.sla.response).toEqual({ met: 1, total: 2, pct: 50 });
    expect(m.sla.resolution).toEqual({ met: 1, total: 2, pct: 50 });
    expect(m.sla.breaches).toBe(3); // 2: response and resolution; 4: resolution
    expect(m.sla.breachedIncidents).toEqual([2, 4]);
    // ack: 0.25 h and 2 h; previous 1 h and 2 h
    expect(m.ack.meanMs).toBe(1.125 * H);
    expect(m.ack.medianMs).toBe(1.125 * H);
    expect(m.ack.previousMeanMs).toBe(1.5 * H);
    expect(m.ack.meanChange).toBeCloseTo(-0.25, 10);
    // resolve: 2 h and 8 h; previous 10 h
    expect(m.resolve.meanMs).toBe(5 * H);
    expect(m.resolve.previousMedianMs).toBe(10 * H);
    expect(m.resolve.meanChange).toBeCloseTo(-0.5, 10);
    expect(m.oldestOpen.map((o) => o.number)).toEqual([6, 4, 3]);
    expect(m.topCategories).toEqual([
      { key: 'network', count: 3 },
      { key: 'email', count: 1 },
    ]);
    expect(m.topCustomers).toEqual([
      { key: 'acme.test', count: 2 },
      { key: 'globex.test', count: 2 },
    ]);
    expect(m.overdueActions.map((a) => a._id)).toEqual(['a1']);
    expect(m.trend.opened).toEqual([0, 1, 4]);
    expect(m.trend.resolved).toEqual([0, 1, 1]);
  });

  it('at risk: a running, unbreached clock due within a day of now', () => {
    const m = computeDigest(input());
    expect(m.atRisk.map((r) => [r.number, r.clock])).toEqual([[3, 'response']]);
    expect(computeDigest(input({ now: at(0) })).atRisk).toEqual([]); // due in 32 h
  });

  it("at risk: due times are in the owning group's business hours", () => {
    // Incident 3 (group net) has a 30 h response clock started Monday 02:00 UTC; "now" is
    // Tuesday 07:00. With all time counting it is due Tuesday 08:00, in an hour; in office
    // hours (09-17 UTC, Mon-Fri) it is not.
    const office = {
      timezone: 'UTC',
      hours: Object.fromEntries(
        (['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((d) => [d, ['09:00-17:00']]),
      ),
      holidays: [],
    };
    const wall = computeDigest(input());
    expect(wall.atRisk[0]!.dueAt).toEqual(at(32));
    const biz = computeDigest(
      input({ calendarOf: (g) => (g === 'net' ? office : { ...office, hours: '24x7' }) }),
    );
    // 30 business hours from Monday 02:00: Mon 8 h, Tue 8 h, Wed 8 h, Thu 6 h → Thu 15:00,
    // more than a day away: not at risk any more.
    expect(biz.atRisk).toEqual([]);
    const soon = computeDigest(
      input({ now: at(24 * 3 + 7), calendarOf: () => office }), // Thursday 07:00
    );
    expect(soon.atRisk.map((r) => [r.number, r.dueAt])).toEqual([[3, at(24 * 3 + 15)]]);
  });

  it('a group manager sees only their groups', () => {
    const m = computeDigest(input({ groups: ['net'] }));
    expect(m.totals).toEqual({ new: 1, resolved: 0, open: 1, acknowledged: 0 });
    expect(m.trend.opened).toEqual([0, 0, 1]);
    // Review actions name no group: a group's digest shows those its members own.
    expect(m.overdueActions).toEqual([]);
    const withOwners = computeDigest(input({ groups: ['net'], owners: ['ada'] }));
    expect(withOwners.overdueActions.map((a) => a._id)).toEqual(['a1']);
  });

  it('nothing at all is an empty digest, rendered as one line', () => {
    const m = computeDigest(
      input({ facts: [], open: openSetOf([]), actions: [], trendHours: [], groups: null }),
    );
    expect(m.empty).toBe(true);
    const r = renderDigest(
      m,
      { organisation: 'Example', recipientName: 'Ada', linkFor: String },
      now,
    );
    expect(r.text.trim().split('\n')).toHaveLength(1);
    expect(r.text).toMatch(/^Nothing to report for Mon 23 Nov 2026/);
  });

  it("warns at the top when the plan's annual review is due soon or overdue, even with nothing else to say", () => {
    const m = computeDigest(
      input({ facts: [], open: openSetOf([]), actions: [], trendHours: [], groups: null }),
    );
    const warning = "The response plan's annual review is overdue: it was due 2026-11-01.";
    const r = renderDigest(
      m,
      { organisation: 'Example', recipientName: 'Ada', linkFor: String, planReview: warning },
      now,
    );
    expect(r.text.split('\n').slice(0, 3)).toEqual([
      `! ${warning}`,
      '  Review the plan, then: incidesk plan review --approve --note "..."',
      '',
    ]);
    expect(r.text).toContain('Nothing to report for Mon 23 Nov 2026');
    expect(r.html).toContain('annual review is overdue: it was due 2026-11-01.');
    const full = renderDigest(
      computeDigest(input()),
      { organisation: 'Example', recipientName: 'Ada', linkFor: String, planReview: warning },
      now,
    );
    expect(full.text.startsWith(`! ${warning}`)).toBe(true);
    expect(full.html).toContain('<strong>Plan review:</strong>');
  });

  it('renders HTML with tables, incident links, the chart by cid and no script', () => {
    const m = computeDigest(input());
    const r = renderDigest(
      m,
      {
        organisation: 'Example <Corp>',
        recipientName: 'Ada',
        linkFor: (n) => `mailto:support+${n}@example.test`,
        chartCid: 'trend@x',
      },
      now,
    );
    expect(r.subject).toBe('Daily digest: Mon 23 Nov 2026');
    expect(r.html).toContain('src="cid:trend@x"');
    expect(r.html).toContain('href="mailto:support+3@example.test"');
    expect(r.html).toContain('Example &lt;Corp&gt;');
    expect(r.html).not.toMatch(/<script|<link|<style/i);
    expect(r.text).toContain('New 4   Resolved 2   Open now 3');
    expect(r.text).toContain('first response met 50% (1/2)');
    expect(r.text).toContain('Time to resolve: mean 5h 0m (-50% vs previous)');
  });

  it('aligns headings like their columns, keeps ids and dates on one line', () => {
    const r = renderDigest(
      computeDigest(input()),
      { organisation: 'Example', recipientName: 'Ada', linkFor: (n) => `mailto:s+${n}@x.test` },
      now,
    );
    // HTML: every heading has the alignment of its column; numbers right, text left.
    const tables = [
      ...r.html.matchAll(
        /<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\s*<tr>(<th[\s\S]*?)<\/tr>\s*([\s\S]*?)<\/table>/g,
      ),
    ];
    expect(tables.length).toBeGreaterThanOrEqual(5);
    for (const [, head, body] of tables) {
      const heads = [...head!.matchAll(/<th align="(\w+)"/g)].map((m) => m[1]);
      const firstRow = /<tr>([\s\S]*?)<\/tr>/.exec(body!)![1]!;
      const cells = [...firstRow.matchAll(/<td align="(\w+)"/g)].map((m) => m[1]);
      expect(cells).toEqual(heads);
    }
    expect(r.html).toMatch(/<th align="right"[^>]*text-align:right[^>]*>resolved<\/th>/);
    expect(r.html).toMatch(
      /white-space:nowrap[^>]*><a href="mailto:s\+3@x.test"[^>]*>INC-000003<\/a>/,
    );
    expect(r.html).toMatch(/white-space:nowrap">Tue 24 Nov 08:00<\/td>/);
    // Text: the heading row's right edges line up with the numbers'.
    const lines = r.text.split('\n');
    const at = lines.indexOf('By priority');
    const [heading, p1] = [lines[at + 1]!, lines[at + 2]!];
    expect(heading.length).toBe(p1.length);
    expect(heading.endsWith('open')).toBe(true);
    expect(p1).toMatch(/^ {2}P1 +\d+ +\d+ +\d+$/);
  });

  it('a preview says so in the subject and shows the chart inline', () => {
    const r = renderDigest(
      computeDigest(input()),
      {
        organisation: 'Example',
        recipientName: 'Ada',
        linkFor: String,
        chartDataUri: 'data:image/png;base64,AAAA',
        preview: true,
      },
      at(20),
    );
    expect(r.subject).toBe('[Preview, so far] Daily digest: Mon 23 Nov 2026');
    expect(r.text).toContain('Mon 23 Nov 2026 so far, as of Mon 23 Nov 20:00 (UTC)');
    expect(r.html).toContain('src="data:image/png;base64,AAAA"');
    expect(r.html).not.toContain('cid:');
  });

  it('mean and median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNull();
    expect(mean([1, 2])).toBe(1.5);
  });
});
