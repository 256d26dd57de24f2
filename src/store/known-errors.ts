/** Known errors: storage. Numbers come from a counter. */
import type { KnownErrorStatus } from '../domain/known-errors.js';
import { nextSequence } from './counters.js';
import { KnownError, type KnownErrorDoc } from './models.js';

export interface NewKnownError {
  title: string;
  cause?: string;
  workaround?: string;
  fix?: string;
}

/** Create a known error under the next number. */
export async function createKnownError(input: NewKnownError): Promise<KnownErrorDoc> {
  const seq = await nextSequence('known-error');
  const created = await KnownError.create({ _id: seq, ...input, status: 'open' });
  return created.toObject() as KnownErrorDoc;
}

export async function findKnownError(n: number): Promise<KnownErrorDoc | null> {
  return KnownError.findById(n).lean<KnownErrorDoc>();
}

export async function findKnownErrors(ids: readonly number[]): Promise<KnownErrorDoc[]> {
  return KnownError.find({ _id: { $in: [...ids] } }).lean<KnownErrorDoc[]>();
}

export async function listKnownErrors(filter: {
  status?: KnownErrorStatus;
}): Promise<KnownErrorDoc[]> {
  return KnownError.find(filter.status ? { status: filter.status } : {})
    .sort({ _id: 1 })
    .lean<KnownErrorDoc[]>();
}

/** Link an incident; returns the updated record, or null when there is no such known error. */
export async function linkIncidentToKnownError(
  n: number,
  incident: number,
): Promise<KnownErrorDoc | null> {
  return KnownError.findOneAndUpdate(
    { _id: n },
    { $addToSet: { incidents: incident } },
    { returnDocument: 'after' },
  ).lean<KnownErrorDoc>();
}

/** Record the permanent fix; the known error is then `fixed`. */
export async function fixKnownError(
  n: number,
  fix: string | undefined,
  at: Date,
): Promise<KnownErrorDoc | null> {
  return KnownError.findOneAndUpdate(
    { _id: n },
    { $set: { status: 'fixed', fixedAt: at, ...(fix ? { fix } : {}) } },
    { returnDocument: 'after' },
  ).lean<KnownErrorDoc>();
}
