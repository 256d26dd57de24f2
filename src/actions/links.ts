/**
 * Links between incidents: likely duplicates and possible outages spotted at triage, and the
 * manual grouping of an outage's reports under a parent (resolution then follows the parent:
 * see resolveIncident). Email commands and the CLI both come here.
 */
import type { AppContext } from '../context.js';
import { parseDuration } from '../domain/duration.js';
import { groupingProblem } from '../domain/links.js';
import { likelyDuplicates, possibleOutage } from '../domain/similarity.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent, findGroup } from '../plan/load.js';
import { appendTimeline, findIncident, updateIncident } from '../store/incidents.js';
import type { IncidentDoc } from '../store/models.js';
import { linkChild, OPEN_STATUSES, recentOpenIncidents } from '../store/review.js';
import type { Actor, ChangeResult } from './changes.js';
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
    if (!linked) return { ok: false, reason: 'the incident changed meanwhile; try again' };
  }
  // Repeated on a retry: the link and both timeline entries are idempotent.
  const at = ctx.now();
  await linkChild(parentNumber, child.number, at, actor.by);
  for (const [n, event, other] of [
    [child.number, 'grouped-under', parentNumber],
    [parentNumber, 'grouped-child', child.number],
  ] as const) {
    await appendTimeline(n, {
      _id: `${event}-${n}-${other}`,
      at,
      type: 'event',
      event,
      detail: { incident: formatIncidentId(other), number: other, by: actor.by },
    });
  }
  return { ok: true, done: `grouped under ${p}; resolving ${p} resolves this one too` };
}

/**
 * At triage: record likely duplicates (same customer, similar subject, still open) on the
 * incident, for the assignment mail; and tell the group lead once about a possible outage
 * (several customers, similar subjects, a short window). Both are suggestions: people act.
 */
export async function spotRelatedIncidents(ctx: AppContext, incident: IncidentDoc): Promise<void> {
  const now = ctx.now().getTime();
  const cfg = ctx.plan.review;
  const me = {
    number: incident.number,
    subject: incident.subject,
    customer: incident.customer.address,
  };
  const asCandidates = (rows: Awaited<ReturnType<typeof recentOpenIncidents>>) =>
    rows.map((r) => ({ number: r.number, subject: r.subject, customer: r.customer.address }));

  if (incident.duplicateOf === undefined || incident.duplicateOf === null) {
    const sameCustomer = await recentOpenIncidents(
      new Date(now - parseDuration(cfg.duplicates.within)),
      incident.customer.address,
    );
    const dups = likelyDuplicates(me, asCandidates(sameCustomer), cfg.duplicates.similarity);
    await updateIncident(incident.number, { duplicateOf: dups });
    if (dups.length)
      await appendTimeline(incident.number, {
        _id: `possible-duplicate-${incident.number}`,
        at: new Date(now),
        type: 'event',
        event: 'possible-duplicate',
        detail: { of: dups.map(formatIncidentId) },
      });
  }

  const recent = await recentOpenIncidents(new Date(now - parseDuration(cfg.outages.within)));
  const cluster = possibleOutage(
    me,
    asCandidates(recent),
    cfg.outages.similarity,
    cfg.outages.minCustomers,
  );
  if (!cluster) return;
  const group = incident.group ? findGroup(ctx.plan, incident.group) : undefined;
  const leadId = group?.lead ?? group?.manager;
  const lead = leadId ? findAgent(ctx.plan, leadId) : undefined;
  const first = cluster[0] as number;
  await appendTimeline(incident.number, {
    _id: `possible-outage-${incident.number}`,
    at: new Date(now),
    type: 'event',
    event: 'possible-outage',
    detail: { with: cluster.map(formatIncidentId), lead: lead?.id ?? null },
  });
  if (!lead) return;
  const byNumber = new Map(recent.map((r) => [r.number, r]));
  byNumber.set(incident.number, incident);
  // Keyed by the cluster's first incident: one suggestion per outage, however many follow.
  await queueMail(ctx, {
    id: `possible-outage-${first}`,
    kind: 'possible-outage',
    incident,
    to: lead.email,
    subject: `Possible outage: ${cluster.length} similar reports (${incident.subject})`,
    template: 'possible-outage',
    data: {
      name: lead.name,
      reports: cluster.map((n) => {
        const r = byNumber.get(n);
        return `${formatIncidentId(n)}  ${r?.customer.address ?? ''}  ${r?.subject ?? ''}`;
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
