/**
 * Replies on an existing incident: an agent's (commands, then text relayed to the customer)
 * and a customer's (reopen, resume, tell the assignee).
 */
import type { AppContext } from '../context.js';
import { mayRunCommand, roleOnIncident, type CommandAction } from '../domain/access.js';
import type { CommandPermission } from '../domain/agent-mail.js';
import { REFUSAL_NOTICE_WINDOW_MS } from '../constants.js';
import { priorityFor } from '../domain/classify.js';
import { commandOutcome, parseCommands, type Command } from '../domain/commands.js';
import { customerMessageOutcome, type LifecycleAction } from '../domain/lifecycle.js';
import type { Status } from '../domain/lifecycle.js';
import { mayApprove } from '../domain/protocols.js';
import { NO_REPLY_ADDRESS } from '../domain/sender.js';
import { formatIncidentId } from '../domain/tokens.js';
import type { Level, PlanAgent } from '../plan/schema.js';
import { appendAudit, withActor } from '../store/audit.js';
import { findAgent } from '../plan/load.js';
import {
  appendTimeline,
  findIncident,
  getTimelineEntry,
  timelineOf,
  updateIncident,
} from '../store/incidents.js';
import type { IncidentDoc } from '../store/models.js';
import { assignIncident } from './assign.js';
import {
  addNote,
  linkKnownError,
  mergeIncident,
  moveStatus,
  recordFirstResponse,
  reprioritise,
  resolveIncident,
  transferIncident,
} from './changes.js';
import { groupUnder } from './links.js';
import { filesForStaffMail } from './attachments.js';
import { queueMail } from './mail.js';
import { changedMeanwhile, retryIfRaced, type ChangeResult } from './outcome.js';
import { closePlaybookStep } from './playbook.js';
import { decideProtocolMessages } from './protocols.js';
import { addActionItem, addLesson, completeActionItem } from './review.js';
import { escalationChain } from './clocks.js';
import { escalate } from './sla.js';

export interface ReplyMessage {
  rawId: string;
  messageId?: string;
  /** Quote-stripped text. */
  text: string;
  attachmentIds: readonly string[];
}

const STATUS_ACTIONS: Partial<Record<Status, LifecycleAction>> = {
  'pending-customer': 'wait-for-customer',
  'in-progress': 'agent-reply',
  closed: 'close',
};

/** Carry out one command; refusals come back as reasons, never as exceptions. */
async function execute(
  ctx: AppContext,
  number: number,
  command: Command,
  agent: PlanAgent,
  cause: string,
): Promise<ChangeResult> {
  const incident = await findIncident(number);
  if (!incident) return { ok: false, reason: 'the incident no longer exists' };
  const action = commandAction(ctx, incident, command, agent);
  const allowed = mayRunCommand(
    roleOnIncident(ctx.plan, agent.email, incident),
    action,
    ctx.plan.access.agentsMay,
  );
  if (!allowed.allowed) {
    await auditRefusal(number, { kind: 'agent', id: agent.email }, cause, command, allowed.reason);
    return { ok: false, reason: allowed.reason };
  }
  const actor = { by: agent.id, cause };
  return withActor({ kind: 'agent', id: agent.email }, `${describe(command)} (${cause})`, () =>
    run(ctx, incident, command, agent, cause, actor),
  );
}

