/** Named sequences (incident numbers, known error numbers): one `$inc` each, atomic on the server. */
import { isDuplicateKey } from './db.js';
import { Counter } from './models.js';

/** The next number of a sequence; with `count`, the last of that many drawn together. */
export async function nextSequence(name: string, count = 1): Promise<number> {
  for (;;) {
    try {
      const doc = await Counter.findOneAndUpdate(
        { _id: name },
        { $inc: { seq: count } },
        { upsert: true, returnDocument: 'after' },
      ).lean();
      // MongoDB always returns the document of an upsert asked for 'after'.
      if (!doc) throw new Error(`sequence ${name}: the server returned no counter document`);
      return doc.seq;
    } catch (err) {
      // Two first-ever upserts can race to insert the counter; the loser just goes again.
      if (!isDuplicateKey(err)) throw err;
    }
  }
}
