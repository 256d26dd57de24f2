/**
 * Appending to and reading the audit chain, and who the current actor is.
 *
 * One chain for all processes, kept in the database only. Writers record entries as pending
 * (`appendAudit`); a sealer links them into the chain (`sealAudit`), each inserted with
 * `_id = seq` after the highest one, so two sealers can never both take a seq, and the
 * one-document `audit_head` records how far the chain reached.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { ObjectId } from 'mongodb';
import {
  ChainVerifier,
  chainEntry,
  toJson,
  type ChainBreak,
  type AuditActor,
  type AuditBody,
  type AuditEntry,
  type Json,
} from '../domain/audit.js';
import {
  atomically,
  currentSession,
  duplicateKeyFailures,
  isDuplicateKey,
  writeAtCommit,
} from './db.js';
import { AuditEntryModel, AuditHead, AuditPending, PlanVersion } from './models.js';

export interface AuditContext {
  actor: AuditActor;
  why: string;
}

const current = new AsyncLocalStorage<AuditContext>();
let processDefault: AuditContext = { actor: { kind: 'system', id: 'incidesk' }, why: 'system' };

/** Run `fn` with changes attributed to `actor` because of `why` (nests: the innermost wins). */
export function withActor<T>(actor: AuditActor, why: string, fn: () => T): T {
  return current.run({ actor, why }, fn);
}

/** Who acts when nobody more specific does (the CLI operator, for a CLI process). */
export function setDefaultActor(actor: AuditActor, why: string): void {
  processDefault = { actor, why };
}

export function currentActor(): AuditContext {
  return current.getStore() ?? processDefault;
}

/** The highest entry: the end of the `_id` index, one short read whatever the chain's length. */
async function lastEntry(): Promise<{ seq: number; hash: string } | null> {
  const last = await AuditEntryModel.collection
    .find({}, { projection: { seq: 1, hash: 1 }, session: currentSession() })
    .sort({ _id: -1 })
    .limit(1)
    .next();
  return last ? { seq: last.seq as number, hash: last.hash as string } : null;
}

export type AuditInput = Omit<AuditBody, 'at' | 'actor' | 'why'> &
  Partial<Pick<AuditBody, 'actor' | 'why'>> & {
    at?: Date;
    /**
     * The recorded change's stable name, for an entry that may be recorded again: a rerun
     * after a crash on a server without transactions, which cannot tell whether the first run
     * got as far as the entry. Recorded under the same key, it is kept once.
     */
    key?: string;
  };

/**
 * Record an entry. Inside a transaction (see `atomically`) it commits together with the change
 * it records. It goes to `audit_pending` under its own id, so writers never wait for or
 * contend over the chain's next seq; `sealAudit` links entries into the chain a batch at a
 * time, within a second (or at the end of a CLI command).
 */
export async function appendAudit(body: AuditInput): Promise<void> {
  await appendAudits([body]);
}

/** Record several entries in one command (a change and what came with it), in this order. */
export async function appendAudits(bodies: readonly AuditInput[]): Promise<void> {
  if (bodies.length === 0) return;
  const ctx = currentActor();
  const session = currentSession();
  const docs = bodies.map(({ key, at = new Date(), ...body }) => {
    const entry: AuditBody = {
      ...body,
      at: at.toISOString(),
      actor: body.actor ?? ctx.actor,
      why: body.why ?? ctx.why,
    };
    const json = toJson(entry) as { [field: string]: Json };
    return key ? { _id: keyedId(at, key), ...json } : json;
  });
  // In a transaction, written with its change at the end (a duplicate aborts it: the caller's
  // rerun decides).
  if (session) {
    await writeAtCommit({
      into: AuditPending,
      ops: docs.map((document) => ({ insertOne: { document } })),
    });
    return;
  }
  // Unordered: the sealer orders entries by id, and a keyed entry that is there already must
  // not keep the others out.
  await AuditPending.collection
    .insertMany(docs as never[], { ordered: false })
    .catch((err: unknown) => {
      // A keyed entry recorded before and still pending is kept once. (One sealed since is
      // inserted again and dropped by the sealer, which finds its id in the chain.)
      if (!duplicateKeyFailures(err, docs.length)) throw err;
    });
}

/**
 * A keyed entry's pending id: the time of the change, as any ObjectId starts (so the sealer's
 * order by id stays the order of time), then 8 bytes of the key's hash instead of a counter.
 */