/** What a command amounts to for access control (src/domain/access.ts). */
function commandAction(
  ctx: AppContext,
  incident: IncidentDoc,
  command: Command,
  agent: PlanAgent,
): CommandAction {
  const raisesToP1 = (p: string) => p === 'P1' && incident.priority !== 'P1';
  const axis = (c: { impact?: Level; urgency?: Level }) =>
    priorityFor(
      ctx.plan.matrix,
      c.impact ?? (incident.impact as Level | undefined) ?? ctx.plan.classification.defaults.impact,
      c.urgency ??
        (incident.urgency as Level | undefined) ??
        ctx.plan.classification.defaults.urgency,
    );
  switch (command.kind) {
    case 'assign':
      return findAgent(ctx.plan, command.agent)?.id === agent.id ? 'assign-self' : 'assign-other';
    case 'priority':
      return raisesToP1(command.priority) ? 'priority-p1' : 'priority';
    case 'impact':
      return raisesToP1(axis({ impact: command.level })) ? 'priority-p1' : 'priority';
    case 'urgency':
      return raisesToP1(axis({ urgency: command.level })) ? 'priority-p1' : 'priority';
    case 'done':
    case 'skip':
      return 'playbook-step';
    case 'approve':
    case 'reject':
      return 'protocol-approval';
    default:
      return command.kind;
  }
}

/** A refused command changes nothing but is on the record, with who tried and why it failed. */
export async function auditRefusal(
  number: number,
  actor: { kind: 'agent' | 'customer'; id: string },
  cause: string,
  command: Command | string,
  reason: string,
) {
  await appendAudit({
    action: 'command-refused',
    subject: { type: 'incident', id: String(number) },
    actor,
    why: cause,
    changes: [],
    detail: {
      command: typeof command === 'string' ? command : describe(command),
      reason,
    },
  });
}

async function run(
  ctx: AppContext,
  incident: IncidentDoc,
  command: Command,
  agent: PlanAgent,
  cause: string,
  actor: { by: string; cause: string },
): Promise<ChangeResult> {
  const number = incident.number;
  switch (command.kind) {
    case 'assign': {
      const r = await assignIncident(ctx, number, cause, command.agent);
      return r.ok ? { ok: true, done: `assigned to ${r.agent}` } : { ok: false, reason: r.reason };
    }
    case 'transfer':
      return transferIncident(ctx, incident, command.group, actor);
    case 'priority':
      return reprioritise(ctx, incident, { priority: command.priority }, actor);
    case 'impact':
      return reprioritise(ctx, incident, { impact: command.level }, actor);
    case 'urgency':
      return reprioritise(ctx, incident, { urgency: command.level }, actor);
    case 'status': {
      if (command.status === 'resolved')
        return { ok: false, reason: 'use "#resolve cause: …; fix: …" to resolve' };
      const action = STATUS_ACTIONS[command.status];
      if (!action)
        return { ok: false, reason: `status ${command.status} cannot be set by command` };
      return moveStatus(ctx, incident, action, actor);
    }
    case 'resolve':
      return resolveIncident(ctx, incident, command, actor);
    case 'note':
      return addNote(ctx, incident, command.text, actor);
    case 'escalate': {
      // The level this command escalates to is recorded first, so a retry finishes the same
      // step (every effect of escalate() is keyed by level) instead of escalating again.
      const markerId = `escalation-requested-${number}-${cause}`;
      const prior = await getTimelineEntry(markerId);
      const level =
        (prior?.detail as { level?: number } | undefined)?.level ??
        (incident.sla?.escalationLevel ?? 0) + 1;
      const step = escalationChain(ctx, incident)[level - 1];
      if (!step) return { ok: false, reason: 'the escalation chain is exhausted' };
      if (!prior) {
        await appendTimeline(number, {
          _id: markerId,
          at: ctx.now(),
          type: 'event',
          event: 'escalation-requested',
          detail: { level, by: agent.id, reason: command.reason },
        });
      }
      let current: IncidentDoc | null = incident;
      if ((incident.sla?.escalationLevel ?? 0) < level) {
        current = await updateIncident(
          number,
          { 'sla.escalationLevel': level, 'sla.lastEscalatedAt': ctx.now() },
          { where: { 'sla.escalationLevel': level - 1 } },
        );
        if (!current) return changedMeanwhile();
      }
      const { skipped } = await escalate(
        ctx,
        current,
        step,
        level,
        command.reason ? `by ${agent.id}: ${command.reason}` : `by ${agent.id}`,
      );
      return {
        ok: true,
        done: `escalated (level ${level}: ${typeof step === 'object' ? `transfer to ${step.transfer}` : step}${skipped ? `; ${skipped}` : ''})`,
      };
    }
    case 'merge':
      return mergeIncident(ctx, incident, command.into, actor);
    case 'parent':
      return groupUnder(ctx, incident, command.parent, actor);
    case 'lesson':
      return addLesson(ctx, incident, command.text, actor);
    case 'action':
      return addActionItem(ctx, incident, command, actor);
    case 'action-done':
      return completeActionItem(ctx, command.item, actor, number);
    case 'known-error':
      return linkKnownError(ctx, incident, command.id, actor);
    case 'done':
      return closePlaybookStep(ctx, incident, { step: command.step, state: 'done' }, actor);
    case 'skip':
      return closePlaybookStep(
        ctx,
        incident,
        { step: command.step, state: 'skipped', reason: command.reason },
        actor,
      );
    case 'approve':
    case 'reject': {
      const role = roleOnIncident(ctx.plan, agent.email, incident);
      return decideProtocolMessages(ctx, incident, {
        ref: command.ref,
        approve: command.kind === 'approve',
        by: agent.id,
        may: (approval) => mayApprove(role, approval),
      });
    }
  }
}

