/**
 * Post-incident review: lessons learned, action items with owners and due dates, the gate
 * that keeps a P1/P2 from closing without them, and reminders to owners. Email commands and
 * the CLI both come here.
 */
import type { AppContext } from '../context.js';
import { parseDuration } from '../domain/duration.js';
import { reviewProblems } from '../domain/lifecycle.js';
import { actionItemId, parseActionItemId, reminderDue, utcDay } from '../domain/review.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent } from '../plan/load.js';
import { appendTimeline, findIncident } from '../store/incidents.js';
import type { IncidentDoc, ReviewActionDoc } from '../store/models.js';
import {
  actionAddedBy,
  actionItemsOf,
  countActionItemsAdded,
  findActionItem,
  insertActionItem,
  markActionItemDone,
  markReminded,
  openActionItemsDueBy,
  recordLesson,
} from '../store/review.js';
import { queueMail } from './mail.js';
import { refused, type Actor, type ChangeResult } from './outcome.js';

const EMAIL = /^[^@\s<>]+@[^@\s<>]+$/;
/** Item numbers tried per add: only concurrent adds on one incident take any beyond the first. */
const MAX_CLAIMS = 50;

/** What keeps this incident from closing (empty: it may close). */
export async function closeProblems(ctx: AppContext, incident: IncidentDoc): Promise<string[]> {
  const requiredFor = ctx.plan.review.requiredFor;
  if (!incident.priority || !requiredFor.includes(incident.priority)) return [];
  return reviewProblems({
    priority: incident.priority,
    requiredFor,
    lessons: incident.review?.lessons?.map((l) => ({ text: l.text ?? '' })) ?? [],
    actions: await actionItemsOf(incident.number),
  });
}

export async function addLesson(
  ctx: AppContext,
  incident: IncidentDoc,
  text: string,
  actor: Actor,
): Promise<ChangeResult> {
  await recordLesson(incident.number, {
    id: `lesson-${incident.number}-${actor.cause}`,
    text,
    by: actor.by,
    at: ctx.now(),
  });
  return { ok: true, done: 'lesson recorded' };
}

/** An agent id becomes that agent's address; anything else must be an address already. */
export function ownerAddress(ctx: AppContext, owner: string): string | null {
  const agent = findAgent(ctx.plan, owner);
  if (agent) return agent.email;
  return EMAIL.test(owner) ? owner.toLowerCase() : null;
}

/**
 * Add an action item `<incident>-<k>`. The timeline entry `action-<n>-<k>` claims k (an
 * insert on a unique id, so two concurrent adds get different numbers) and remembers the
 * occasion, so a retried command finds its item instead of adding a second one.
 */
export async function addActionItem(
  ctx: AppContext,
  incident: IncidentDoc,
  item: { owner: string; due: Date; text: string },
  actor: Actor,
): Promise<ChangeResult> {
  const owner = ownerAddress(ctx, item.owner);
  if (!owner) return refused(`"${item.owner}" is neither an agent nor an email address`);
  const n = incident.number;
  const now = ctx.now();
  let claimed = await actionAddedBy(n, actor.cause);
  const first = (await countActionItemsAdded(n)) + 1;
  for (let k = first; !claimed && k < first + MAX_CLAIMS; k++) {
    const _id = `action-${n}-${k}`;
    const detail = {
      cause: actor.cause,
      id: actionItemId(n, k),
      owner,
      by: actor.by,
      dueAt: item.due,
    };
    if (
      await appendTimeline(n, {
        _id,
        at: now,
        type: 'event',
        event: 'action-added',
        text: item.text,
        detail,
      })
    )
      claimed = await actionAddedBy(n, actor.cause);
  }
  if (!claimed) return refused('could not number the action item; try again');
  const detail = claimed.detail as { id: string; owner: string; dueAt: Date };
  await insertActionItem({
    _id: detail.id,
    incidentNumber: n,
    owner: detail.owner,
    text: claimed.text ?? item.text,
    dueAt: new Date(detail.dueAt),
    createdAt: claimed.at,
  } as ReviewActionDoc);
  return {
    ok: true,
    done: `action item ${detail.id} for ${detail.owner}, due ${utcDay(new Date(detail.dueAt))}`,
  };
}

export async function completeActionItem(
  ctx: AppContext,
  id: string,
  actor: Actor,
  contextIncident?: number,
): Promise<ChangeResult> {
  const key = parseActionItemId(id, contextIncident);
  if (!key) return refused(`"${id}" is not an action item id like 42-1`);
  const item = await findActionItem(key);
  if (!item) return refused(`no action item ${key}`);
  if (contextIncident !== undefined && item.incidentNumber !== contextIncident)
    return refused(`${key} belongs to ${formatIncidentId(item.incidentNumber)}`);
  if (item.doneAt) return { ok: true, done: `${key} was already done` };
  const at = ctx.now();
  await markActionItemDone(key, at);
  await appendTimeline(item.incidentNumber, {
    _id: `action-done-${key}`,
    at,
    type: 'event',
    event: 'action-done',
    text: item.text,
    detail: { id: key, by: actor.by },
  });
  return { ok: true, done: `action item ${key} done` };
}

/**
 * Remind owners of action items due soon or overdue, at most once per item and UTC day: the
 * outbox id carries the day, so a repeated or concurrent sweep queues the mail once.
 */
export async function sendReviewReminders(ctx: AppContext): Promise<number> {
  const now = ctx.now();
  const remindBefore = parseDuration(ctx.plan.review.remindBefore);
  const items = await openActionItemsDueBy(new Date(now.getTime() + remindBefore));
  let sent = 0;
  for (const item of items) {
    const kind = reminderDue(item, now, remindBefore);
    if (!kind) continue;
    const incident = await findIncident(item.incidentNumber);
    if (!incident) continue;
    await queueMail(ctx, {
      id: `review-reminder-${item._id}-${utcDay(now)}`,
      kind: 'review-reminder',
      incident,
      to: item.owner,
      audience: 'staff',
      template: 'review-reminder',
      data: {
        actionId: item._id,
        text: item.text,
        dueAt: utcDay(item.dueAt),
        overdue: kind === 'overdue',
      },
      autoSubmitted: 'auto-generated',
    });
    await markReminded(item._id, now);
    sent++;
  }
  if (sent) ctx.log.info({ component: 'review', reminded: sent }, 'action item reminders');
  return sent;
}
