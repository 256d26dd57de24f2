import { AsyncLocalStorage } from 'node:async_hooks';
import mongoose from 'mongoose';
import { SHARED_CALL_MAX_ITEMS } from '../constants.js';
import { MicroBatcher } from '../micro-batch.js';
import { ALL_MODELS } from './models.js';

/** Whether the connected server runs multi-document transactions (a replica set or mongos). */
let transactions = false;
/** Whether it takes writes to several collections in one command (`bulkWrite`, MongoDB 8.0). */
let writesAcrossCollections = false;

/** Connect the process-wide mongoose connection and make sure every index exists. */
export async function connectStore(
  uri: string,
  {
    timeoutMs = 10_000,
    acrossCollections = true,
  }: {
    timeoutMs?: number;
    /** False: one command per collection written even where the server takes them in one. */
    acrossCollections?: boolean;
  } = {},
): Promise<typeof mongoose> {
  mongoose.set('strictQuery', true);
  // Every model operation inside `atomically` joins its transaction without passing a session.
  mongoose.set('transactionAsyncLocalStorage', true);
  // Primary whatever MONGODB_URI says: each step reads what the step before it just wrote,
  // and transactions refuse any other read preference. (Options here override the URI's.)
  await mongoose.connect(uri, { serverSelectionTimeoutMS: timeoutMs, readPreference: 'primary' });
  const hello = await db().admin().command({ hello: 1 });
  // A standalone server has no transactions; a replica set member (setName) or mongos has.
  transactions = typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
  writesAcrossCollections =
    acrossCollections && Number(hello.maxWireVersion) >= BULK_WRITE_WIRE_VERSION;
  // Unique indexes carry the idempotency guarantees, so they must exist before any write.
  for (const model of ALL_MODELS) await model.createIndexes();
  return mongoose;
}

/** The wire version of MongoDB 8.0, the first with the `bulkWrite` command. */
const BULK_WRITE_WIRE_VERSION = 25;

export function hasTransactions(): boolean {
  return transactions;
}

export async function disconnectStore(): Promise<void> {
  await mongoose.disconnect();
}

export function db() {
  const handle = mongoose.connection.db;
  if (!handle) throw new Error('store is not connected');
  return handle;
}

type TransactionContext = AsyncLocalStorage<{ session?: mongoose.ClientSession }>;

/** Where mongoose's models find the session of the transaction they run in (connectStore). */
const transactionContext = () =>
  (mongoose as { transactionAsyncLocalStorage?: TransactionContext }).transactionAsyncLocalStorage;

/** The session of the transaction this code runs in, for driver calls (models join by themselves). */
export function currentSession(): mongoose.ClientSession | undefined {
  return transactionContext()?.getStore()?.session;
}

/**
 * Run `fn` as one transaction, so its writes commit together or not at all; nested calls join
 * the outer one. A transient conflict (another transaction wrote the same document) reruns
 * `fn` from the start. On a standalone server there are no transactions: `fn` runs as it
 * stands, so it must be safe to repeat after a crash (every caller's writes are idempotent).
 */
export async function atomically<T>(fn: () => Promise<T>): Promise<T> {
  if (!transactions || currentSession()) return fn();
  let hooks: (() => void)[] = [];
  // Every read is from the primary, where causal consistency adds nothing; without it a rerun
  // after a write conflict starts with no `afterClusterTime`, which SecantusDB refuses on a
  // transaction's first command when that is a `bulkWrite` (MongoDB takes it).
  const session = await mongoose.connection.startSession({ causalConsistency: false });
  try {
    const result = await session.withTransaction(() =>
      transactionContext()!.run({ session }, async () => {
        // Each attempt starts afresh: what an aborted attempt wrote never happened.
        hooks = [];
        onCommit.set(session, hooks);
        const held: HeldWrite[] = [];
        heldWrites.set(session, held);
        const value = await fn();
        heldWrites.delete(session);
        await writeAll(held);
        return value;
      }),
    );
    for (const hook of hooks) hook();
    return result;
  } finally {
    await session.endSession().catch(() => undefined);
  }
}