const describe = (c: Command) => `#${c.kind}`;

/**
 * An agent's reply that carries the incident's token: run its commands in order, relay the
 * remaining text (and attachments) to the customer, and tell the agent what was done.
 */
export async function handleAgentReply(
  ctx: AppContext,
  incident: IncidentDoc,
  agent: PlanAgent,
  reply: ReplyMessage,
  parsed: { commands: Command[]; errors: string[]; body: string },
): Promise<void> {
  return withActor({ kind: 'agent', id: agent.email }, `message ${reply.rawId}`, () =>
    agentReply(ctx, incident, agent, reply, parsed),
  );
}

async function agentReply(
  ctx: AppContext,
  incident: IncidentDoc,
  agent: PlanAgent,
  reply: ReplyMessage,
  parsed: { commands: Command[]; errors: string[]; body: string },
): Promise<void> {
  const results: string[] = [];
  for (const [i, command] of parsed.commands.entries()) {
    const r = await execute(
      ctx,
      incident.number,
      command,
      agent,
      `cmd-${reply.rawId.slice(0, 16)}-${i}`,
    );
    results.push(
      r.ok ? `done: ${describe(command)}: ${r.done}` : `refused: ${describe(command)}: ${r.reason}`,
    );
  }
  results.push(...parsed.errors.map((e) => `not understood: ${e}`));

  let body = parsed.body.trim();
  const current = (await findIncident(incident.number)) ?? incident;
  // Only people working the incident speak to its customer.
  if (body && roleOnIncident(ctx.plan, agent.email, current) === null) {
    const reason = mayRunCommand(null, 'note');
    const why = reason.allowed ? '' : reason.reason;
    await auditRefusal(
      incident.number,
      { kind: 'agent', id: agent.email },
      `message ${reply.rawId}`,
      'reply to the customer',
      why,
    );
    results.push(`refused: your reply was not sent to the customer: ${why}`);
    body = '';
  }
  if (body && current.customer.address === NO_REPLY_ADDRESS) {
    // The customer's mail had no usable address: nothing can reach them, and the agent must
    // not believe it did. Their text stays on the timeline.
    results.push(
      'refused: your reply could NOT be delivered: the customer’s message had no usable reply address (your text is kept on the incident)',
    );
    body = '';
  }
  if (body) {
    await queueMail(ctx, {
      id: `reply-${reply.rawId}`,
      kind: 'reply',
      incident: current,
      to: current.customer.address,
      audience: 'customer',
      subjectPrefix: 'Re',
      template: 'agent-reply',
      data: { body, agentName: agent.name, customerName: current.customer.name ?? '' },
      inReplyTo: current.lastCustomerMessageId ?? undefined,
      attachmentIds: reply.attachmentIds,
    });
    await recordFirstResponse(ctx, current);
    const afterReply = (await findIncident(incident.number)) ?? current;
    if (['assigned', 'triaged'].includes(afterReply.status)) {
      retryIfRaced(
        await moveStatus(ctx, afterReply, 'agent-reply', {
          by: agent.id,
          cause: `reply-${reply.rawId.slice(0, 16)}`,
        }),
      );
    }
    results.push('sent your reply to the customer');
  }
  if (results.length === 0) return;
  await queueCommandResult(
    ctx,
    `commands-${reply.rawId}`,
    current,
    agent,
    results,
    reply.messageId,
  );
}

