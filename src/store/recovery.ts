import { SEND_CLAIM_MS } from '../constants.js';
import { PRIORITIES } from '../plan/schema.js';
import { Incident, Outbox, RawMessage } from './models.js';

/** Statuses in which an incident with a group but nobody on it waits for an agent. */
const WAITING_FOR_AGENT = ['triaged', 'assigned', 'in-progress', 'pending-customer'] as const;
const PRIORITY_ORDER: readonly string[] = PRIORITIES;

/**
 * Everything not finished and older than `before`: stored mail, new incidents, incidents
 * waiting for an agent (most urgent first: they take agents as they become available), and
 * unsent mail.
 */
export async function unfinishedWork(before: Date, limit: number) {
  const [raw, untriaged, unassigned, unannounced, unsent] = await Promise.all([
    RawMessage.find({ state: 'stored', receivedAt: { $lt: before } }, { _id: 1 })
      .limit(limit)
      .lean(),
    Incident.find({ status: 'new', createdAt: { $lt: before } }, { number: 1 })
      .limit(limit)
      .lean(),
    Incident.find(
      {
        status: { $in: WAITING_FOR_AGENT },
        group: { $ne: null },
        assignee: null,
        triagedAt: { $lt: before },
      },
      { number: 1, priority: 1, assignCause: 1 },
    )
      .limit(limit)
      .lean(),
    Incident.find(
      { assignNotified: false, assignee: { $ne: null }, assignedAt: { $lt: before } },
      { number: 1, assignCause: 1 },
    )
      .limit(limit)
      .lean(),
    // Not while a job holds it (claimOutbox): its sender, or that job's rerun, finishes it.
    Outbox.find(
      {
        state: 'pending',
        createdAt: { $lt: before },
        $or: [
          { claimedBy: null },
          { lastAttemptAt: { $lt: new Date(before.getTime() - SEND_CLAIM_MS) } },
        ],
      },
      { _id: 1 },
    )
      .limit(limit)
      .lean(),
  ]);
  return {
    raw: raw.map((r) => String(r._id)),
    untriaged: untriaged.map((i) => i.number),
    unassigned: [
      ...unassigned
        .sort((a, b) => rank(a.priority) - rank(b.priority) || a.number - b.number)
        .map((i) => ({ incident: i.number, cause: i.assignCause ?? 'triage' })),
      ...unannounced.map((i) => ({ incident: i.number, cause: i.assignCause ?? 'triage' })),
    ],
    unsent: unsent.map((o) => String(o._id)),
  };
}

const rank = (priority: string | null | undefined) => {
  const i = PRIORITY_ORDER.indexOf(priority ?? '');
  return i < 0 ? PRIORITY_ORDER.length : i;
};
