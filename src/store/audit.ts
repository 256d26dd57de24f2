/**
 * Appending to and reading the audit chain, and who the current actor is.
 *
 * One chain for all processes, kept in the database only: an entry is inserted with
 * `_id = seq` after the highest one, so two writers can never both take a seq, and the
 * one-document `audit_head` records how far the chain reached.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ChainVerifier,
  chainEntry,
  type ChainBreak,
  type AuditActor,
  type AuditBody,
  type AuditEntry,
  type Json,
} from '../domain/audit.js';
import { atomically, currentSession, isDuplicateKey } from './db.js';
import { AuditEntryModel, AuditHead, PlanVersion } from './models.js';

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

/**
 * Append an entry to the chain. Inside a transaction (see `atomically`) it commits together
 * with the change it records; two transactions appending at once both write the next seq and
 * the head, the server reports a write conflict to one of them, and that one reruns whole. On
 * a standalone server the unique `_id` decides: the loser of a seq reads on from it.
 */
export async function appendAudit(
  body: Omit<AuditBody, 'at' | 'actor' | 'why'> &
    Partial<Pick<AuditBody, 'actor' | 'why'>> & { at?: Date },
): Promise<AuditEntry> {
  const ctx = currentActor();
  const full: AuditBody = {
    ...body,
    at: (body.at ?? new Date()).toISOString(),
    actor: body.actor ?? ctx.actor,
    why: body.why ?? ctx.why,
  };
  let prev = await lastEntry();
  for (;;) {
    const entry = chainEntry(prev, full);
    try {
      await AuditEntryModel.collection.insertOne({ _id: entry.seq, ...entry } as never, {
        session: currentSession(),
      });
    } catch (err) {
      // Only outside a transaction: inside one, a racing append is a write conflict.
      if (!isDuplicateKey(err)) throw err;
      prev = await lastEntry();
      continue;
    }
    await moveHead(entry);
    return entry;
  }
}

/**
 * Record the head (for `audit verify` to notice entries cut off the end), only forward: a
 * slower writer outside a transaction never moves it back.
 */
async function moveHead(to: { seq: number; hash: string }): Promise<void> {
  const moved = await AuditHead.updateOne(
    { _id: 'head', seq: { $lt: to.seq } },
    { $set: { seq: to.seq, hash: to.hash } },
  );
  if (moved.matchedCount > 0) return;
  // No head yet (the first entry ever). An upsert on `_id` alone never fails on a duplicate
  // key, so it is safe inside a transaction too.
  await AuditHead.updateOne(
    { _id: 'head' },
    { $setOnInsert: { seq: to.seq, hash: to.hash } },
    { upsert: true },
  );
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