/** An agent wrote without the incident's token: nothing is executed, and they are told why. */
export async function refuseUntokenedCommands(
  ctx: AppContext,
  incident: IncidentDoc,
  agent: PlanAgent,
  rawId: string,
  count: number,
) {
  await auditRefusal(
    incident.number,
    { kind: 'agent', id: agent.email },
    `message ${rawId}`,
    `${count} command(s)`,
    'no incident token: not a reply to incidesk’s own mail',
  );
  await queueCommandResult(ctx, `commands-${rawId}`, incident, agent, [
    `refused: ${count} command(s) ignored: commands are only accepted in a reply to incidesk's own mail about ${formatIncidentId(incident.number)} (it carries the incident's token)`,
  ]);
}

/**
 * The mail that tells an agent what became of their message, as a reply to it: "Done" only
 * when everything was, one line per command, the incident's state after them.
 */
async function queueCommandResult(
  ctx: AppContext,
  id: string,
  incident: IncidentDoc,
  agent: PlanAgent,
  results: string[],
  commandMail?: string,
) {
  await queueMail(ctx, {
    id,
    kind: 'command-result',
    incident,
    to: agent.email,
    audience: 'staff',
    template: 'command-result',
    data: {
      name: agent.name,
      outcome: commandOutcome(results.map((r) => !/^(refused|not understood)/.test(r))),
      results,
      status: incident.status,
      assignee: incident.assignee ?? 'nobody',
      priority: incident.priority ?? '-',
    },
    inReplyTo: commandMail,
    autoSubmitted: 'auto-replied',
  });
}

/** What a customer's message on an existing incident means for it. */
export function customerOutcome(ctx: AppContext, incident: IncidentDoc) {
  return customerMessageOutcome({
    status: incident.status,
    closedAt: incident.closedAt ?? undefined,
    now: ctx.now(),
    reopenWindowDays: ctx.plan.lifecycle.reopenWindowDays,
  });
}

/** A customer wrote on an open (or recently resolved) incident: resume, reopen, tell the assignee. */
export async function handleCustomerReply(
  ctx: AppContext,
  incident: IncidentDoc,
  reply: ReplyMessage & { from: string },
) {
  const cause = `customer-${reply.rawId.slice(0, 16)}`;
  return withActor({ kind: 'customer', id: reply.from }, `message ${reply.rawId}`, () =>
    customerReply(ctx, incident, reply, cause),
  );
}

