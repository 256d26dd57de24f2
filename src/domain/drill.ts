/**
 * Table-top drills: a scenario's incidents run through the plan on a simulated clock, minute
 * by minute, with the very decisions the workers make (classify, route, assign, SLA review and
 * escalation, playbooks), and the plan's gaps named as findings. Pure: the CLI
 * (src/cli/drill.ts) reads the plan, the agents' open incidents and the round-robin pointers,
 * and stores the run; nothing here sends mail or touches an incident.
 */
import { domainOf } from './address.js';
import type { Plan, PlanGroup, Priority } from '../plan/schema.js';
import type { Scenario, ScenarioEvent, ScenarioIncident } from '../plan/scenario.js';
import { candidatesOf, chooseAssignee, isAvailable } from './assignment.js';
import { classify, customerTier, priorityFor } from './classify.js';
import { parseDuration } from './duration.js';
import {
  escalationRecipient,
  groupCalendar,
  groupEscalationChain,
  retargetClock,
  reviewSla,
  slaTargets,
  type ClockName,
  type TrackedClock,
} from './escalation.js';
import {
  isOverdue,
  playbookFor,
  playbookProblems,
  stepOwnerId,
  stepReminderDue,
  type IncidentStep,
} from './playbook.js';
import {
  protocolGaps,
  protocolMessagesDue,
  recipientAddresses,
  type DueMessage,
  type Moment,
} from './protocols.js';
import { route } from './routing.js';
import { startClock, stopClock } from './sla.js';

const MINUTE_MS = 60_000;

/** Who is busy when the drill starts: open incidents per agent, round-robin pointers. */
export interface Staffing {
  open: Readonly<Record<string, number>>;
  lastAssigned: Readonly<Record<string, string>>;
}

/** A mail incidesk would send at that moment (none is sent: `--mail-to` sends copies). */
export interface DrillMessage {
  /** The template the real mail is rendered from. */
  template: string;
  /** Who would receive it; `recipients` counts them when they are more than listed. */
  to: string[];
  recipients: number;
}

export interface DrillEntry {
  minute: number;
  /** The scenario's incident id. */
  incident: string;
  event: string;
  text: string;
  message?: DrillMessage;
}

