import { isDuplicateKey } from './db.js';
import { StaffThread } from './models.js';

/**
 * The Message-ID of the first mail `address` got about incident n. The first caller records
 * its own `messageId` and gets it back; everyone after gets that first one. Safe under races
 * (the deterministic _id is unique) and under retries (the same mail finds itself).
 */
export async function staffThreadStart(
  n: number,
  address: string,
  messageId: string,
  at: Date,
): Promise<string> {
  const _id = `${n}/${address.toLowerCase()}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const doc = await StaffThread.findOneAndUpdate(
        { _id },
        { $setOnInsert: { messageId, at } },
        { upsert: true, returnDocument: 'after', lean: true },
      );
      if (doc) return doc.messageId;
    } catch (err) {
      // A concurrent first insert won: the next round reads it.
      if (!isDuplicateKey(err) || attempt >= 3) throw err;
    }
    if (attempt >= 3) throw new Error(`staff thread ${_id}: the upsert returned no document`);
  }
}
