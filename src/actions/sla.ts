/**
 * SLA warnings, breaches and escalation (the clocks themselves: ./clocks.ts). Timers are
 * BullMQ delayed jobs, but the truth is `slaCheckAt` on the incident: the periodic sweep finds
 * every incident whose check is due, so a lost timer (worker down, Redis flushed) delays an
 * escalation by at most one sweep interval, never forever.
 */
import type { AppContext } from '../context.js';
import { escalationRecipient, type ClockName } from '../domain/escalation.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent, findGroup } from '../plan/load.js';
import type { EscalationStep } from '../plan/schema.js';
import {
  appendTimeline,
  findIncident,
  incidentsDueForSlaCheck,
  updateIncident,
} from '../store/incidents.js';
import type { IncidentDoc } from '../store/models.js';
import { transferIncident } from './changes.js';
import { clocksOf, escalationChain, nextCheck, scheduleSlaCheck } from './clocks.js';
import { queueMail } from './mail.js';
import { retryIfRaced } from './outcome.js';

/** How many incidents one sweep reviews; the next sweep takes the rest. */
const SWEEP_BATCH = 500;

/** Review one incident: warn, record breaches, escalate one step, and schedule the next look. */
export async function reviewIncidentSla(ctx: AppContext, number: number): Promise<void> {
  const incident = await findIncident(number);
  if (!incident) return;
  const now = ctx.now();
  if (!incident.sla || ['resolved', 'closed'].includes(incident.status)) {
    if (incident.slaCheckAt) await updateIncident(number, { slaCheckAt: null });
    return;
  }
  // An escalation whose level was stored but whose step was cut off by a crash: finish it.
  const level = incident.sla.escalationLevel ?? 0;
  const unfinished =
    level > (incident.sla.notifiedLevel ?? 0)
      ? escalationChain(ctx, incident)[level - 1]
      : undefined;
  if (unfinished)
    await escalate(ctx, incident, unfinished, level, 'SLA breached (completed after a restart)');
  const review = nextCheck(ctx, incident, clocksOf(incident), now);
  const set: Record<string, unknown> = {};
  const log = ctx.log.child({ component: 'sla', incident: number });
  for (const action of review.actions) {
    if (action.kind === 'warn') {
      set[`sla.${action.clock}.warnedAt`] = now;
      await warnAssignee(ctx, incident, action.clock, action.dueAt);
    } else if (action.kind === 'breach') {
      set[`sla.${action.clock}.breachedAt`] = now;
      await appendTimeline(number, {
        _id: `breach-${number}-${action.clock}-${action.dueAt.getTime()}`,
        at: now,
        type: 'event',
        event: 'sla-breached',
        detail: {
          clock: action.clock,
          dueAt: action.dueAt,
          priority: incident.priority,
          plan: ctx.plan.fingerprint,
        },
      });
      log.warn({ clock: action.clock }, 'SLA breached');
    }
  }
  const escalation = review.actions.find((a) => a.kind === 'escalate');
  if (escalation) {
    set['sla.escalationLevel'] = escalation.level;
    set['sla.lastEscalatedAt'] = now;
  }
  // Until the escalation step has run, keep the incident due, so a crash in between is repaired.
  set.slaCheckAt = escalation ? now : review.nextCheckAt;
  // Conditional on the level we reviewed: of two concurrent reviews, one escalates.
  let updated = await updateIncident(number, set, { where: { 'sla.escalationLevel': level } });
  if (!updated) return;
  if (escalation) {
    await escalate(ctx, updated, escalation.step, escalation.level, 'SLA breached');
    updated = (await updateIncident(number, { slaCheckAt: review.nextCheckAt })) ?? updated;
  }
  await scheduleSlaCheck(ctx, number, updated.slaCheckAt ?? null);
}

/**
 * Carry out one escalation step (from the SLA review or an agent's #escalate), then mark the
 * level done. Every effect is keyed by the level, so running a step twice does it once.
 */
