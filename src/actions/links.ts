/**
 * Links between incidents: likely duplicates and possible outages spotted at triage, and the
 * manual grouping of an outage's reports under a parent (resolution then follows the parent:
 * see resolveIncident). Email commands and the CLI both come here.
 */
import type { AppContext } from '../context.js';
import { parseDuration } from '../domain/duration.js';
import { groupingProblem } from '../domain/links.js';
import {
  likelyDuplicates,
  possibleOutage,
  subjectSimilarity,
  type SimilarityCandidate,
} from '../domain/similarity.js';
import { OPEN_STATUSES } from '../domain/lifecycle.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent, findGroup } from '../plan/load.js';
import { atomically } from '../store/db.js';
import { appendTimeline, findIncident, updateIncident } from '../store/incidents.js';
import type { IncidentDoc } from '../store/models.js';
import {
  childrenOf,
  forgetTriagedBefore,
  linkChild,
  openAmong,
  unlinkChild,
  recentlyTriaged,
  rememberTriaged,
  type RecentEntry,
} from '../store/review.js';
import { changedMeanwhile, type Actor, type ChangeResult } from './outcome.js';
import { queueMail } from './mail.js';

/** Group `child` under the outage incident `parentNumber`. */
export async function groupUnder(
  ctx: AppContext,
  child: IncidentDoc,
  parentNumber: number,
  actor: Actor,
): Promise<ChangeResult> {
  const parent = await findIncident(parentNumber);
  if (!parent) return { ok: false, reason: `no incident ${formatIncidentId(parentNumber)}` };
  const problem = groupingProblem(child, parent);
  if (problem) return { ok: false, reason: problem };
  const p = formatIncidentId(parentNumber);
  if (child.parent !== parentNumber) {
    const linked = await updateIncident(
      child.number,
      { parent: parentNumber },
      { onlyIf: OPEN_STATUSES, where: { parent: null } },
    );
    if (!linked) return changedMeanwhile();
  }
  await recordGrouping(ctx, child.number, parentNumber, actor);
  return { ok: true, done: `grouped under ${p}; resolving ${p} resolves this one too` };
}

/**
 * An outage parent merged into `to` hands its open children over, so that resolving the
 * survivor resolves them and tells their reporters. Safe to repeat: a child already moved
 * gets its link and timeline entries (idempotent) again.
 */
export async function handOverChildren(
  ctx: AppContext,
  from: number,
  to: number,
  actor: Actor,
): Promise<number> {
  let moved = 0;
  for (const n of await childrenOf(from))
    if (await atomically(() => handOverChild(ctx, n, from, to, actor))) moved++;
  return moved;
}

/** One report's move, all of it or none: its parent, both links and the timeline entries. */
async function handOverChild(ctx: AppContext, n: number, from: number, to: number, actor: Actor) {
  let child = await findIncident(n);
  if (child?.parent === from)
    child =
      (await updateIncident(
        n,
        { parent: to },
        { onlyIf: OPEN_STATUSES, where: { parent: from } },
      )) ?? (await findIncident(n)); // the guard failed: see where it is now
  if (child?.parent !== to) return false; // closed meanwhile: stays where it was
  await recordGrouping(ctx, n, to, actor);
  await unlinkChild(from, n);
  return true;
}

/** The link and both timeline entries of a grouping; repeated on a retry, they are idempotent. */
async function recordGrouping(ctx: AppContext, child: number, parent: number, actor: Actor) {
  const at = ctx.now();
  await linkChild(parent, child, at, actor.by);
  for (const [n, event, other] of [
    [child, 'grouped-under', parent],
    [parent, 'grouped-child', child],
  ] as const) {
    await appendTimeline(n, {
      _id: `${event}-${n}-${other}`,
      at,
      type: 'event',
      event,
      detail: { incident: formatIncidentId(other), number: other, by: actor.by },
    });
  }
}

/** At most this many similar incidents have their status checked per triage (one query). */
const MAX_CANDIDATES = 25;

/** Of the recent incidents similar enough to `me`, those still open (newest first). */
async function openSimilar(me: SimilarityCandidate, recent: RecentEntry[], threshold: number) {
  const similar = recent
    .filter((r) => r.number !== me.number && subjectSimilarity(me.subject, r.subject) >= threshold)
    .slice(0, MAX_CANDIDATES);
  if (similar.length === 0) return [];
  const open = new Set(await openAmong(similar.map((r) => r.number)));
  return similar.filter((r) => open.has(r.number));
}