function keyedId(at: Date, key: string): ObjectId {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32BE(Math.floor(at.getTime() / 1000));
  createHash('sha256').update(key).digest().copy(bytes, 4, 0, 8);
  return new ObjectId(bytes);
}

/** Pending entries linked into the chain per round (one insertMany, one deleteMany). */
const SEAL_BATCH = 500;

/**
 * Link every pending entry into the chain, oldest first; returns how many. Safe in any number
 * of processes at once and across a kill at any point: seqs are unique `_id`s and each entry's
 * `entryId` is unique, so a second sealer fails on a duplicate key and reads on, and an entry
 * sealed by a run that died before clearing it from `audit_pending` is cleared, not sealed
 * again.
 */
export async function sealAudit(): Promise<number> {
  let sealed = 0;
  for (;;) {
    const pending = await AuditPending.collection
      .find({})
      .sort({ _id: 1 })
      .limit(SEAL_BATCH)
      .toArray();
    if (pending.length === 0) return sealed;
    const ids = pending.map((p) => p._id);
    let prev = await lastEntry();
    const entries = pending.map(({ _id, ...body }) => {
      prev = chainEntry(prev, { ...(body as unknown as AuditBody), entryId: String(_id) });
      return prev as AuditEntry;
    });
    try {
      // The chain's new entries, the pending ones cleared and the head moved: one command
      // with a server that takes writes across collections (`writeAtCommit`), then the commit.
      await atomically(async () => {
        await writeAtCommit({
          into: AuditEntryModel.collection,
          ops: entries.map((e) => ({ insertOne: { document: { _id: e.seq, ...e } } })),
        });
        await writeAtCommit({
          into: AuditPending.collection,
          ops: [{ deleteMany: { filter: { _id: { $in: ids } } } }],
        });
        await moveHead(entries.at(-1)!);
      });
      sealed += entries.length;
    } catch (err) {
      // Another sealer took these seqs first, or sealed some of these entries and died before
      // clearing them: clear what is sealed already, then read on from where the chain got to.
      if (!isDuplicateKey(err)) throw err;
      await clearSealed(ids);
      continue;
    }
    // A short batch was all there was: no need to ask again until the next round.
    if (pending.length < SEAL_BATCH) return sealed;
  }
}

/** Drop from `audit_pending` the entries that are in the chain already. */
async function clearSealed(ids: ObjectId[]): Promise<void> {
  const done = await AuditEntryModel.collection
    .find({ entryId: { $in: ids.map(String) } }, { projection: { entryId: 1 } })
    .toArray();
  if (done.length === 0) return;
  const sealedIds = new Set(done.map((e) => e.entryId as string));
  await AuditPending.collection.deleteMany({
    _id: { $in: ids.filter((id) => sealedIds.has(String(id))) },
  } as never);
}

/**
 * Seal pending entries every `everyMs` until stopped (and once more on stop), so the chain
 * stays current whichever process wrote them.
 */
export function startAuditSealer(everyMs: number, onError: (err: Error) => void) {
  let running: Promise<unknown> | null = null;
  const tick = () => {
    running ??= sealAudit()
      .catch(onError)
      .finally(() => (running = null));
  };
  const timer = setInterval(tick, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await sealAudit().catch(onError);
    },
  };
}

/**
 * Record the head (for `audit verify` to notice entries cut off the end), only forward: a
 * slower writer outside a transaction never moves it back.
 */
async function moveHead(to: { seq: number; hash: string }): Promise<void> {
  const head = { seq: to.seq, hash: to.hash };
  await writeAtCommit({
    into: AuditHead.collection,
    ops: [
      { updateOne: { filter: { _id: 'head', seq: { $lt: to.seq } }, update: { $set: head } } },
      // No head yet (the first entry ever): an upsert on `_id` alone, which never fails on a
      // duplicate key, so it is safe inside a transaction too. A head there already (moved
      // just above, or further by another sealer) stays as it is.
      {
        updateOne: { filter: { _id: 'head' }, update: { $setOnInsert: head }, upsert: true },
      },
    ],
  });
}

/** The chain in seq order (optionally a seq range), streamed: one scan, whatever its length. */
export function auditCursor(range: { fromSeq?: number; toSeq?: number } = {}) {
  const seq: Record<string, number> = {};
  if (range.fromSeq !== undefined) seq.$gte = range.fromSeq;
  if (range.toSeq !== undefined) seq.$lte = range.toSeq;
  return AuditEntryModel.collection
    .find(Object.keys(seq).length ? { _id: seq as never } : {}, { projection: { _id: 0 } })
    .sort({ _id: 1 })
    .batchSize(2000) as unknown as AsyncIterable<AuditEntry>;
}

