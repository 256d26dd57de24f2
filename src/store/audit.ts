/**
 * Appending to and reading the audit chain, and who the current actor is.
 *
 * One chain for all processes: an entry is inserted with `_id = seq`, and a duplicate key
 * means another writer took that seq first, so we read its hash and try the next seq. Every
 * lookup on FerretDB is a scan of the collection, so the head is remembered in-process (and
 * hinted in the one-document `audit_head`), and a writer only reads the log when it lost a
 * race (then exactly the entry it lost to).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  chainEntry,
  type AuditActor,
  type AuditBody,
  type AuditEntry,
  type Json,
} from '../domain/audit.js';
import { isDuplicateKey } from './db.js';
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

let head: { seq: number; hash: string } | null | undefined; // undefined: not looked up yet
let tail: Promise<unknown> = Promise.resolve();

/** Forget the remembered head (a test switching databases, or after a restore). */
export function resetAuditHead(): void {
  head = undefined;
}

async function loadHead(): Promise<{ seq: number; hash: string } | null> {
  const hint = await AuditHead.findById('head').lean();
  if (hint) return { seq: hint.seq, hash: hint.hash };
  // No hint (first entry ever, or the hint was lost): one scan for the highest seq.
  const last = await AuditEntryModel.collection
    .find({}, { projection: { seq: 1, hash: 1 } })
    .sort({ _id: -1 })
    .limit(1)
    .next();
  return last ? { seq: last.seq as number, hash: last.hash as string } : null;
}

async function entryAt(seq: number): Promise<{ seq: number; hash: string } | null> {
  const doc = await AuditEntryModel.collection.findOne(
    { _id: seq as never },
    { projection: { seq: 1, hash: 1 } },
  );
  return doc ? { seq: doc.seq as number, hash: doc.hash as string } : null;
}

/** Appends within this process run one at a time: they would only race each other. */
export function appendAudit(
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
  const run = tail.then(() => insertNext(full));
  tail = run.catch(() => undefined);
  return run;
}

async function insertNext(body: AuditBody): Promise<AuditEntry> {
  if (head === undefined) head = await loadHead();
  for (;;) {
    const entry = chainEntry(head, body);
    try {
      await AuditEntryModel.collection.insertOne({ _id: entry.seq, ...entry } as never);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another process wrote this seq. Jump to its hint when that is further on (one small
      // read instead of one scan per entry it wrote), else continue from the entry we lost to.
      const hint = await AuditHead.findById('head').lean();
      const theirs =
        hint && hint.seq >= entry.seq
          ? { seq: hint.seq, hash: hint.hash }
          : await entryAt(entry.seq);
      if (!theirs) throw err; // cannot happen: a duplicate key means it exists
      head = theirs;
      continue;
    }
    head = { seq: entry.seq, hash: entry.hash };
    await moveHint(head);
    return entry;
  }
}

/** Best effort and only forward; a stale hint costs a probe, never a fork. */
async function moveHint(to: { seq: number; hash: string }): Promise<void> {
  try {
    await AuditHead.updateOne(
      { _id: 'head', seq: { $lt: to.seq } },
      { $set: { seq: to.seq, hash: to.hash } },
      { upsert: true },
    );
  } catch (err) {
    if (!isDuplicateKey(err)) throw err; // a newer hint exists: fine
  }
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
  // Two sorted finds rather than a $group: FerretDB implements neither $min nor $max there.
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

/** The head as last recorded by a writer (see moveHint). */
export async function auditHint(): Promise<{ seq: number; hash: string } | null> {
  const hint = await AuditHead.findById('head').lean();
  return hint ? { seq: hint.seq, hash: hint.hash } : null;
}

/**
 * Record the plan this process runs with, when it differs from the last one recorded: the
 * YAML text goes to `plan_versions` and the change to the audit log. Several processes
 * starting together record it once (the version's `_id` is the next number).
 */
export async function recordPlanVersion(plan: {
  fingerprint: string;
  version: number;
  text: string;
}): Promise<boolean> {
  for (;;) {
    const last = await PlanVersion.findOne({}, { fingerprint: 1 }).sort({ _id: -1 }).lean();
    if (last?.fingerprint === plan.fingerprint) return false;
    const n = (last?._id ?? 0) + 1;
    try {
      await PlanVersion.create({
        _id: n,
        fingerprint: plan.fingerprint,
        version: plan.version,
        text: plan.text,
        recordedAt: new Date(),
      });
    } catch (err) {
      if (isDuplicateKey(err)) continue; // another process recorded a version meanwhile
      throw err;
    }
    await appendAudit({
      action: 'plan-changed',
      subject: { type: 'plan', id: String(n) },
      changes: [
        {
          field: 'fingerprint',
          before: (last?.fingerprint ?? null) as Json,
          after: plan.fingerprint,
        },
      ],
      detail: { version: plan.version, planVersion: n },
    });
    return true;
  }
}
