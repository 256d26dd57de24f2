import { Incident, Outbox, RawMessage } from './models.js';

/** Everything not finished and older than `before`: stored mail, new incidents, unsent mail. */
export async function unfinishedWork(before: Date, limit: number) {
  const [raw, untriaged, unassigned, unannounced, unsent] = await Promise.all([
    RawMessage.find({ state: 'stored', receivedAt: { $lt: before } }, { _id: 1 })
      .limit(limit)
      .lean(),
    Incident.find({ status: 'new', createdAt: { $lt: before } }, { number: 1 })
      .limit(limit)
      .lean(),
    Incident.find(
      { status: 'triaged', group: { $ne: null }, assignee: null, triagedAt: { $lt: before } },
      { number: 1 },
    )
      .limit(limit)
      .lean(),
    Incident.find(
      { assignNotified: false, assignedAt: { $lt: before } },
      { number: 1, assignCause: 1 },
    )
      .limit(limit)
      .lean(),
    Outbox.find({ state: 'pending', createdAt: { $lt: before } }, { _id: 1 })
      .limit(limit)
      .lean(),
  ]);
  return {
    raw: raw.map((r) => String(r._id)),
    untriaged: untriaged.map((i) => i.number),
    unassigned: [
      ...unassigned.map((i) => ({ incident: i.number, cause: 'triage' })),
      ...unannounced.map((i) => ({ incident: i.number, cause: i.assignCause ?? 'triage' })),
    ],
    unsent: unsent.map((o) => String(o._id)),
  };
}