export async function escalate(
  ctx: AppContext,
  incident: IncidentDoc,
  step: EscalationStep,
  level: number,
  reason: string,
): Promise<{ skipped?: string }> {
  const done = await runEscalationStep(ctx, incident, step, level, reason);
  await updateIncident(incident.number, { 'sla.notifiedLevel': level });
  return done;
}

async function runEscalationStep(
  ctx: AppContext,
  incident: IncidentDoc,
  step: EscalationStep,
  level: number,
  reason: string,
): Promise<{ skipped?: string }> {
  const now = ctx.now();
  const group = incident.group ? findGroup(ctx.plan, incident.group) : undefined;
  const id = `escalated-${incident.number}-${level}`;
  if (typeof step === 'object') {
    await appendTimeline(incident.number, {
      _id: id,
      at: now,
      type: 'event',
      event: 'escalated',
      detail: { level, step: `transfer to ${step.transfer}`, reason, plan: ctx.plan.fingerprint },
    });
    // A lost race throws: the level stays unfinished, and the next review completes it.
    retryIfRaced(
      await transferIncident(ctx, incident, step.transfer, {
        by: 'escalation',
        cause: `escalate-${level}`,
      }),
    );
    return {};
  }
  const recipient = escalationRecipient(step, group, incident.assignee);
  const agent = recipient.to ? findAgent(ctx.plan, recipient.to) : undefined;
  await appendTimeline(incident.number, {
    _id: id,
    at: now,
    type: 'event',
    event: 'escalated',
    detail: {
      level,
      step,
      to: agent?.id ?? null,
      reason,
      plan: ctx.plan.fingerprint,
      ...(recipient.skipped ? { skipped: recipient.skipped } : {}),
    },
  });
  if (!agent) return { skipped: recipient.skipped };
  await queueMail(ctx, {
    id: `escalation-${incident.number}-${level}`,
    kind: 'escalation',
    incident,
    to: agent.email,
    audience: 'staff',
    template: 'escalation',
    data: {
      name: agent.name,
      role: recipient.role,
      reason,
      level,
      priority: incident.priority ?? '-',
      group: group?.name ?? incident.group ?? '-',
      assignee: incident.assignee ?? 'nobody',
      customer: incident.customer.address,
      status: incident.status,
    },
    autoSubmitted: 'auto-generated',
  });
  return { skipped: recipient.skipped };
}

async function warnAssignee(ctx: AppContext, incident: IncidentDoc, clock: ClockName, due: Date) {
  const agent = incident.assignee ? findAgent(ctx.plan, incident.assignee) : undefined;
  if (!agent) return;
  await queueMail(ctx, {
    id: `sla-warning-${incident.number}-${clock}-${due.getTime()}`,
    kind: 'sla-warning',
    incident,
    to: agent.email,
    audience: 'staff',
    template: 'sla-warning',
    data: {
      name: agent.name,
      target: clock === 'firstResponse' ? 'first response' : 'resolution',
      dueAt: due,
      priority: incident.priority ?? '-',
    },
    autoSubmitted: 'auto-generated',
  });
}

/**
 * The periodic sweep: review every incident whose check is due. Returns how many. One
 * incident that fails does not hold up the others; the sweep then fails, to be run again.
 */
export async function sweepSla(ctx: AppContext): Promise<number> {
  const due = await incidentsDueForSlaCheck(ctx.now(), SWEEP_BATCH);
  const failed: number[] = [];
  for (const number of due) {
    try {
      await reviewIncidentSla(ctx, number);
    } catch (err) {
      failed.push(number);
      ctx.log.warn({ component: 'sla', incident: number, err }, 'SLA review failed');
    }
  }
  if (failed.length)
    throw new Error(`SLA review failed for ${failed.map(formatIncidentId).join(', ')}`);
  return due.length;
}
