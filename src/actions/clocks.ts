/**
 * SLA clocks as stored on an incident: started at triage, paused, resumed, stopped and
 * retargeted by changes, and the next moments the sweep must look at the incident (its SLA,
 * and the interval messages of its communication protocols).
 */
import type { AppContext } from '../context.js';
import type { BusinessCalendar } from '../domain/business-time.js';
import { parseDuration } from '../domain/duration.js';
import {
  groupCalendar,
  groupEscalationChain,
  retargetClock,
  reviewSla,
  slaCheckAfterChange,
  slaTargets,
  type ClockName,
  type SlaState,
} from '../domain/escalation.js';
import { PROTOCOL_REPLAY_GRACE_MS } from '../constants.js';
import { nextIntervalAt, owesMessagesAt, rescheduledCheckAt } from '../domain/protocols.js';
import { pauseClock, resumeClock, startClock, stopClock, type SlaClock } from '../domain/sla.js';
import type { EscalationStep, EventMoment, Priority } from '../plan/schema.js';
import { jobIds } from '../queues.js';
import { updateIncident } from '../store/incidents.js';
import type { IncidentDoc, SlaClockDoc } from '../store/models.js';

export function calendarOf(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'group'>,
): BusinessCalendar {
  return groupCalendar(ctx.plan, incident.group);
}

export function escalationChain(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'group'>,
): readonly EscalationStep[] {
  return groupEscalationChain(ctx.plan, incident.group);
}

const targetsFor = (ctx: AppContext, priority: Priority) => slaTargets(ctx.plan, priority);

export function clocksOf(incident: IncidentDoc): Partial<Record<ClockName, SlaClockDoc>> {
  return {
    firstResponse: incident.sla?.firstResponse ?? undefined,
    resolution: incident.sla?.resolution ?? undefined,
  };
}

/** When the sweep must look next, given clocks as they will be stored. */
export function nextCheck(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'group' | 'sla'>,
  clocks: Partial<Record<ClockName, SlaClockDoc>>,
  now: Date,
) {
  const state: SlaState = {
    clocks,
    escalationLevel: incident.sla?.escalationLevel ?? 0,
    lastEscalatedAt: incident.sla?.lastEscalatedAt,
  };
  const policy = {
    warnFraction: ctx.plan.sla.warnAt,
    repeatAfterMs: parseDuration(ctx.plan.escalation.repeatAfter),
    chain: escalationChain(ctx, incident),
  };
  return reviewSla(state, calendarOf(ctx, incident), policy, now);
}

/** When the SLA sweep must first look at an incident whose clocks have just started. */
export function firstSlaCheck(
  ctx: AppContext,
  incident: Pick<IncidentDoc, 'group' | 'sla'>,
  clocks: Partial<Record<ClockName, SlaClockDoc>>,
  now: Date,
): Date | null {
  return slaCheckAfterChange(nextCheck(ctx, incident, clocks, now), now);
}

/**
 * When the sweep must next look at an incident (as it is, or will be, stored) for the
 * interval messages of its protocols: the next period boundary after `now`, or null.
 */
export function nextProtocolCheck(
  ctx: AppContext,
  incident: Pick<
    IncidentDoc,
    'priority' | 'category' | 'status' | 'triagedAt' | 'createdAt' | 'parent'
  >,
  now: Date,
): Date | null {
  return nextIntervalAt(
    ctx.plan.communication,
    { ...incident, openedAt: incident.triagedAt ?? incident.createdAt },
    now,
  );
}

/**
 * The protocol check to store with a change of the incident (`incident` as it will be
 * stored): its next interval boundary; if the change records a moment whose messages a
 * protocol owes (opened at triage, resolved), at most the grace after it, when the sweep
 * replays the moment in case the process was killed before its messages were recorded; and
 * the look already `scheduled`, while it is still wanted (see `rescheduledCheckAt`).
 */
export function protocolCheckAfter(
  ctx: AppContext,
  incident: Parameters<typeof nextProtocolCheck>[1],
  now: Date,
  change: { scheduled?: Date | null; moment?: EventMoment },
): Date | null {
  const graceEnd = new Date(now.getTime() + PROTOCOL_REPLAY_GRACE_MS);
  const owes = change.moment && owesMessagesAt(ctx.plan.communication, incident, change.moment);
  return rescheduledCheckAt(
    change.scheduled,
    nextProtocolCheck(ctx, incident, now),
    graceEnd,
    owes ? graceEnd : null,
  );
}

export async function scheduleSlaCheck(
  ctx: AppContext,
  number: number,
  at: Date | null,
): Promise<void> {
  if (!at) return;
  const delay = Math.max(0, at.getTime() - ctx.now().getTime());
  await ctx.queues.sla.add('check', { incident: number }, { jobId: jobIds.sla(number, at), delay });
}

/** Fresh clocks for a newly prioritised incident. */
export function startClocks(ctx: AppContext, priority: Priority, at: Date) {
  const t = targetsFor(ctx, priority);
  return {
    firstResponse: startClock(at, t.firstResponse),
    resolution: startClock(at, t.resolution),
  };
}

type ClockChange = (clock: SlaClock, cal: BusinessCalendar, at: Date) => SlaClock;

export const clockChanges = {
  pause: pauseClock,
  resume: (c: SlaClock, _cal: BusinessCalendar, at: Date) => resumeClock(c, at),
  stop: stopClock,
} satisfies Record<string, ClockChange>;

/**
 * Apply clock changes (and optionally other incident changes) in one update, recompute the
 * next checks (SLA, protocols: a new priority or status may change both), and schedule them. `retarget` moves every clock to the targets of a new priority,
 * keeping the business time already consumed.
 */
export async function updateClocks(
  ctx: AppContext,
  incident: IncidentDoc,
  change: {
    firstResponse?: ClockChange;
    resolution?: ClockChange;
    retarget?: Priority;
    /** The protocol moment this change records, for the sweep's replay of it. */
    moment?: EventMoment;
  },
  extra: Record<string, unknown> = {},
  /** Apply only while the incident is still in one of these statuses (null when it is not). */
  onlyIf?: readonly IncidentDoc['status'][],
): Promise<IncidentDoc | null> {
  const now = ctx.now();
  const cal = calendarOf(ctx, incident);
  const clocks = clocksOf(incident);
  const targets = change.retarget ? targetsFor(ctx, change.retarget) : undefined;
  const set: Record<string, unknown> = { ...extra };
  for (const name of ['firstResponse', 'resolution'] as const) {
    let clock = clocks[name];
    if (!clock) continue;
    const fn = change[name];
    if (fn) clock = { ...clock, ...fn(clock, cal, now) };
    if (targets) clock = retargetClock(clock, targets[name]);
    clocks[name] = clock;
    set[`sla.${name}`] = clock;
  }
  const changed = { ...incident, ...(extra as Partial<IncidentDoc>) };
  set.slaCheckAt = slaCheckAfterChange(nextCheck(ctx, changed, clocks, now), now);
  set.protocolCheckAt = protocolCheckAfter(ctx, changed, now, {
    scheduled: incident.protocolCheckAt,
    moment: change.moment,
  });
  const updated = await updateIncident(incident.number, set, onlyIf ? { onlyIf } : {});
  if (updated) await scheduleSlaCheck(ctx, incident.number, updated.slaCheckAt ?? null);
  return updated;
}
