/**
 * Manager digests: who gets which, when they are due, gathering the facts, rendering,
 * and queueing the mail exactly once per recipient and period.
 */
import { domainOf } from '../domain/address.js';
import { mailboxFor } from '../config.js';
import type { AppContext } from '../context.js';
import { calendarFor, type BusinessCalendar } from '../domain/business-time.js';
import { renderChartSvg } from '../domain/chart.js';
import { computeDigest, type DigestModel } from '../domain/digest.js';
import { digestPlanReviewNotice } from '../domain/plan-review.js';
import {
  duePeriods,
  periodContaining,
  periodOfDate,
  previousWindow,
  trailingWindows,
  type DigestPeriod,
  type DigestSchedule,
  type PeriodWindow,
} from '../domain/digest-schedule.js';
import { plusAddress, formatIncidentId } from '../domain/tokens.js';
import { rasteriseSvg } from '../mail/chart.js';
import { linkedIncidents, renderDigest, trendLabel, type RenderedDigest } from '../mail/digest.js';
import type { Plan, PlanAgent } from '../plan/schema.js';
import { jobIds } from '../queues.js';
import { isDuplicateKey } from '../store/db.js';
import { DigestLog, Incident, PlanVersion } from '../store/models.js';
import { enqueueOutbox, type NewOutboxMessage } from '../store/outbox.js';
import {
  factsBetween,
  forgetChangedDays,
  hourlyCounts,
  incidentMailboxes,
  openIncidentSet,
  overdueReviewActions,
} from '../store/reporting.js';

/** Buckets in the trend chart, per period. */
export const TREND_BUCKETS: Record<DigestPeriod, number> = { daily: 14, weekly: 12, monthly: 12 };
/** The chart's CSS size; the PNG is CHART_SCALE times larger, sharp on high-resolution screens. */
export const CHART_SIZE = { width: 560, height: 200 };
export const CHART_SCALE = 2;
const CHART_CID = 'trend@incidesk';

export interface DigestRecipient {
  agent: PlanAgent;
  schedule: DigestSchedule;
  /** Only these groups' incidents; null: the whole organisation. */
  groups: string[] | null;
}

/**
 * Everyone who gets a digest: the plan's `digests.recipients` (whole organisation), and each
 * group manager not listed there (their own groups, daily at 07:00 in the plan's zone).
 */
export function digestRecipients(plan: Pick<Plan, 'agents' | 'groups' | 'digests' | 'timezone'>) {
  const agents = new Map(plan.agents.map((a) => [a.id, a]));
  const out: DigestRecipient[] = [];
  for (const r of plan.digests.recipients) {
    const agent = agents.get(r.agent);
    if (!agent) continue;
    out.push({
      agent,
      schedule: { hour: r.hour, timezone: r.timezone ?? plan.timezone, periods: r.periods },
      groups: null,
    });
  }
  const listed = new Set(out.map((r) => r.agent.id));
  const managed = new Map<string, string[]>();
  for (const g of plan.groups)
    if (g.manager && !listed.has(g.manager))
      managed.set(g.manager, [...(managed.get(g.manager) ?? []), g.id]);
  for (const [id, groups] of managed) {
    const agent = agents.get(id);
    if (agent)
      out.push({
        agent,
        schedule: { hour: 7, timezone: plan.timezone, periods: ['daily'] },
        groups: groups.sort(),
      });
  }
  return out;
}

/** The scheduled digest's outbox id: one per recipient, kind of period and period. */
export const digestOutboxId = (agent: string, w: PeriodWindow) =>
  `digest-${agent}-${w.period}-${w.key}`;

/** 2026-11-24T20:00:00.000Z → 20261124T200000Z */
const utcStamp = (at: Date) => at.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');

/**
 * A "so far" preview's outbox id: never the scheduled one (a preview does not consume the
 * period's digest), one per instant it was asked for.
 */
export const digestPreviewOutboxId = (agent: string, w: PeriodWindow, at: Date) =>
  `digest-preview-${agent}-${w.period}-${w.key}-${utcStamp(at)}`;

/** A forced resend of a period already sent: its own id, so the outbox sends it again. */
export const digestResendOutboxId = (agent: string, w: PeriodWindow, at: Date) =>
  `${digestOutboxId(agent, w)}-resend-${utcStamp(at)}`;

/**
 * Before this, there is nothing to report on: the earliest of the first recorded plan version
 * (the installation) and the earliest incident (data imported from before it). Null: neither.
 */
export async function digestEpoch(): Promise<Date | null> {
  const [plan, incident] = await Promise.all([
    PlanVersion.findOne({}, { recordedAt: 1 }).sort({ _id: 1 }).lean<{ recordedAt: Date }>(),
    Incident.findOne({ createdAt: { $ne: null } }, { createdAt: 1 })
      .sort({ createdAt: 1 })
      .lean<{ createdAt: Date }>(),
  ]);
  const times = [plan?.recordedAt, incident?.createdAt].filter((d): d is Date => !!d);
  return times.length ? new Date(Math.min(...times.map((d) => d.getTime()))) : null;
}