/** First and last seq of the entries written in [fromIso, toIso). */
export async function auditSeqRange(
  fromIso: string,
  toIso: string,
): Promise<{ first: number; last: number } | null> {
  // Two sorted finds on the `_id` index: each stops at the first entry in range.
  const inRange = { at: { $gte: fromIso, $lt: toIso } };
  const edge = (dir: 1 | -1) =>
    AuditEntryModel.collection
      .find(inRange, { projection: { seq: 1 } })
      .sort({ _id: dir })
      .limit(1)
      .next();
  const [first, last] = await Promise.all([edge(1), edge(-1)]);
  return first && last ? { first: first.seq as number, last: last.seq as number } : null;
}

/** The head as last recorded by a writer (see moveHead). */
export async function auditHint(): Promise<{ seq: number; hash: string } | null> {
  const hint = await AuditHead.findById('head').lean();
  return hint ? { seq: hint.seq, hash: hint.hash } : null;
}

/** Who approved a plan version at its annual review, and what they noted. */
export interface PlanApproval {
  approvedBy: string;
  approvedAt: Date;
  note: string;
}

/**
 * Record the plan this process runs with, when it differs from the last one recorded: the
 * YAML text goes to `plan_versions` and the change to the audit log. Several processes
 * starting together record it once (the version's `_id` is the next number). A version made
 * by an annual review carries its approval, in the version and in the audit entry.
 */
export async function recordPlanVersion(
  plan: { fingerprint: string; version: number; text: string },
  approval?: PlanApproval,
): Promise<boolean> {
  for (;;) {
    try {
      return await atomically(() => recordIfChanged(plan, approval));
    } catch (err) {
      // Outside a transaction: another process recorded a version meanwhile; look again.
      if (!isDuplicateKey(err)) throw err;
    }
  }
}

/** The version and its audit entry, committed together. */
async function recordIfChanged(
  plan: { fingerprint: string; version: number; text: string },
  approval?: PlanApproval,
) {
  const last = await PlanVersion.findOne({}, { fingerprint: 1 }).sort({ _id: -1 }).lean();
  if (last?.fingerprint === plan.fingerprint) return false;
  const n = (last?._id ?? 0) + 1;
  await PlanVersion.create({
    _id: n,
    fingerprint: plan.fingerprint,
    version: plan.version,
    text: plan.text,
    recordedAt: new Date(),
    ...approval,
  });
  await appendAudit({
    action: approval ? 'plan-reviewed' : 'plan-changed',
    subject: { type: 'plan', id: String(n) },
    changes: [
      {
        field: 'fingerprint',
        before: (last?.fingerprint ?? null) as Json,
        after: plan.fingerprint,
      },
    ],
    detail: {
      version: plan.version,
      planVersion: n,
      ...(approval
        ? {
            approvedBy: approval.approvedBy,
            approvedAt: approval.approvedAt.toISOString(),
            note: approval.note,
          }
        : {}),
    },
  });
  return true;
}

/** Every recorded plan version, oldest first, without its text. */
export async function planVersions() {
  return PlanVersion.find({}, { text: 0 }).sort({ _id: 1 }).lean();
}

/** The plan version recorded last: the one the service started with most recently. */
export async function latestPlanVersion() {
  return PlanVersion.findOne({}).sort({ _id: -1 }).lean();
}

export type ChainCheck =
  | { intact: true; entries: number; head: { seq: number; hash: string } | null }
  | { intact: false; entries: number; broken: ChainBreak };

/**
 * The whole chain checked link by link, in one scan; entries cut off the end leave an intact
 * but shorter chain, which the head hint (moved by every writer) reveals.
 */
export async function checkAuditChain(): Promise<ChainCheck> {
  await sealAudit(); // what was recorded up to now, whether a service is running or not
  const v = new ChainVerifier();
  for await (const entry of auditCursor()) {
    const broken = v.next(entry);
    if (broken) return { intact: false, entries: v.count, broken };
  }
  const hint = await auditHint();
  const head = v.head;
  if (hint && hint.seq > (head?.seq ?? 0))
    return {
      intact: false,
      entries: v.count,
      broken: {
        seq: (head?.seq ?? 0) + 1,
        problem: 'gap',
        expected: `entries up to seq ${hint.seq}`,
        found: `the chain ends at seq ${head?.seq ?? 0}`,
      },
    };
  return { intact: true, entries: v.count, head: head ?? null };
}