/** Writes to one collection, as for `Model.bulkWrite`, with what to make of their outcome. */
export interface HeldWrite {
  /** A model, whose schema casts the ops, or a collection, which takes them as they are. */
  into: mongoose.Model<AnyDocument> | mongoose.mongo.Collection<AnyDocument>;
  ops: mongoose.AnyBulkWriteOperation<AnyDocument>[];
  /** Look at what the ops did once written (a guard's outcome); throwing undoes the change. */
  check?: (done: WriteCounts) => void;
  /** The error to throw for a write error of these ops instead (a lost compare-and-set). */
  failure?: (err: unknown) => Error;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a held write is for any collection
type AnyDocument = any;

/** The current transaction's session as a write's option (none outside one). */
function inTransaction(): { session?: mongoose.ClientSession } {
  const session = currentSession();
  return session ? { session } : {};
}

const isModel = (into: HeldWrite['into']): into is mongoose.Model<AnyDocument> =>
  typeof into === 'function';

/** What a held write's ops did: documents matched (not upserted) and upserted. */
export interface WriteCounts {
  matched: number;
  upserted: number;
}

/** The writes each running transaction holds until it ends (see writeAtCommit). */
const heldWrites = new WeakMap<mongoose.ClientSession, HeldWrite[]>();

/**
 * Write `w` as part of the transaction this code runs in, when it ends: the writes a
 * transaction holds go to the server together, as one `bulkWrite` command across collections
 * where the server has it (MongoDB 8.0) and one command per held write where not, so a
 * transaction that writes five collections costs two round trips (writes and commit), not
 * six. Nothing later in the transaction can read a held write: only for writes that nothing
 * in it reads back (entries, claims, mail to send). Outside a transaction it is written now.
 */
export async function writeAtCommit(w: HeldWrite): Promise<void> {
  const session = currentSession();
  const held = session && heldWrites.get(session);
  if (held) held.push(w);
  else await writeAll([w]);
}

/**
 * Held writes in their order: one command for all where the server can (and they are all
 * models' or all collections', as one command is cast by mongoose or not at all), else one
 * each.
 */
async function writeAll(writes: readonly HeldWrite[]): Promise<void> {
  const some = writes.filter((w) => w.ops.length > 0);
  const cast = some.filter((w) => isModel(w.into)).length;
  if (some.length > 1 && writesAcrossCollections && (cast === 0 || cast === some.length))
    return writeAcrossCollections(some);
  for (const w of some) {
    let res: mongoose.mongo.BulkWriteResult;
    try {
      // A model finds the transaction's session by itself; a collection is given it.
      res = await w.into.bulkWrite(w.ops, { ordered: true, ...inTransaction() });
    } catch (err) {
      throw w.failure?.(err) ?? err;
    }
    w.check?.({ matched: res.matchedCount, upserted: res.upsertedCount });
  }
}

/** Held writes as one `bulkWrite` command (ordered: the first failure stops it). */
async function writeAcrossCollections(writes: readonly HeldWrite[]): Promise<void> {
  const owner: HeldWrite[] = [];
  const ops = writes.flatMap((w) =>
    w.ops.map((op) => {
      owner.push(w);
      const [name, body] = Object.entries(op)[0]!;
      return isModel(w.into)
        ? { model: w.into, name, ...body }
        : { namespace: `${db().databaseName}.${w.into.collectionName}`, name, ...body };
    }),
  );
  const verbose = writes.some((w) => w.check);
  const options = { ordered: true, verboseResults: verbose, ...inTransaction() };
  let res: mongoose.mongo.ClientBulkWriteResult;
  try {
    res = isModel(writes[0]!.into)
      ? await mongoose.connection.bulkWrite(ops as never, options)
      : await mongoose.connection.getClient().bulkWrite(ops as never, options);
  } catch (err) {
    throw asCallersKnowIt(err, owner);
  }
  if (!verbose) return;
  const counts = new Map(writes.map((w) => [w, { matched: 0, upserted: 0 }]));
  owner.forEach((w, i) => {
    const done = counts.get(w)!;
    const updated = res.updateResults?.get(i);
    if (updated?.didUpsert) done.upserted++;
    else if (updated) done.matched += updated.matchedCount;
  });
  for (const w of writes) w.check?.(counts.get(w)!);
}

/**
 * An error of a cross-collection `bulkWrite` as callers know errors. A failure of the command
 * itself comes as the server gave it: the driver wraps it, and the wrapper lacks its labels,
 * such as the TransientTransactionError of a write conflict that has the transaction run
 * again. A write error comes as the error of that one write (with its `code`, so a duplicate
 * key is told the usual way), or as its held write's `failure`.
 */
function asCallersKnowIt(err: unknown, owner: readonly HeldWrite[]): unknown {
  if (!(err instanceof mongoose.mongo.MongoClientBulkWriteError)) return err;
  if (err.writeErrors.size === 0) return err.cause ?? err;
  const index = Math.min(...err.writeErrors.keys());
  const { code, message } = err.writeErrors.get(index)!;
  const error = Object.assign(new Error(message), { code, cause: err });
  return owner[index]!.failure?.(error) ?? error;
}

/**
 * A store call that concurrent callers in this process share (group commit): the calls made
 * in the same turn of the event loop, or while the previous round of the same call runs, go
 * to the server together as one `run` (one result per item, in order), so eight jobs doing the
 * same step at once cost one round trip, not eight, and a call alone waits for nothing. A
 * round that fails runs each of its calls alone (`MicroBatcher`), so a bad item fails only its
 * own caller. A call made inside a transaction runs alone, in it: a shared round runs outside
 * any caller's transaction.
 */
export function sharedCall<T, R>(
  name: string,
  run: (items: T[]) => Promise<R[]>,
): (item: T) => Promise<R> {
  const batcher = new MicroBatcher(run, { maxItems: SHARED_CALL_MAX_ITEMS });
  sharedCalls.set(name, batcher);
  return async (item) => (currentSession() ? (await run([item]))[0]! : batcher.add(item));
}

/** The process's shared calls by name, so a round that never ends can be named (sharedRounds). */
const sharedCalls = new Map<string, { state(): { runningMs: number; waiting: number } }>();

/**
 * The shared calls whose current round has run for at least `minMs`: every later call of the
 * same name waits behind such a round, so one that hangs stalls all the jobs that need it.
 */
export function sharedRounds(
  minMs: number,
): { name: string; runningMs: number; waiting: number }[] {
  return [...sharedCalls]
    .map(([name, batcher]) => ({ name, ...batcher.state() }))
    .filter((r) => r.runningMs >= minMs && r.runningMs > 0);
}

/**
 * A `$set` on one document by id that concurrent callers share (`sharedCall`): one unordered
 * `bulkWrite` a round. Each update touches only its own document, so a round that fails runs
 * again call by call and an error reaches only the caller it belongs to.
 */
export function sharedSetById(model: {
  modelName: string;
  bulkWrite(ops: mongoose.AnyBulkWriteOperation[], options: { ordered: false }): Promise<unknown>;
}): (id: string, fields: Record<string, unknown>) => Promise<void> {
  const setAll = sharedCall(
    `${model.modelName}.set`,
    async (sets: { id: string; fields: Record<string, unknown> }[]) => {
      await model.bulkWrite(
        sets.map(({ id, fields }) => ({
          updateOne: { filter: { _id: id }, update: { $set: fields } },
        })),
        { ordered: false },
      );
      return sets.map(() => undefined);
    },
  );
  return (id, fields) => setAll({ id, fields });
}

/** What to run once the current attempt of each transaction commits (see afterCommit). */
const onCommit = new WeakMap<mongoose.ClientSession, (() => void)[]>();

/**
 * Run `hook` once what was just written is committed: at once outside a transaction (on a
 * server without transactions each write stands alone), else after the transaction commits,
 * and never if it aborts. For what a process keeps in memory about the database, which must
 * never run ahead of it.
 */
export function afterCommit(hook: () => void): void {
  const session = currentSession();
  if (!session) return hook();
  // A transaction not begun by `atomically` has no list: the hook is dropped (never ahead).
  onCommit.get(session)?.push(hook);
}

/**
 * Where stored dates start: the lower bound of a date range on an indexed field that is null
 * when nothing is due (`slaCheckAt`, `protocolCheckAt`). MongoDB bounds a comparison with a
 * date to dates by itself; SecantusDB walks and decodes every null entry of the index unless
 * the range says where the dates begin.
 */
export const EARLIEST = new Date(0);

export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

/**
 * Which documents of an unordered insert of `count` failed as duplicate keys, by index,
 * ascending; null when anything else failed. (An insert of one document may report its
 * duplicate as the error itself, without a list of write errors.)
 */
export function duplicateKeyFailures(err: unknown, count: number): number[] | null {
  type WriteFailure = { index: number; code?: number };
  const listed = (err as { writeErrors?: WriteFailure[] | WriteFailure }).writeErrors;
  if (listed === undefined) return count === 1 && isDuplicateKey(err) ? [0] : null;
  const failures = [listed].flat();
  if (failures.length === 0 || !failures.every(isDuplicateKey)) return null;
  return failures.map((e) => e.index).sort((a, b) => a - b);
}