/**
 * Remember `incident` among the recently triaged ones, and return the open incidents it likely
 * duplicates: same customer, similar subject, triaged recently. Called before the triage
 * decision is stored, so that the duplicates are stored with it; remembered first, so that of
 * two similar incidents triaged at once, the later lookup sees the other.
 */
export async function rememberForDuplicates(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'number' | 'subject' | 'customer'>,
  at: Date,
): Promise<number[]> {
  const cfg = ctx.plan.review.duplicates;
  const me = {
    number: incident.number,
    subject: incident.subject,
    customer: incident.customer.address,
  };
  await rememberTriaged(me.number, me.customer, me.subject, at);
  const sameCustomer = await recentlyTriaged(
    new Date(at.getTime() - parseDuration(cfg.within)),
    me.customer,
  );
  const candidates = await openSimilar(me, sameCustomer, cfg.similarity);
  return likelyDuplicates(me, candidates, cfg.similarity);
}

/**
 * At triage: record likely duplicates (same customer, similar subject, still open) on the
 * incident, for the assignment mail; and tell the group lead once about a possible outage
 * (several customers, similar subjects, a short window). Both are suggestions: people act.
 * Candidates come from the small `recent_incidents` collection, never a scan of all incidents.
 */
export async function spotRelatedIncidents(ctx: AppContext, incident: IncidentDoc): Promise<void> {
  const at = incident.triagedAt ?? ctx.now();
  const now = at.getTime();
  const cfg = ctx.plan.review;
  const me = {
    number: incident.number,
    subject: incident.subject,
    customer: incident.customer.address,
  };
  let dups = incident.duplicateOf;
  // Decided with the triage itself (see rememberForDuplicates); here only for an incident whose
  // triage was stored without them.
  if (dups === undefined || dups === null) {
    dups = await rememberForDuplicates(ctx, incident, at);
    await updateIncident(incident.number, { duplicateOf: dups });
  }
  if (dups.length)
    await appendTimeline(incident.number, {
      _id: `possible-duplicate-${incident.number}`,
      at,
      type: 'event',
      event: 'possible-duplicate',
      detail: { of: dups.map(formatIncidentId) },
    });

  const recent = await openSimilar(
    me,
    await recentlyTriaged(new Date(now - parseDuration(cfg.outages.within))),
    cfg.outages.similarity,
  );
  const cluster = possibleOutage(me, recent, cfg.outages.similarity, cfg.outages.minCustomers);
  if (!cluster) return;
  const group = incident.group ? findGroup(ctx.plan, incident.group) : undefined;
  const leadId = group?.lead ?? group?.manager;
  const lead = leadId ? findAgent(ctx.plan, leadId) : undefined;
  const first = cluster[0] as number;
  await appendTimeline(incident.number, {
    _id: `possible-outage-${incident.number}`,
    at,
    type: 'event',
    event: 'possible-outage',
    detail: { with: cluster.map(formatIncidentId), lead: lead?.id ?? null },
  });
  if (!lead) return;
  const byNumber = new Map([...recent, me].map((r) => [r.number, r]));
  // Keyed by the cluster's first incident: one suggestion per outage, however many follow.
  await queueMail(ctx, {
    id: `possible-outage-${first}`,
    kind: 'possible-outage',
    incident,
    to: lead.email,
    audience: 'staff',
    template: 'possible-outage',
    data: {
      name: lead.name,
      reports: cluster.map((n) => {
        const r = byNumber.get(n);
        return `${formatIncidentId(n)}  ${r?.customer ?? ''}  ${r?.subject ?? ''}`;
      }),
      parent: formatIncidentId(first),
      children: cluster
        .filter((n) => n !== first)
        .map(formatIncidentId)
        .join(' '),
    },
    autoSubmitted: 'auto-generated',
  });
}

/** Periodic: drop incidents older than every detection window from `recent_incidents`. */
export async function pruneRecentIncidents(ctx: AppContext): Promise<number> {
  const cfg = ctx.plan.review;
  const longest = Math.max(parseDuration(cfg.duplicates.within), parseDuration(cfg.outages.within));
  return forgetTriagedBefore(new Date(ctx.now().getTime() - longest));
}
