/**
 * Writes held to the end of their transaction (`writeAtCommit`), on the real server: sent
 * together as one `bulkWrite` across collections where the server takes it, else one command
 * each, and in both cases committed with the transaction's other writes or not at all; a
 * held write's check and its failure undo the whole transaction.
 */
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  atomically,
  connectStore,
  disconnectStore,
  hasTransactions,
  writeAtCommit,
} from '../../src/store/db.js';
import { Counter, TimelineEntry } from '../../src/store/models.js';
import { countCommands, monitoredUri } from '../support/db-commands.js';

class Refused extends Error {}

describe.each([
  { mode: 'across collections', acrossCollections: true },
  { mode: 'one command per collection', acrossCollections: false },
])('writes held to the end of a transaction ($mode)', ({ acrossCollections }) => {
  beforeAll(async () => {
    await connectStore(monitoredUri(`held_${String(acrossCollections)}`), { acrossCollections });
  });
  afterAll(async () => {
    await mongoose.connection.dropDatabase();
    await disconnectStore();
  });

  const entry = (id: string) => ({
    into: TimelineEntry,
    ops: [
      {
        insertOne: {
          document: { _id: id, incidentNumber: 1, at: new Date(), type: 'event', event: 'x' },
        },
      },
    ],
  });
  const bump = (id: string, check?: (matched: number) => void) => ({
    into: Counter,
    ops: [{ updateOne: { filter: { _id: id }, update: { $inc: { seq: 1 } }, upsert: true } }],
    check: check && ((done: { matched: number }) => check(done.matched)),
  });

  it('sends them at the end, unseen inside, in one command where the server takes it', async (t) => {
    if (!hasTransactions()) t.skip(); // without transactions a held write is written at once
    let seenInside: unknown = 'unread';
    const { commands } = await countCommands(() =>
      atomically(async () => {
        await writeAtCommit(entry('held-1'));
        await writeAtCommit(bump('held-counter'));
        seenInside = await TimelineEntry.findById('held-1').lean();
      }),
    );
    expect(seenInside).toBeNull();
    expect(await TimelineEntry.countDocuments({ _id: 'held-1' })).toBe(1);
    expect((await Counter.findById('held-counter').lean())?.seq).toBe(1);
    // The read inside came first, then the held writes, then the commit.
    expect(commands).toEqual([
      'find timeline',
      ...(acrossCollections
        ? ['bulkWrite timeline+counters']
        : ['insert timeline', 'update counters']),
      'commitTransaction 1',
    ]);
  });

  it('writes collections as they are, in the connected database, one command for all', async (t) => {
    if (!hasTransactions()) t.skip();
    // A mongoose collection, as the models' `.collection` (it has no database name of its own).
    const raw = (name: string) => mongoose.connection.collection(name);
    const { commands } = await countCommands(() =>
      atomically(async () => {
        await writeAtCommit({
          into: raw('held_a'),
          ops: [{ insertOne: { document: { _id: 'a' } } }],
        });
        await writeAtCommit({
          into: raw('held_b'),
          ops: [{ insertOne: { document: { _id: 'b' } } }],
        });
      }),
    );
    expect(await raw('held_a').countDocuments({ _id: 'a' } as never)).toBe(1);
    expect(await raw('held_b').countDocuments({ _id: 'b' } as never)).toBe(1);
    expect(commands).toEqual([
      ...(acrossCollections ? ['bulkWrite held_a+held_b'] : ['insert held_a', 'insert held_b']),
      'commitTransaction 1',
    ]);
  });

  it("undoes the whole transaction when a held write's check refuses", async (t) => {
    if (!hasTransactions()) t.skip();
    await Counter.create({ _id: 'guarded', seq: 5 });
    const attempt = atomically(async () => {
      await Counter.updateOne({ _id: 'guarded' }, { $set: { seq: 6 } }); // written at once
      await writeAtCommit(entry('held-2'));
      await writeAtCommit(
        bump('guarded', (matched) => {
          throw new Refused(`matched ${matched}`);
        }),
      );
    });
    await expect(attempt).rejects.toThrow(new Refused('matched 1'));
    expect((await Counter.findById('guarded').lean())?.seq).toBe(5);
    expect(await TimelineEntry.countDocuments({ _id: 'held-2' })).toBe(0);
  });

  it("throws a held write's own error for its failure, a duplicate key as a duplicate key", async (t) => {
    if (!hasTransactions()) t.skip();
    await TimelineEntry.create({ _id: 'taken', incidentNumber: 1, at: new Date(), type: 'event' });
    const lost = atomically(async () => {
      await writeAtCommit(entry('held-3'));
      await writeAtCommit({ ...entry('taken'), failure: () => new Refused('taken') });
    });
    await expect(lost).rejects.toThrow(new Refused('taken'));
    const duplicate = atomically(() => writeAtCommit(entry('taken')));
    await expect(duplicate).rejects.toMatchObject({ code: 11000 });
    expect(await TimelineEntry.countDocuments({ _id: 'held-3' })).toBe(0);
  });

  it('runs the transaction again after a write conflict, as for any write', async (t) => {
    if (!hasTransactions()) t.skip();
    // The first transaction inserts `race` and stays open until the second has tried.
    let mayCommit!: () => void;
    const open = new Promise<void>((resolve) => (mayCommit = resolve));
    let inserted!: () => void;
    const insertedFirst = new Promise<void>((resolve) => (inserted = resolve));
    const first = atomically(async () => {
      await TimelineEntry.create([
        { _id: 'race', incidentNumber: 1, at: new Date(), type: 'event' },
      ]);
      inserted();
      await open;
    });
    await insertedFirst;
    let attempts = 0;
    const second = atomically(async () => {
      // Its first attempt meets the open insert (a write conflict, transient); the next one
      // waits for the first to commit and then finds `race` taken.
      if (++attempts > 1) {
        mayCommit();
        await first;
      }
      await writeAtCommit(bump('race-counter'));
      await writeAtCommit(entry('race'));
    }).finally(mayCommit);
    const e = await second.catch((x: unknown) => x);
    console.log('ERR', (e as Error).message, JSON.stringify(e));
    await expect(second).rejects.toMatchObject({ code: 11000 });
    expect(attempts).toBe(2);
  });

  it('writes at once outside a transaction, with its check', async () => {
    const matched: number[] = [];
    await writeAtCommit(bump('outside', (m) => matched.push(m)));
    await writeAtCommit(bump('outside', (m) => matched.push(m)));
    expect(matched).toEqual([0, 1]);
    expect((await Counter.findById('outside').lean())?.seq).toBe(2);
  });
});