export const FINDING_KINDS = [
  'no-playbook',
  'empty-role',
  'nobody-available',
  'escalation-to-empty-group',
  'told-nobody',
  'protocol-gap',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** A gap in the plan, found by looking at it or by running the scenario through it. */
export interface Finding {
  kind: FindingKind;
  /** What it is about: a category, a group, an incident of the scenario. */
  subject: string;
  text: string;
}

export interface DrillIncidentOutcome {
  incident: string;
  category: string;
  priority: Priority;
  group: string | null;
  assignee: string | null;
  resolvedAtMinute: number | null;
  breaches: ClockName[];
  escalationLevel: number;
}

export interface DrillRun {
  scenario: string;
  plan: string;
  start: Date;
  /** The last simulated minute. */
  minutes: number;
  entries: DrillEntry[];
  findings: Finding[];
  incidents: DrillIncidentOutcome[];
}

interface SimStep extends IncidentStep {
  remindedSlot: number | null;
  overdueSeen: boolean;
}

interface SimIncident {
  id: string;
  /** Its place in the scenario, from 1: the number protocol message keys carry. */
  number: number;
  openedAt: Date;
  priorityChanges: number;
  /** Keys of the protocol messages it was sent (src/domain/protocols.ts): each goes once. */
  told: Set<string>;
  def: ScenarioIncident;
  category: string;
  skills: string[];
  priority: Priority;
  group: string | null;
  assignee: string | null;
  /** Nobody could take it: waiting for someone to become available (told once). */
  waiting: boolean;
  resolvedAtMinute: number | null;
  clocks: Record<ClockName, TrackedClock>;
  escalationLevel: number;
  lastEscalatedAt: Date | null;
  steps: SimStep[];
}

const groupOf = (plan: Plan, id: string | null) =>
  id ? plan.groups.find((g) => g.id === id) : undefined;
const membersOf = (plan: Plan, group: string) =>
  plan.agents.filter((a) => a.groups.includes(group));
const emailOf = (plan: Plan, agent: string | null | undefined) =>
  agent ? plan.agents.find((a) => a.id === agent)?.email : undefined;
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * Gaps visible in the plan itself, whatever the scenario. `templates`: the template names of
 * the plan's default locale, to check the protocols' templates against (unset: not checked).
 */
export function planGaps(
  plan: Plan,
  staffing: Staffing,
  templates?: ReadonlySet<string>,
): Finding[] {
  const named = plan.communication.protocols.flatMap((p) => p.messages.map((m) => m.template));
  const findings: Finding[] = protocolGaps(plan, templates ?? new Set(named)).map((text) => ({
    kind: 'protocol-gap',
    subject: text,
    text,
  }));
  const open = (a: string) => staffing.open[a] ?? 0;
  const nobodyAvailable = (g: string) => !candidatesOf(membersOf(plan, g), open).some(isAvailable);
  for (const g of plan.groups) {
    if (nobodyAvailable(g.id))
      findings.push({
        kind: 'nobody-available',
        subject: `group ${g.id}`,
        text: `nobody in group ${g.id} can take an incident now (every member away or at maxOpen)`,
      });
    if (!g.lead && !g.manager)
      findings.push({
        kind: 'empty-role',
        subject: `group ${g.id}`,
        text: `group ${g.id} has neither lead nor manager: when nobody can take an incident, nobody is told`,
      });
    const chain = groupEscalationChain(plan, g.id);
    chain.forEach((step, k) => {
      const where = `group ${g.id}'s escalation step ${k + 1}`;
      if (typeof step === 'object') {
        if (nobodyAvailable(step.transfer))
          findings.push({
            kind: 'escalation-to-empty-group',
            subject: `group ${g.id}`,
            text: `${where} transfers to group ${step.transfer}, where nobody can take an incident now`,
          });
      } else if (!g[step])
        findings.push({
          kind: 'empty-role',
          subject: `group ${g.id}`,
          text: `${where} tells the ${step}, and group ${g.id} has no ${step}`,
        });
    });
  }
  return findings;
}

/**
 * Run `scenario` through `plan` from `start`, a minute at a time, until every incident is
 * resolved after the last scripted event, or the scenario's duration is over. Each minute:
 * arrivals, then scripted events, then per open incident what the workers would do (retry an
 * assignment, review the SLA clocks, chase overdue playbook steps).
 */
export function runDrill(
  plan: Plan,
  scenario: Scenario,
  staffing: Staffing,
  start: Date,
  /** The default locale's templates, for the protocols (see planGaps). */
  templates?: ReadonlySet<string>,
): DrillRun {
  const entries: DrillEntry[] = [];
  const findings: Finding[] = planGaps(plan, staffing, templates);
  const open = new Map(Object.entries(staffing.open));
  const lastAssigned = new Map(Object.entries(staffing.lastAssigned));
  const silent = new Set<string>();
  const incidents: SimIncident[] = [];
  const repeatAfterMs = parseDuration(plan.escalation.repeatAfter);
  const remindEveryMs = parseDuration(plan.playbooks.remindEvery);
  let minute = 0;
  const at = (m: number) => new Date(start.getTime() + m * MINUTE_MS);

  const find = (kind: FindingKind, subject: string, text: string) => {
    if (!findings.some((f) => f.kind === kind && f.subject === subject))
      findings.push({ kind, subject, text });
  };
  const log = (s: { id: string }, event: string, text: string, message?: DrillMessage) => {
    entries.push({ minute, incident: s.id, event, text, ...(message ? { message } : {}) });
  };
  const tell = (template: string, to: string[], recipients = to.length): DrillMessage => ({
    template,
    to,
    recipients,
  });

  function assign(s: SimIncident, cause: string) {
    const group = groupOf(plan, s.group);
    if (!group) {
      if (!s.waiting) log(s, 'unassigned', 'no group: the plan has no routing');
      s.waiting = true;
      return;
    }
    const choice = chooseAssignee({
      strategy: group.assignment,
      candidates: candidatesOf(
        membersOf(plan, group.id),
        (a) => open.get(a) ?? 0,
        (a) => silent.has(a),
      ),
      lastAssigned: lastAssigned.get(group.id),
      requiredSkills: s.skills,
    });
    if (!choice.agent) {
      if (s.waiting) return;
      s.waiting = true;
      const lead = group.lead ?? group.manager;
      const to = emailOf(plan, lead);
      log(
        s,
        'unassigned',
        `nobody in ${group.id} can take it (${choice.reason}); ${to ? `${lead} is asked to assign it` : 'nobody is told'}`,
        to ? tell('unassigned', [to]) : undefined,
      );
      find(
        'nobody-available',
        `group ${group.id}`,
        `${s.id}: nobody in group ${group.id} could take it`,
      );
      return;
    }
    s.assignee = choice.agent;
    s.waiting = false;
    open.set(choice.agent, (open.get(choice.agent) ?? 0) + 1);
    lastAssigned.set(group.id, choice.agent);
    const steps = s.steps.length ? `, with the playbook (${plural(s.steps.length, 'step')})` : '';
    log(
      s,
      'assigned',
      `${choice.agent} in ${group.id} (${group.assignment}: ${choice.reason}; ${cause})${steps}`,
      tell('assignment', [emailOf(plan, choice.agent)!]),
    );
  }

  /** The assignee has one incident fewer open (resolved, or transferred away from them). */
  function release(s: SimIncident) {
    if (s.assignee) open.set(s.assignee, Math.max(0, (open.get(s.assignee) ?? 1) - 1));
  }

  function arrive(def: ScenarioIncident) {
    const sender = def.from.toLowerCase();
    const senderDomain = domainOf(sender).toLowerCase();
    const tier = customerTier(plan, sender);
    const c = classify(plan.classification, plan.matrix, {
      subject: def.subject,
      body: def.body,
      sender,
      senderDomain,
      tier,
      attachmentNames: def.attachments,
    });
    const category = def.category ?? c.category;
    const impact = def.impact ?? c.impact;
    const urgency = def.urgency ?? c.urgency;
    const priority = priorityFor(plan.matrix, impact, urgency);
    const now = at(minute);
    const t = slaTargets(plan, priority);
    const s: SimIncident = {
      id: def.id,
      number: incidents.length + 1,
      openedAt: now,
      priorityChanges: 0,
      told: new Set(),
      def,
      category,
      skills: c.skills,
      priority,
      group: null,
      assignee: null,
      waiting: false,
      resolvedAtMinute: null,
      clocks: {
        firstResponse: startClock(now, t.firstResponse),
        resolution: startClock(now, t.resolution),
      },
      escalationLevel: 0,
      lastEscalatedAt: null,
      steps: playbookFor(plan.playbooks.categories, category, now).map((x) => ({
        ...x,
        remindedSlot: null,
        overdueSeen: false,
      })),
    };
    incidents.push(s);
    const reporters = def.reporters;
    log(
      s,
      'opened',
      `"${def.subject}" from ${sender}${reporters > 1 ? ` and ${reporters - 1} other customers` : ''}`,
      tell('acknowledgement', [sender], reporters),
    );
    const given = [def.category && 'category', def.impact && 'impact', def.urgency && 'urgency'];
    const set = given.filter(Boolean);
    log(
      s,
      'classified',
      `${category}, impact ${impact}, urgency ${urgency}: ${priority} (rules: ${c.fired.join(', ') || 'none, defaults'}${set.length ? `; ${set.join(', ')} set by the scenario` : ''})`,
    );
    if (plan.routing) {
      const r = route(plan.routing, { category, priority, tier, senderDomain });
      s.group = r.group;
      log(s, 'routed', `to ${r.group} (rule ${r.rule})`);
    }
    const { minCustomers, within } = plan.review.outages;
    if (reporters >= minCustomers) {
      const group = groupOf(plan, s.group);
      const lead = group?.lead ?? group?.manager;
      const to = emailOf(plan, lead);
      log(
        s,
        'outage',
        `${reporters} customers within ${within} (at least ${minCustomers}): a possible outage; ${to ? `${lead} is asked to group the reports` : 'nobody is told'}`,
        to ? tell('possible-outage', [to]) : undefined,
      );
    }
    if (s.steps.length)
      log(
        s,
        'playbook',
        s.steps
          .map(
            (x) =>
              `${x.step}. [${x.phase}] ${x.title} (${x.owner}${x.dueAt ? `, due +${Math.round((x.dueAt.getTime() - start.getTime()) / MINUTE_MS)}m` : ''}${x.mandatory ? ', mandatory' : ''})`,
          )
          .join('; '),
      );
    else {
      log(s, 'playbook', `none: the plan has no playbook for category ${category}`);
      find('no-playbook', `category ${category}`, `category ${category} has no playbook (${s.id})`);
    }
    assign(s, 'triage');
    inform(s, { kind: 'opened' });
  }

  /** What the plan's communication protocols owe at this moment: one entry per message. */
  function inform(s: SimIncident, moment: Moment) {
    const due = protocolMessagesDue(
      plan.communication,
      {
        number: s.number,
        priority: s.priority,
        category: s.category,
        status: s.resolvedAtMinute === null ? 'assigned' : 'resolved',
        openedAt: s.openedAt,
        reporters: [{ number: s.number, address: s.def.from.toLowerCase() }],
      },
      moment,
      plan.locale,
    ).filter((m) => !s.told.has(m.key));
    const messages = new Map<string, DueMessage[]>();
    for (const m of due) {
      s.told.add(m.key);
      const k = `${m.protocol}/${m.template}/${m.occurrence}`;
      messages.set(k, [...(messages.get(k) ?? []), m]);
    }
    for (const recipients of messages.values()) {
      const m = recipients[0]!;
      const to: string[] = [];
      const nobody: string[] = [];
      for (const r of recipients) {
        const addresses = recipientAddresses(r.recipient, s, plan);
        if (addresses.length === 0 && r.recipient.kind === 'role') nobody.push(r.recipient.role);
        to.push(...addresses.filter((a) => !to.includes(a)));
      }
      // The reporters beyond the first are not named by the scenario, only counted.
      const others = recipients.some((r) => r.recipient.kind === 'customer')
        ? s.def.reporters - 1
        : 0;
      log(
        s,
        'protocol',
        `${m.protocol}: ${m.template} (${m.audience}, ${m.moment === 'interval' ? `update #${m.occurrence}` : m.moment})${m.approval ? `, held until the ${m.approval} approves it` : ''}${nobody.length ? `; nobody is the ${nobody.join(' or ')}` : ''}`,
        to.length ? tell(m.template, to, to.length + others) : undefined,
      );
      for (const role of nobody)
        find(
          'told-nobody',
          `protocol ${m.protocol} ${role}`,
          `${s.id}: protocol ${m.protocol} tells the ${role}, and nobody was the ${role}`,
        );
    }
  }

  function act(e: ScenarioEvent) {
    const s = incidents.find((x) => x.id === (e.incident ?? scenario.incidents[0]!.id))!;
    const now = at(minute);
    const cal = groupCalendar(plan, s.group);
    if (s.resolvedAtMinute !== null) {
      log(s, 'ignored', `${e.do ?? `priority ${e.priority}`}: the incident is resolved`);
      return;
    }
    if (e.priority) {
      const t = slaTargets(plan, e.priority);
      for (const name of ['firstResponse', 'resolution'] as const)
        s.clocks[name] = retargetClock(s.clocks[name], t[name]);
      log(s, 'reprioritised', `${s.priority} → ${e.priority}: SLA targets follow`);
      const from = s.priority;
      s.priority = e.priority;
      s.priorityChanges += 1;
      inform(s, { kind: 'priority-changed', from, occurrence: s.priorityChanges });
      return;
    }
    switch (e.do) {
      case 'respond':
        s.clocks.firstResponse = stopClock(s.clocks.firstResponse, cal, now);
        log(s, 'responded', `${s.assignee ?? 'an agent'} answers the customer: first response met`);
        return;
      case 'done':
      case 'skip': {
        const step = s.steps.find((x) => x.step === e.step);
        if (!step) log(s, 'ignored', `${e.do} ${e.step}: no such playbook step`);
        else if (step.state !== 'open')
          log(s, 'ignored', `${e.do} ${e.step}: already ${step.state}`);
        else {
          step.state = e.do === 'done' ? 'done' : 'skipped';
          log(
            s,
            `step-${step.state}`,
            `${step.step}. ${step.title}${e.reason ? ` (${e.reason})` : ''}`,
          );
        }
        return;
      }
      case 'resolve': {
        const gate = playbookProblems({
          priority: s.priority,
          requiredFor: plan.playbooks.requiredFor,
          steps: s.steps,
        });
        if (gate.length) {
          log(s, 'resolve-refused', gate.join('; '));
          return;
        }
        for (const name of ['firstResponse', 'resolution'] as const)
          s.clocks[name] = stopClock(s.clocks[name], cal, now);
        s.resolvedAtMinute = minute;
        log(
          s,
          'resolved',
          `by ${s.assignee ?? 'nobody'}`,
          tell('resolved', [s.def.from], s.def.reporters),
        );
        release(s);
        inform(s, { kind: 'resolved' });
        return;
      }
      case 'nobody-answers': {
        const group = e.group ?? s.group;
        const members = group ? membersOf(plan, group) : [];
        for (const a of members) silent.add(a.id);
        log(
          s,
          'nobody-answers',
          `from now on nobody in ${group ?? '(no group)'} answers: ${members.map((a) => a.id).join(', ') || 'nobody to silence'}`,
        );
        return;
      }
      default:
        return;
    }
  }

  function escalate(
    s: SimIncident,
    step: ReturnType<typeof groupEscalationChain>[number],
    level: number,
  ) {
    if (typeof step === 'object') {
      const from = s.group;
      release(s);
      s.assignee = null;
      s.group = step.transfer;
      s.waiting = false;
      log(s, 'escalated', `level ${level}: transfer from ${from} to ${step.transfer}`);
      assign(s, `escalate-${level}`);
      if (!s.assignee)
        find(
          'escalation-to-empty-group',
          `group ${from}`,
          `${s.id}: the escalation of group ${from} transferred it to ${step.transfer}, where nobody could take it`,
        );
      return;
    }
    const group = groupOf(plan, s.group) as PlanGroup | undefined;
    const r = escalationRecipient(step, group, s.assignee);
    const to = emailOf(plan, r.to);
    if (to) {
      log(
        s,
        'escalated',
        `level ${level}: ${r.role} ${r.to} is told${r.skipped ? ` (${r.skipped})` : ''}`,
        tell('escalation', [to]),
      );
      return;
    }
    log(
      s,
      'escalated',
      `level ${level}: ${step}: ${r.skipped ?? `group ${s.group} has no ${step}`}; nobody is told`,
    );
    find(
      'told-nobody',
      `group ${s.group}`,
      `${s.id}: escalation level ${level} (${step}) told nobody`,
    );
  }

  function review(s: SimIncident) {
    const now = at(minute);
    const result = reviewSla(
      { clocks: s.clocks, escalationLevel: s.escalationLevel, lastEscalatedAt: s.lastEscalatedAt },
      groupCalendar(plan, s.group),
      { warnFraction: plan.sla.warnAt, repeatAfterMs, chain: groupEscalationChain(plan, s.group) },
      now,
    );
    const target = (c: ClockName) => (c === 'firstResponse' ? 'first response' : 'resolution');
    for (const a of result.actions) {
      if (a.kind === 'warn') {
        s.clocks[a.clock] = { ...s.clocks[a.clock], warnedAt: now };
        const to = emailOf(plan, s.assignee);
        log(
          s,
          'sla-warning',
          `${target(a.clock)} due at +${Math.round((a.dueAt.getTime() - start.getTime()) / MINUTE_MS)}m; ${to ? `${s.assignee} is warned` : 'unassigned: nobody is warned'}`,
          to ? tell('sla-warning', [to]) : undefined,
        );
      } else if (a.kind === 'breach') {
        s.clocks[a.clock] = { ...s.clocks[a.clock], breachedAt: now };
        log(s, 'sla-breached', `${target(a.clock)} (${s.priority})`);
      } else {
        s.escalationLevel = a.level;
        s.lastEscalatedAt = now;
        escalate(s, a.step, a.level);
      }
    }
  }

  function chase(s: SimIncident) {
    const now = at(minute);
    for (const step of s.steps) {
      if (!isOverdue(step, now)) continue;
      const slot = stepReminderDue(step, now, remindEveryMs);
      if (slot === null) continue;
      step.remindedSlot = slot;
      const owner = stepOwnerId(step.owner, s, plan.groups);
      const to = emailOf(plan, owner);
      const what = `${step.step}. ${step.title}${step.mandatory ? ' (mandatory)' : ''}`;
      if (!step.overdueSeen) {
        step.overdueSeen = true;
        log(s, 'step-overdue', what);
      }
      if (to)
        log(
          s,
          'step-reminder',
          `${owner} (${step.owner}) is chased about step ${step.step}`,
          tell('playbook-reminder', [to]),
        );
      else
        find(
          'empty-role',
          `group ${s.group}`,
          `${s.id}: nobody owns playbook step ${step.step} (${step.owner})`,
        );
    }
  }

  const lastScripted = Math.max(
    0,
    ...scenario.incidents.map((i) => i.at),
    ...scenario.events.map((e) => e.at),
  );
  for (minute = 0; minute <= scenario.duration; minute++) {
    for (const def of scenario.incidents) if (def.at === minute) arrive(def);
    for (const e of scenario.events) if (e.at === minute) act(e);
    for (const s of incidents) {
      if (s.resolvedAtMinute !== null) continue;
      if (!s.assignee && s.waiting) assign(s, 'retry');
      inform(s, { kind: 'interval', at: at(minute) });
      review(s);
      chase(s);
    }
    if (minute >= lastScripted && incidents.every((s) => s.resolvedAtMinute !== null)) break;
  }
  return {
    scenario: scenario.name,
    plan: plan.fingerprint,
    start,
    minutes: Math.min(minute, scenario.duration),
    entries,
    findings,
    incidents: incidents.map((s) => ({
      incident: s.id,
      category: s.category,
      priority: s.priority,
      group: s.group,
      assignee: s.assignee,
      resolvedAtMinute: s.resolvedAtMinute,
      breaches: (['firstResponse', 'resolution'] as const).filter((c) => s.clocks[c].breachedAt),
      escalationLevel: s.escalationLevel,
    })),
  };
}
