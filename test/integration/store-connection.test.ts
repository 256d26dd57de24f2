/**
 * `MONGODB_URI` with `readPreference`: incidesk still reads from the primary. A worker reads
 * what the step before it has just written, and a transaction refuses any other read
 * preference, so a `readPreference=secondaryPreferred` in the URI (for reporting tools that
 * share it) must not reach incidesk's own operations.
 */
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomically, connectStore, disconnectStore } from '../../src/store/db.js';
import { Counter } from '../../src/store/models.js';
import { testEnv } from '../support/harness.js';

describe('the store with a read preference in MONGODB_URI', () => {
  beforeAll(async () => {
    const { env } = testEnv({ port: 1 });
    const uri = new URL(env.MONGODB_URI!);
    uri.searchParams.set('readPreference', 'secondaryPreferred');
    await connectStore(uri.toString());
  });
  afterAll(async () => {
    await mongoose.connection.dropDatabase();
    await disconnectStore();
  });

  it('reads from the primary, and transactions work', async () => {
    expect(mongoose.connection.getClient().readPreference.mode).toBe('primary');
    await atomically(async () => {
      await Counter.updateOne({ _id: 'rp-test' }, { $inc: { seq: 1 } }, { upsert: true });
      await Counter.findById('rp-test').lean();
    });
    expect((await Counter.findById('rp-test').lean())?.seq).toBe(1);
  });
});