/** The key (yyyymmdd) of the last digest of this kind queued for an agent, if any. */
async function lastSentKey(agent: string, period: DigestPeriod): Promise<string | undefined> {
  const prefix = `digest-${agent}-${period}-`;
  const last = await DigestLog.findOne(
    { _id: { $regex: `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d{8}` } },
    { _id: 1 },
  )
    .sort({ _id: -1 })
    .lean<{ _id: string }>();
  return last?._id.slice(prefix.length, prefix.length + 8);
}

export interface BuiltDigest {
  model: DigestModel;
  /** Facts the digest read (current and previous period). */
  factsRead: number;
  /** When each read finished, ms after the reads started (they run in parallel). */
  reads: Record<string, number>;
  rendered: RenderedDigest;
  chart: Buffer | null;
  timings: Record<string, number>;
}

export interface BuildOptions {
  /** The chart as a data: URI in the HTML (to open in a browser) instead of a cid: reference. */
  inlineChart?: boolean;
  /** A "so far" preview of a period still in progress (marked in the subject). */
  preview?: boolean;
}

/** Reads what one window's digests need (shared by recipients with the same window). */
export async function loadDigestInputs(w: PeriodWindow, now: Date) {
  const t0 = performance.now();
  // Cached days that changed incidents have facts on are recomputed by the reads below.
  await forgetChangedDays();
  const previous = previousWindow(w);
  const trendWindows = trailingWindows(w, TREND_BUCKETS[w.period]);
  const reads: Record<string, number> = {};
  const timed = async <T>(name: string, p: Promise<T>) => {
    const v = await p;
    reads[name] = performance.now() - t0;
    return v;
  };
  const [facts, open, actions, trendHours] = await Promise.all([
    timed('factsMs', factsBetween(previous.start, w.end, now)),
    timed('openMs', openIncidentSet(now)),
    timed('actionsMs', overdueReviewActions(w.end)),
    timed('trendMs', hourlyCounts(trendWindows[0]!.start, w.end, now)),
  ]);
  return {
    reads,
    window: w,
    previous,
    trendWindows,
    facts,
    open,
    actions,
    trendHours,
    loadMs: performance.now() - t0,
  };
}
export type DigestInputs = Awaited<ReturnType<typeof loadDigestInputs>>;

export async function buildDigest(
  ctx: Pick<AppContext, 'config' | 'plan'>,
  recipient: DigestRecipient,
  inputs: DigestInputs,
  now: Date,
  options: BuildOptions = {},
): Promise<BuiltDigest> {
  const t0 = performance.now();
  const groups = recipient.groups;
  const owners = groups
    ? ctx.plan.agents
        .filter((a) => a.groups.some((g) => groups.includes(g)))
        .flatMap((a) => [a.id, a.email])
    : undefined;
  const calendars = new Map<string, BusinessCalendar>();
  const calendarOf = (group: string | null) => {
    const id = ctx.plan.groups.find((g) => g.id === group)?.calendar ?? 'always';
    let cal = calendars.get(id);
    if (!cal) calendars.set(id, (cal = calendarFor(ctx.plan, id)));
    return cal;
  };
  const model = computeDigest({ ...inputs, now, groups, owners, calendarOf });
  const t1 = performance.now();
  // The mailbox each linked incident came in by: its link writes to that mailbox's address,
  // as the incident's own mail does. Read for the few the mail links to, not for all it counts.
  const mailboxes = await incidentMailboxes(linkedIncidents(model));
  const t2 = performance.now();
  const chart = model.empty
    ? null
    : rasteriseSvg(
        renderChartSvg({
          ...CHART_SIZE,
          labels: model.trend.windows.map(trendLabel),
          series: [
            { name: 'new', color: '#3465a4', values: model.trend.opened },
            { name: 'resolved', color: '#4e9a06', values: model.trend.resolved },
          ],
        }),
        CHART_SCALE,
      );
  const rendered = renderDigest(
    model,
    {
      organisation: ctx.plan.organisation,
      recipientName: recipient.agent.name,
      linkFor: (n) =>
        `mailto:${plusAddress(mailboxFor(ctx.config, mailboxes.get(n)).supportAddress, ctx.config.secret, n, { address: recipient.agent.email, role: 'agent' })}?subject=${encodeURIComponent(`[${formatIncidentId(n)}]`)}`,
      chartSize: CHART_SIZE,
      ...(chart &&
        (options.inlineChart
          ? { chartDataUri: `data:image/png;base64,${chart.toString('base64')}` }
          : { chartCid: CHART_CID })),
      preview: options.preview,
      planReview: digestPlanReviewNotice(ctx.plan, now),
    },
    now,
  );
  return {
    model,
    factsRead: inputs.facts.length,
    reads: inputs.reads,
    rendered,
    chart,
    timings: {
      loadMs: inputs.loadMs,
      computeMs: t1 - t0,
      linksMs: t2 - t1,
      renderMs: performance.now() - t2,
    },
  };
}

