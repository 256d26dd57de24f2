/** Known errors: storage. Numbers are proposed by a counter and taken by the _id insert. */
import type { KnownErrorStatus } from '../domain/known-errors.js';
import { isDuplicateKey } from './db.js';
import { withDocumentLock } from './locks.js';
import { Counter, KnownError, type KnownErrorDoc } from './models.js';

const MAX_NUMBER_ATTEMPTS = 50;

export interface NewKnownError {
  title: string;
  cause?: string;
  workaround?: string;
  fix?: string;
}

/**
 * Create a known error under the next free number. As for incidents, the counter only
 * proposes: concurrent `$inc` is not atomic on every MongoDB-protocol server, the insert is.
 */
export async function createKnownError(input: NewKnownError): Promise<KnownErrorDoc> {
  for (let attempt = 0; attempt < MAX_NUMBER_ATTEMPTS; attempt++) {
    let seq: number;
    try {
      const c = await Counter.findOneAndUpdate(
        { _id: 'known-error' },
        { $inc: { seq: 1 } },
        { upsert: true, returnDocument: 'after' },
      ).lean();
      seq = c!.seq;
    } catch (err) {
      if (isDuplicateKey(err)) continue;
      throw err;
    }
    try {
      const created = await KnownError.create({ _id: seq, ...input, status: 'open' });
      return created.toObject() as KnownErrorDoc;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }
  throw new Error('could not allocate a known error number');
}

export async function findKnownError(n: number): Promise<KnownErrorDoc | null> {
  return KnownError.findById(n).lean<KnownErrorDoc>();
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
  return withDocumentLock(`known-error:${n}`, () =>
    KnownError.findOneAndUpdate(
      { _id: n },
      { $addToSet: { incidents: incident } },
      { returnDocument: 'after' },
    ).lean<KnownErrorDoc>(),
  );
}

/** Record the permanent fix; the known error is then `fixed`. */
export async function fixKnownError(
  n: number,
  fix: string | undefined,
  at: Date,
): Promise<KnownErrorDoc | null> {
  return withDocumentLock(`known-error:${n}`, () =>
    KnownError.findOneAndUpdate(
      { _id: n },
      { $set: { status: 'fixed', fixedAt: at, ...(fix ? { fix } : {}) } },
      { returnDocument: 'after' },
    ).lean<KnownErrorDoc>(),
  );
}
