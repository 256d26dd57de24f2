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
import type { IncidentDoc, NewTimelineEntry } from '../store/models.js';
import type { OutboxClaim } from '../store/outbox.js';
import {
  childrenOf,
  linkChild,
  recentOpenIncidents,
  unlinkChild,
  type RecentEntry,
} from '../store/review.js';
import { changedMeanwhile, type Actor, type ChangeResult } from './outcome.js';
import { queueMail } from './mail.js';
import type { MailSpec } from '../mail/compose.js';

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

/** At most this many similar incidents per look are considered (newest first). */
const MAX_CANDIDATES = 25;

/** The recent incidents other than `me` whose subjects are similar enough (newest first). */
function similarAmong(me: SimilarityCandidate, recent: RecentEntry[], threshold: number) {
  return recent
    .filter((r) => r.number !== me.number && subjectSimilarity(me.subject, r.subject) >= threshold)
    .slice(0, MAX_CANDIDATES);
}

/** What triage finds about an incident's relatives; both are suggestions: people act. */
export interface Related {
  /** Open incidents of the same customer it likely duplicates, most similar first. */
  duplicateOf: number[];
  /** A possible outage: the open reports of several customers (first: the oldest) and a line each. */
  outage: { cluster: number[]; reports: string[] } | null;
}

/**
 * Find `incident`'s likely duplicates (same customer, similar subject, opened within
 * `review.duplicates.within` before it, still open) and a possible outage (several customers,
 * similar subjects, opened within `review.outages.within`). Called before the triage
 * decision is stored, which stores them with it. The windows are counted back from when the
 * incident was opened, so a rerun finds the same, and they reach the incidents opened after
 * it too: of two similar incidents triaged at once, each sees the other. One indexed query for
 * both looks (see recentOpenIncidents).
 */
export async function findRelated(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'number' | 'subject' | 'customer' | 'createdAt'>,
): Promise<Related> {
  const cfg = ctx.plan.review;
  const me = {
    number: incident.number,
    subject: incident.subject,
    customer: incident.customer.address.toLowerCase(),
  };
  const opened = incident.createdAt.getTime();
  const dupSince = new Date(opened - parseDuration(cfg.duplicates.within));
  const outageSince = new Date(opened - parseDuration(cfg.outages.within));
  const recent = await recentOpenIncidents(me.customer, dupSince, outageSince);
  const dupCandidates = similarAmong(
    me,
    recent.filter((r) => r.customer === me.customer && r.at >= dupSince),
    cfg.duplicates.similarity,
  );
  const outageCandidates = similarAmong(
    me,
    recent.filter((r) => r.at >= outageSince),
    cfg.outages.similarity,
  );
  const duplicateOf = likelyDuplicates(me, dupCandidates, cfg.duplicates.similarity);
  const cluster = possibleOutage(
    me,
    outageCandidates,
    cfg.outages.similarity,
    cfg.outages.minCustomers,
  );
  if (!cluster) return { duplicateOf, outage: null };
  const byNumber = new Map([...outageCandidates, me].map((r) => [r.number, r]));
  const reports = cluster.map((n) => {
    const r = byNumber.get(n);
    return `${formatIncidentId(n)}  ${r?.customer ?? ''}  ${r?.subject ?? ''}`;
  });
  return { duplicateOf, outage: { cluster, reports } };
}

/** Who hears of a possible outage in this group: its lead, else its manager. */
function outageLead(ctx: AppContext, group: string | null | undefined) {
  const planGroup = group ? findGroup(ctx.plan, group) : undefined;
  const leadId = planGroup?.lead ?? planGroup?.manager;
  return leadId ? findAgent(ctx.plan, leadId) : undefined;
}

/** The timeline entries of what `findRelated` found, written with the triage decision. */
export function relatedEntries(
  ctx: AppContext,
  number: number,
  group: string | null | undefined,
  related: Related,
  at: Date,
): NewTimelineEntry[] {
  const entries: NewTimelineEntry[] = [];
  if (related.duplicateOf.length)
    entries.push({
      _id: `possible-duplicate-${number}`,
      at,
      type: 'event',
      event: 'possible-duplicate',
      detail: { of: related.duplicateOf.map(formatIncidentId) },
    });
  if (related.outage)
    entries.push({
      _id: `possible-outage-${number}`,
      at,
      type: 'event',
      event: 'possible-outage',
      detail: {
        with: related.outage.cluster.map(formatIncidentId),
        lead: outageLead(ctx, group)?.id ?? null,
      },
    });
  return entries;
}

/**
 * Tell the group's lead about a possible outage, once per outage: keyed by the cluster's
 * first incident, however many reports follow. With a `claim`, the job suggesting it sends it
 * (see queueMail).
 */
export async function suggestOutage(
  ctx: AppContext,
  incident: IncidentDoc,
  outage: NonNullable<Related['outage']>,
  claim?: OutboxClaim,
): Promise<void> {
  const spec = outageMail(ctx, incident, outage);
  if (spec) await queueMail(ctx, spec, claim);
}

/** suggestOutage's mail (triage decides it with the incident's triage); null without a lead. */
export function outageMail(
  ctx: AppContext,
  incident: IncidentDoc,
  outage: NonNullable<Related['outage']>,
): MailSpec | null {
  const lead = outageLead(ctx, incident.group);
  if (!lead) return null;
  const first = outage.cluster[0] as number;
  return {
    id: `possible-outage-${first}`,
    kind: 'possible-outage',
    incident,
    to: lead.email,
    audience: 'staff',
    template: 'possible-outage',
    data: {
      name: lead.name,
      reports: outage.reports,
      parent: formatIncidentId(first),
      children: outage.cluster
        .filter((n) => n !== first)
        .map(formatIncidentId)
        .join(' '),
    },
    autoSubmitted: 'auto-generated',
  };
}
