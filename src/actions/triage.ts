/** Classification and routing of a new incident, then SLA clocks and assignment. */
import { domainOf } from '../domain/address.js';
import type { AppContext } from '../context.js';
import { classify, customerTier } from '../domain/classify.js';
import { mailboxFor } from '../config.js';
import { route } from '../domain/routing.js';
import { jobIds } from '../queues.js';
import { attachmentsOf } from '../store/attachments.js';
import {
  appendTimeline,
  findIncident,
  openingMessage,
  updateIncident,
} from '../store/incidents.js';
import { rememberForDuplicates, spotRelatedIncidents } from './links.js';
import { queueIndex } from './search.js';
import { attachPlaybookTo } from './playbook.js';
import { announce } from './protocols.js';
import { firstSlaCheck, nextProtocolCheck, scheduleSlaCheck, startClocks } from './clocks.js';

/**
 * Idempotent in steps: the decision is stored once (guarded on status `new`); everything
 * after it (timeline, timer, assignment job) is keyed so a retry completes what a crash cut.
 */
export async function triageIncident(ctx: AppContext, number: number): Promise<void> {
  let incident = await findIncident(number);
  if (!incident) return;
  if (incident.status === 'new') {
    const opening = await openingMessage(incident);
    const sender = incident.customer.address;
    const senderDomain = domainOf(sender);
    const tier = customerTier(ctx.plan, sender);
    const attachments = await attachmentsOf(opening?.attachmentIds ?? []);
    // The mailbox it came in by: its category when no rule names one, its group always.
    const box = mailboxFor(ctx.config, incident.mailbox);
    const { classification } = ctx.plan;
    const rules = box.category
      ? { ...classification, defaults: { ...classification.defaults, category: box.category } }
      : classification;
    const c = classify(rules, ctx.plan.matrix, {
      subject: incident.subject,
      body: opening?.text ?? '',
      sender,
      senderDomain,
      tier,
      attachmentNames: attachments.map((a) => a.filename ?? ''),
    });
    const routed = box.group
      ? { group: box.group, rule: `mailbox ${box.supportAddress}` }
      : ctx.plan.routing
        ? route(ctx.plan.routing, {
            category: c.category,
            priority: c.priority,
            tier,
            senderDomain,
          })
        : null;
    const now = ctx.now();
    const clocks = startClocks(ctx, c.priority, now);
    const sla = { ...clocks, escalationLevel: 0 };
    const group = routed?.group;
    // One write for the whole decision: classification, route, clocks, the SLA sweep's first
    // look and the likely duplicates.
    const duplicateOf = await rememberForDuplicates(ctx, incident, now);
    const decided = await updateIncident(
      number,
      {
        status: 'triaged',
        category: c.category,
        impact: c.impact,
        urgency: c.urgency,
        priority: c.priority,
        skills: c.skills,
        group,
        'customer.tier': tier,
        triagedAt: now,
        triage: { rules: c.fired, routing: routed?.rule ?? null, plan: ctx.plan.fingerprint },
        sla,
        slaCheckAt: firstSlaCheck(ctx, { ...incident, group, sla }, clocks, now),
        protocolCheckAt: nextProtocolCheck(
          ctx,
          { ...incident, ...c, status: 'triaged', triagedAt: now },
          now,
        ),
        duplicateOf,
      },
      { onlyIf: ['new'] },
    );
    if (!decided) return triageIncident(ctx, number);
    await scheduleSlaCheck(ctx, number, decided.slaCheckAt ?? null);
    incident = decided;
  } else if (incident.status === 'triaged') {
    await scheduleSlaCheck(ctx, number, incident.slaCheckAt ?? null);
  } else {
    return;
  }
  await appendTimeline(number, {
    _id: `triaged-${number}`,
    at: incident.triagedAt ?? ctx.now(),
    type: 'event',
    event: 'triaged',
    detail: {
      category: incident.category,
      impact: incident.impact,
      urgency: incident.urgency,
      priority: incident.priority,
      rules: incident.triage?.rules ?? [],
      group: incident.group ?? null,
      routing: incident.triage?.routing ?? null,
      plan: incident.triage?.plan,
    },
  });
  await queueIndex(ctx, { kind: 'incident', id: number }, 'triaged');
  // Before assignment, so the agent's mail carries the playbook and names likely duplicates.
  await attachPlaybookTo(ctx, incident);
  await spotRelatedIncidents(ctx, incident);
  if (incident.group) {
    await ctx.queues.assign.add(
      'assign',
      { incident: number, cause: 'triage' },
      { jobId: jobIds.assign(number, 'triage') },
    );
  }
  // After assignment is queued, so no protocol can hold it up. Each message is keyed: a retry
  // sends nothing twice, and the SLA sweep replays the opening if this never got to run.
  await announce(ctx, incident, { kind: 'opened' });
}
