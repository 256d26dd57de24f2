import { Outbox } from './models.js';

/**
 * Make a failed outbound message sendable again, for a replayed `notify` dead letter: the
 * notify worker skips messages marked failed. A message already sent stays sent.
 */
export async function reopenFailedOutbox(id: string): Promise<boolean> {
  const res = await Outbox.updateOne({ _id: id, state: 'failed' }, { $set: { state: 'pending' } });
  return res.modifiedCount === 1;
}