async function customerReply(
  ctx: AppContext,
  incident: IncidentDoc,
  reply: ReplyMessage & { from: string },
  cause: string,
) {
  // Whoever holds a token is still a customer: their "#commands" are text, and on the record.
  const attempted = parseCommands(reply.text).commands;
  if (attempted.length)
    await auditRefusal(
      incident.number,
      { kind: 'customer', id: reply.from },
      `message ${reply.rawId}`,
      attempted.map(describe).join(' '),
      'commands are only accepted from agents',
    );
  if (['pending-customer', 'resolved', 'closed'].includes(incident.status)) {
    // A lost race reruns the message's job: every step of it is keyed by the message.
    retryIfRaced(
      await moveStatus(
        ctx,
        incident,
        incident.status === 'pending-customer' ? 'customer-reply' : 'reopen',
        { by: reply.from, cause },
      ),
    );
  }
  // The incident as it is now (a status move above may have changed it): what the update
  // returns, read only when there is nothing to update.
  const updated = reply.messageId
    ? await updateIncident(incident.number, { lastCustomerMessageId: reply.messageId })
    : null;
  const current = updated ?? (await findIncident(incident.number)) ?? incident;
  const agent = current.assignee ? findAgent(ctx.plan, current.assignee) : undefined;
  if (!agent) return;
  const files = await filesForStaffMail(ctx, incident.number, reply.attachmentIds);
  await queueMail(ctx, {
    id: `customer-reply-${reply.rawId}`,
    kind: 'customer-reply',
    incident: current,
    to: agent.email,
    audience: 'staff',
    template: 'customer-reply',
    data: {
      name: agent.name,
      from: reply.from,
      body: reply.text,
      status: current.status,
      // Waiting for the customer and they answered: work resumes. Resolved or closed: reopened.
      resumed: incident.status === 'pending-customer' && current.status === 'in-progress',
      reopened:
        ['resolved', 'closed'].includes(incident.status) && current.status === 'in-progress',
      files: files.files,
    },
    attachmentIds: files.attachmentIds,
    autoSubmitted: 'auto-generated',
  });
}

/**
 * Mail from an agent's address that could not be shown to be theirs (a forged From, a token
 * issued to someone else, a failed or temporarily impossible DKIM/DMARC check): nothing runs
 * and nothing reaches the customer (the message stays on the timeline, marked unverified).
 * Each command is audited as refused with the reason code; the agent's own address, the one
 * in the plan, is told what was refused and why, at most once per incident per hour, so a
 * forger cannot use us to flood them.
 */
export async function refuseUnverifiedAgentMail(
  ctx: AppContext,
  incident: IncidentDoc,
  agent: PlanAgent,
  rawId: string,
  refusal: Extract<CommandPermission, { allowed: false }>,
  parsed: { commands: Command[]; errors: string[]; body: string },
): Promise<void> {
  const cause = `message ${rawId}`;
  const refused = [
    ...parsed.commands.map(describe),
    ...(parsed.errors.length > 0 ? [`${parsed.errors.length} unreadable command(s)`] : []),
    ...(parsed.body.trim() ? ['reply to the customer'] : []),
  ];
  for (const what of refused.length > 0 ? refused : ['message']) {
    await appendAudit({
      action: 'command-refused',
      subject: { type: 'incident', id: String(incident.number) },
      actor: { kind: 'agent', id: agent.email },
      why: cause,
      changes: [],
      detail: {
        command: what,
        reason: refusal.reason,
        explanation: refusal.explanation,
        sender: 'unverified',
      },
    });
  }

  const now = ctx.now();
  const since = new Date(now.getTime() - REFUSAL_NOTICE_WINDOW_MS);
  const recent = (await timelineOf(incident.number)).some(
    (e) =>
      e.event === 'refusal-notified' &&
      (e.detail as { agent?: string } | undefined)?.agent === agent.id &&
      e.at >= since &&
      e.rawId !== rawId,
  );
  if (recent) return;
  const window = Math.floor(now.getTime() / REFUSAL_NOTICE_WINDOW_MS);
  await appendTimeline(incident.number, {
    _id: `refusal-notified-${rawId}`,
    at: now,
    type: 'event',
    event: 'refusal-notified',
    rawId,
    detail: { agent: agent.id, reason: refusal.reason },
  });
  await queueCommandResult(
    ctx,
    `refused-${incident.number}-${agent.id}-${window}`,
    incident,
    agent,
    [
      `refused: a message from your address was not acted on (${refused.join(', ') || 'no commands'}): ${refusal.explanation}`,
      'refused: nothing was changed and nothing was sent to the customer; if you did not write it, someone used your address',
    ],
  );
}
