/**
 * Replies on an existing incident: an agent's (commands, then text relayed to the customer)
 * and a customer's (reopen, resume, tell the assignee).
 */
import type { AppContext } from '../context.js';
import type { Command } from '../domain/commands.js';
import { customerMessageOutcome, type LifecycleAction } from '../domain/lifecycle.js';
import type { Status } from '../domain/lifecycle.js';
import { formatIncidentId } from '../domain/tokens.js';
import type { PlanAgent } from '../plan/schema.js';
import { findAgent } from '../plan/load.js';
import {
  appendTimeline,
  findIncident,
  getTimelineEntry,
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
  type ChangeResult,
} from './changes.js';
import { queueMail } from './mail.js';
import { escalate, escalationChain } from './sla.js';

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
  const actor = { by: agent.id, cause };
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
        if (!current) return { ok: false, reason: 'the incident changed meanwhile; try again' };
      }
      await escalate(
        ctx,
        current,
        step,
        level,
        command.reason ? `by ${agent.id}: ${command.reason}` : `by ${agent.id}`,
      );
      return {
        ok: true,
        done: `escalated (level ${level}: ${typeof step === 'object' ? `transfer to ${step.transfer}` : step})`,
      };
    }
    case 'merge':
      return mergeIncident(ctx, incident, command.into, actor);
    case 'known-error':
      return linkKnownError(ctx, incident, command.id, actor);
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

  const body = parsed.body.trim();
  const current = (await findIncident(incident.number)) ?? incident;
  if (body) {
    await queueMail(ctx, {
      id: `reply-${reply.rawId}`,
      kind: 'reply',
      incident: current,
      to: current.customer.address,
      subject: `Re: ${current.subject}`,
      template: 'agent-reply',
      data: { body, agentName: agent.name, customerName: current.customer.name ?? '' },
      inReplyTo: current.lastCustomerMessageId ?? undefined,
      attachmentIds: reply.attachmentIds,
    });
    await recordFirstResponse(ctx, current);
    const afterReply = (await findIncident(incident.number)) ?? current;
    if (['assigned', 'triaged'].includes(afterReply.status)) {
      await moveStatus(ctx, afterReply, 'agent-reply', {
        by: agent.id,
        cause: `reply-${reply.rawId.slice(0, 16)}`,
      });
    }
    results.push('sent your reply to the customer');
  }
  if (results.length === 0) return;
  await queueMail(ctx, {
    id: `commands-${reply.rawId}`,
    kind: 'command-result',
    incident: current,
    to: agent.email,
    subject: `Done: ${current.subject}`,
    template: 'command-result',
    data: {
      name: agent.name,
      results,
      status: current.status,
      assignee: current.assignee ?? 'nobody',
      priority: current.priority ?? '-',
    },
    autoSubmitted: 'auto-replied',
  });
}

/** An agent wrote without the incident's token: nothing is executed, and they are told why. */
export async function refuseUntokenedCommands(
  ctx: AppContext,
  incident: IncidentDoc,
  agent: PlanAgent,
  rawId: string,
  count: number,
) {
  await queueMail(ctx, {
    id: `commands-${rawId}`,
    kind: 'command-result',
    incident,
    to: agent.email,
    subject: `Not done: ${incident.subject}`,
    template: 'command-result',
    data: {
      name: agent.name,
      results: [
        `refused: ${count} command(s) ignored: commands are only accepted in a reply to incidesk's own mail about ${formatIncidentId(incident.number)} (it carries the incident's token)`,
      ],
      status: incident.status,
      assignee: incident.assignee ?? 'nobody',
      priority: incident.priority ?? '-',
    },
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
  if (['pending-customer', 'resolved', 'closed'].includes(incident.status)) {
    await moveStatus(
      ctx,
      incident,
      incident.status === 'pending-customer' ? 'customer-reply' : 'reopen',
      { by: reply.from, cause },
    );
  }
  if (reply.messageId)
    await updateIncident(incident.number, { lastCustomerMessageId: reply.messageId });
  const current = (await findIncident(incident.number)) ?? incident;
  const agent = current.assignee ? findAgent(ctx.plan, current.assignee) : undefined;
  if (!agent) return;
  await queueMail(ctx, {
    id: `customer-reply-${reply.rawId}`,
    kind: 'customer-reply',
    incident: current,
    to: agent.email,
    subject: `Customer replied: ${current.subject}`,
    template: 'customer-reply',
    data: {
      name: agent.name,
      from: reply.from,
      body: reply.text,
      status: current.status,
      reopened: incident.status !== current.status && current.status === 'in-progress',
    },
    attachmentIds: reply.attachmentIds,
    autoSubmitted: 'auto-generated',
  });
}
