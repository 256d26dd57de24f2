/**
 * Manager digests: who gets which, when they are due, gathering the facts, rendering,
 * and queueing the mail exactly once per recipient and period.
 */
import type { AppContext } from '../context.js';
import { renderBarChart } from '../domain/chart.js';
import { computeDigest, type DigestModel } from '../domain/digest.js';
import {
  duePeriods,
  previousWindow,
  trailingWindows,
  type DigestPeriod,
  type DigestSchedule,
  type PeriodWindow,
} from '../domain/digest-schedule.js';
import { encodePng } from '../domain/png.js';
import { plusAddress, formatIncidentId } from '../domain/tokens.js';
import { renderDigest, trendLabel, type RenderedDigest } from '../mail/digest.js';
import type { Plan, PlanAgent } from '../plan/schema.js';
import { jobIds } from '../queues.js';
import { isDuplicateKey } from '../store/db.js';
import { DigestLog } from '../store/models.js';
import { enqueueOutbox, type NewOutboxMessage } from '../store/outbox.js';
import {
  factsBetween,
  forgetChangedDays,
  hourlyCounts,
  openIncidents,
  overdueReviewActions,
} from '../store/reporting.js';

/** Buckets in the trend chart, per period. */
export const TREND_BUCKETS: Record<DigestPeriod, number> = { daily: 14, weekly: 12, monthly: 12 };
export const CHART_SIZE = { width: 560, height: 200 };
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

export const digestOutboxId = (agent: string, w: PeriodWindow) =>
  `digest-${agent}-${w.period}-${w.key}`;

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
    timed('openMs', openIncidents()),
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

export function buildDigest(
  ctx: Pick<AppContext, 'config' | 'plan'>,
  recipient: DigestRecipient,
  inputs: DigestInputs,
  now: Date,
): BuiltDigest {
  const t0 = performance.now();
  const groups = recipient.groups;
  const owners = groups
    ? ctx.plan.agents
        .filter((a) => a.groups.some((g) => groups.includes(g)))
        .flatMap((a) => [a.id, a.email])
    : undefined;
  const model = computeDigest({ ...inputs, now, groups, owners });
  const t1 = performance.now();
  const chart = model.empty
    ? null
    : encodePng(
        renderBarChart({
          ...CHART_SIZE,
          labels: model.trend.windows.map(trendLabel),
          series: [
            { name: 'new', color: [52, 101, 164], values: model.trend.opened },
            { name: 'resolved', color: [78, 154, 6], values: model.trend.resolved },
          ],
        }),
      );
  const rendered = renderDigest(
    model,
    {
      organisation: ctx.plan.organisation,
      recipientName: recipient.agent.name,
      linkFor: (n) =>
        `mailto:${plusAddress(ctx.config.supportAddress, ctx.config.secret, n, { address: recipient.agent.email, role: 'agent' })}?subject=${encodeURIComponent(`[${formatIncidentId(n)}]`)}`,
      chartCid: chart ? CHART_CID : undefined,
    },
    now,
  );
  return {
    model,
    factsRead: inputs.facts.length,
    reads: inputs.reads,
    rendered,
    chart,
    timings: { loadMs: inputs.loadMs, computeMs: t1 - t0, renderMs: performance.now() - t1 },
  };
}

function outboxMessage(
  ctx: Pick<AppContext, 'config'>,
  id: string,
  to: string,
  d: BuiltDigest,
): NewOutboxMessage {
  const domain = ctx.config.supportAddress.slice(ctx.config.supportAddress.lastIndexOf('@') + 1);
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

/** Queue a built digest for sending, once per outbox id. Returns false if it was already sent. */
export async function queueDigest(
  ctx: AppContext,
  id: string,
  to: string,
  d: BuiltDigest,
): Promise<boolean> {
  const message = await enqueueOutbox(outboxMessage(ctx, id, to, d));
  if (message.state === 'pending')
    await ctx.queues.notify.add('digest', { outboxId: id }, { jobId: jobIds.notify(id) });
  try {
    await DigestLog.create({ _id: id, queuedAt: ctx.now() });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  return message.state === 'pending';
}

/**
 * The tick: every digest due now that has not been queued yet is built and queued. Safe to
 * run any number of times, from any number of processes: the outbox id decides.
 */
export async function produceDueDigests(ctx: AppContext): Promise<string[]> {
  const now = ctx.now();
  const log = ctx.log.child({ component: 'digest' });
  const due = digestRecipients(ctx.plan).flatMap((recipient) =>
    duePeriods(now, recipient.schedule).map((window) => ({
      recipient,
      window,
      id: digestOutboxId(recipient.agent.id, window),
    })),
  );
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
    const built = buildDigest(ctx, d.recipient, await input, now);
    if (await queueDigest(ctx, d.id, d.recipient.agent.email, built)) queued.push(d.id);
    log.info({ digest: d.id, empty: built.model.empty, ...built.timings }, 'digest queued');
  }
  return queued;
}
