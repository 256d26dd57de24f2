/**
 * Store reads for health and metrics. The counts read whole collections (or their indexes),
 * so src/ops/health.ts caches them; the ping is always live.
 */
import { listLeases } from './mailbox-lease.js';
import mongoose from 'mongoose';
import { EARLIEST } from './db.js';
import { Incident, MailboxState, Outbox, RawMessage } from './models.js';

export async function pingStore(): Promise<void> {
  const db = mongoose.connection.db;
  if (mongoose.connection.readyState !== 1 || !db) throw new Error('not connected');
  await db.admin().command({ ping: 1 });
}

export async function mailboxCheckpoints() {
  const [rows, leases] = await Promise.all([MailboxState.find().lean(), listLeases()]);
  const leaseOf = new Map(leases.map((l) => [l.key, l]));
  return rows.map((r) => {
    const lease = leaseOf.get(String(r._id));
    return {
      key: String(r._id),
      lastSyncAt: r.lastSyncAt ?? null,
      lastUid: r.lastUid,
      resets: r.resets ?? 0,
      ...(lease && {
        lease: { holder: lease.holder, fence: lease.fence, expiresAt: lease.expiresAt },
      }),
    };
  });
}

async function countBy(model: typeof RawMessage | typeof Outbox): Promise<Record<string, number>> {
  const rows = await (model as typeof RawMessage).aggregate<{ _id: string; n: number }>([
    { $group: { _id: '$state', n: { $sum: 1 } } },
  ]);
  return Object.fromEntries(rows.map((r) => [r._id, r.n]));
}

export const rawCountsByState = () => countBy(RawMessage);

/**
 * Messages stored from each mailbox (by support address) and not yet ingested. Only the
 * `stored` ones are read, through the state index: cheap enough for every /healthz.
 */
export async function backlogByAddress(): Promise<Record<string, number>> {
  const rows = await RawMessage.aggregate<{ _id: string | null; n: number }>([
    { $match: { state: 'stored' } },
    { $group: { _id: '$source.address', n: { $sum: 1 } } },
  ]);
  return Object.fromEntries(rows.filter((r) => r._id).map((r) => [r._id!, r.n]));
}
export const outboxCountsByState = () => countBy(Outbox);

/** The incident whose SLA check has been due the longest (the sweep has not handled it). */
export async function oldestOverdueIncident(
  now: Date,
): Promise<{ incident: number; slaCheckAt: Date } | null> {
  const row = await Incident.findOne(
    { slaCheckAt: { $gte: EARLIEST, $lte: now } },
    { number: 1, slaCheckAt: 1 },
  )
    .sort({ slaCheckAt: 1 })
    .lean();
  return row?.slaCheckAt ? { incident: row.number, slaCheckAt: row.slaCheckAt } : null;
}