function outboxMessage(
  ctx: Pick<AppContext, 'config'>,
  id: string,
  to: string,
  d: BuiltDigest,
): NewOutboxMessage {
  const domain = domainOf(ctx.config.supportAddress);
  return {
    _id: id,
    kind: 'digest',
    incidentNumber: 0,
    to,
    messageId: `<${id}@${domain}>`,
    references: [],
    subject: d.rendered.subject,
    text: d.rendered.text,
    html: d.rendered.html,
    headers: {
      'X-Incidesk-Kind': 'digest',
      'Auto-Submitted': 'auto-generated',
      'X-Auto-Response-Suppress': 'All',
    },
    attachmentIds: [],
    inline: d.chart
      ? [{ cid: CHART_CID, filename: 'trend.png', contentType: 'image/png', data: d.chart }]
      : undefined,
  } as NewOutboxMessage;
}

/**
 * Queue a built digest for sending, once per outbox id. Returns false if it was already sent.
 * `log: false` (previews, forced resends) leaves the digest log alone: only a period's own
 * digest marks it as done for the schedule.
 */
export async function queueDigest(
  ctx: AppContext,
  id: string,
  to: string,
  d: BuiltDigest,
  { log = true }: { log?: boolean } = {},
): Promise<boolean> {
  const message = await enqueueOutbox(outboxMessage(ctx, id, to, d));
  if (message.state === 'pending')
    await ctx.queues.notify.add('digest', { outboxId: id }, { jobId: jobIds.notify(id) });
  if (log)
    try {
      await DigestLog.create({ _id: id, queuedAt: ctx.now() });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  return message.state === 'pending';
}

export type ExplicitDigest =
  | { kind: 'preview'; id: string; window: PeriodWindow }
  | { kind: 'period'; id: string; window: PeriodWindow; resend: boolean };

/**
 * What `digest send` sends. With a date: that closed period's digest under its scheduled id
 * (so the schedule will not send it again), or with `force` a resend under an id of its own;
 * a period not over yet is a RangeError. Without a date: a "so far" preview of the running
 * period, under a preview id the schedule never looks at.
 */
export async function planExplicitDigest(
  agent: string,
  spec: { period: DigestPeriod; date: string | null },
  zone: string,
  now: Date,
  force = false,
): Promise<ExplicitDigest> {
  if (spec.date === null) {
    const window = periodContaining(spec.period, now, zone);
    return { kind: 'preview', id: digestPreviewOutboxId(agent, window, now), window };
  }
  const window = periodOfDate(spec.period, spec.date, zone);
  if (window.end > now)
    throw new RangeError(
      `the ${spec.period} period of ${spec.date} is not over yet (${zone}); without a date, send a preview of it so far`,
    );
  const id = digestOutboxId(agent, window);
  if (!force) return { kind: 'period', id, window, resend: false };
  const sent = await DigestLog.exists({ _id: id });
  return sent
    ? { kind: 'period', id: digestResendOutboxId(agent, window, now), window, resend: true }
    : { kind: 'period', id, window, resend: false };
}

/**
 * The tick: every digest due now that has not been queued yet is built and queued. Safe to
 * run any number of times, from any number of processes: the outbox id decides.
 */
export async function produceDueDigests(ctx: AppContext): Promise<string[]> {
  const now = ctx.now();
  const log = ctx.log.child({ component: 'digest' });
  // Nothing recorded at all (no plan version, no incident): nothing has happened yet.
  const notBefore = (await digestEpoch()) ?? now;
  const due = (
    await Promise.all(
      digestRecipients(ctx.plan).map(async (recipient) => {
        const lastSent: Partial<Record<DigestPeriod, string>> = {};
        for (const period of recipient.schedule.periods) {
          const key = await lastSentKey(recipient.agent.id, period);
          if (key !== undefined) lastSent[period] = key;
        }
        return duePeriods(now, recipient.schedule, { notBefore, lastSent }).map((window) => ({
          recipient,
          window,
          id: digestOutboxId(recipient.agent.id, window),
        }));
      }),
    )
  ).flat();
  if (due.length === 0) return [];
  const done = new Set(
    (await DigestLog.find({ _id: { $in: due.map((d) => d.id) } }, { _id: 1 }).lean()).map(
      (d) => d._id,
    ),
  );
  const inputs = new Map<string, Promise<DigestInputs>>();
  const queued: string[] = [];
  for (const d of due) {
    if (done.has(d.id)) continue;
    const key = `${d.window.start.getTime()}-${d.window.end.getTime()}`;
    let input = inputs.get(key);
    if (!input) inputs.set(key, (input = loadDigestInputs(d.window, now)));
    const built = await buildDigest(ctx, d.recipient, await input, now);
    if (await queueDigest(ctx, d.id, d.recipient.agent.email, built)) queued.push(d.id);
    log.info({ digest: d.id, empty: built.model.empty, ...built.timings }, 'digest queued');
  }
  return queued;
}
