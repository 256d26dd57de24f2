/**
 * The audit trail's tamper evidence: canonical JSON, entry hashes and chain verification.
 * Pure, so the same code that writes the chain (src/store/audit.ts) and `incidesk audit
 * verify` agree byte for byte on what was hashed.
 *
 * Each entry carries `seq` (1, 2, 3, …), `prevHash` (the previous entry's hash; GENESIS for
 * seq 1) and `hash = sha256(canonicalJson(entry without hash) + prevHash)`. Changing any
 * field breaks that entry's hash; deleting or reordering entries breaks the seq run or the
 * prevHash link of the next entry.
 */
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

export type ActorKind = 'agent' | 'customer' | 'worker' | 'operator' | 'system';

export interface AuditActor {
  kind: ActorKind;
  /** Agent email, customer address, worker/queue name, operator name or 'incidesk'. */
  id: string;
}

/** A JSON value as it is stored and hashed (Dates are ISO strings by then). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface AuditBody {
  /** ISO 8601 UTC; string so the stored form and the hashed form are the same thing. */
  at: string;
  actor: AuditActor;
  /** What happened: incident-opened, incident-changed, command-refused, plan-changed, … */
  action: string;
  subject: { type: 'incident' | 'plan'; id: string };
  /** Why: the command, job or message that caused it. */
  why: string;
  /**
   * Only the fields that changed. A list, not an object keyed by path: dotted paths
   * ("sla.resolution") cannot be field names in MongoDB documents.
   */
  changes: FieldChange[];
  detail?: { [key: string]: Json };
  /** The id it was recorded under before it was sealed (entries sealed since pending existed). */
  entryId?: string;
}

export interface FieldChange {
  field: string;
  before: Json;
  after: Json;
}

export interface AuditEntry extends AuditBody {
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * JSON with object keys sorted at every depth, no whitespace, `undefined` members dropped
 * and Dates as ISO strings: one text per value, whatever order it was built in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(toJson(value));
}

/** The stored and hashed form of a value: plain JSON, keys sorted. */
export function toJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : toJson(v)));
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'object': {
      // ObjectId, Buffer and other objects with their own text form.
      const proto = Object.getPrototypeOf(value) as object | null;
      if (proto !== Object.prototype && proto !== null && 'toHexString' in value)
        return (value as { toHexString(): string }).toHexString();
      const out: { [key: string]: Json } = {};
      for (const key of Object.keys(value).sort()) {
        const v = (value as Record<string, unknown>)[key];
        if (v !== undefined) out[key] = toJson(v);
      }
      return out;
    }
    default:
      return null;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The hash of an entry: everything but `hash` itself (and a store's `_id`), then prevHash. */
export function entryHash(entry: Omit<AuditEntry, 'hash'> & { hash?: string }): string {
  const { hash: _hash, _id, ...rest } = entry as AuditEntry & { _id?: unknown };
  void _hash;
  void _id;
  return sha256(canonicalJson(rest) + entry.prevHash);
}

/** The entry that follows `prev` (null: the first entry of the chain). */
export function chainEntry(
  prev: { seq: number; hash: string } | null,
  body: AuditBody,
): AuditEntry {
  const unsealed = {
    ...(toJson(body) as unknown as AuditBody),
    seq: (prev?.seq ?? 0) + 1,
    prevHash: prev?.hash ?? GENESIS_HASH,
  };
  return { ...unsealed, hash: entryHash(unsealed) };
}

export type ChainBreak = {
  seq: number;
  problem: 'hash' | 'prev-hash' | 'gap' | 'order';
  expected: string;
  found: string;
};

/**
 * Walks entries in stored order and reports the first broken link, or null when intact.
 * `from` is the link the first entry must continue (for verifying a slice, e.g. an export).
 */
export class ChainVerifier {
  private prev: { seq: number; hash: string } | null;
  count = 0;
  constructor(from: { seq: number; hash: string } | null = null) {
    this.prev = from;
  }

  /** Feed the next entry; returns the break it reveals, if any. */
  next(entry: AuditEntry): ChainBreak | null {
    const expectedSeq = (this.prev?.seq ?? 0) + 1;
    if (entry.seq !== expectedSeq) {
      return {
        seq: expectedSeq,
        problem: entry.seq > expectedSeq ? 'gap' : 'order',
        expected: `seq ${expectedSeq}`,
        found: `seq ${entry.seq}`,
      };
    }
    const expectedPrev = this.prev?.hash ?? GENESIS_HASH;
    if (entry.prevHash !== expectedPrev)
      return {
        seq: entry.seq,
        problem: 'prev-hash',
        expected: expectedPrev,
        found: entry.prevHash,
      };
    const recomputed = entryHash(entry);
    if (recomputed !== entry.hash)
      return { seq: entry.seq, problem: 'hash', expected: recomputed, found: entry.hash };
    this.prev = { seq: entry.seq, hash: entry.hash };
    this.count++;
    return null;
  }

  get head(): { seq: number; hash: string } | null {
    return this.prev;
  }
}

/** Verify a whole list (tests, exports); the first break or null. */
export function verifyChain(
  entries: Iterable<AuditEntry>,
  from: { seq: number; hash: string } | null = null,
): ChainBreak | null {
  const v = new ChainVerifier(from);
  for (const e of entries) {
    const broken = v.next(e);
    if (broken) return broken;
  }
  return null;
}

/**
 * The changed fields of an update: for each `$set` path, before → after, only where the value
 * really differs (compared in canonical form).
 */
export function changedFields(
  before: Record<string, unknown> | null,
  set: Record<string, unknown>,
): FieldChange[] {
  const out: FieldChange[] = [];
  for (const [field, after] of Object.entries(set)) {
    const was = before ? getPath(before, field) : undefined;
    if (canonicalJson(was) !== canonicalJson(after))
      out.push({ field, before: toJson(was), after: toJson(after) });
  }
  return out;
}

export function getPath(doc: Record<string, unknown>, path: string): unknown {
  let cur: unknown = doc;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * A document with a `$set` (dotted paths allowed) applied, without touching the input: what
 * the store holds after the update, computed from the document the update returned as it
 * was before, so one round trip gives both (the audit trail needs both).
 */
export function applySet<T extends Record<string, unknown>>(
  doc: T,
  set: Record<string, unknown>,
): T {
  // Copies only along the paths it sets, so other values (ObjectIds, Buffers) stay as they are.
  const out: Record<string, unknown> = { ...doc };
  for (const [path, value] of Object.entries(set)) {
    const keys = path.split('.');
    let cur = out;
    for (const key of keys.slice(0, -1)) {
      const next = cur[key];
      cur[key] = next !== null && typeof next === 'object' ? { ...(next as object) } : {};
      cur = cur[key] as Record<string, unknown>;
    }
    cur[keys[keys.length - 1]!] = value;
  }
  return out as T;
}

/** One CSV line per entry for auditors' spreadsheets (the JSON columns keep it lossless). */
export const CSV_HEADER =
  'seq,at,actor_kind,actor_id,action,subject_type,subject_id,why,changes,detail,prev_hash,hash';

export function csvLine(e: AuditEntry): string {
  const cell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [
    String(e.seq),
    e.at,
    e.actor.kind,
    e.actor.id,
    e.action,
    e.subject.type,
    e.subject.id,
    e.why,
    canonicalJson(e.changes),
    e.detail ? canonicalJson(e.detail) : '',
    e.prevHash,
    e.hash,
  ]
    .map(cell)
    .join(',');
}
