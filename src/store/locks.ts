/**
 * Write locks on shared documents (incidents, known errors, sender addresses).
 *
 * FerretDB (v1) applies an update by reading the document, changing it in memory and writing
 * all of it back, with nothing in between to stop another writer: two processes updating one
 * document at once can lose one of the updates, and a conditional update ("only while it is
 * triaged") can pass for both. MongoDB applies each update atomically; incidesk runs on
 * either, so every write to a document that several writers share holds that document's
 * lock for the length of the write. The lock lives in Redis, which every incidesk process
 * already shares. Without Redis (a tool run against the database alone) the lock covers this
 * process only.
 */
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { Redis } from 'ioredis';

/**
 * A holder renews its lock while it writes, so a write may take as long as it needs (a scan
 * of a large collection on FerretDB), while the lock of a killed holder expires in seconds.
 */
const LOCK_TTL_MS = 10_000;
const RENEW_EVERY_MS = 3_000;
/** How long a writer waits for the lock before its job fails (and is retried). */
const WAIT_LIMIT_MS = 300_000;

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;

let redisUrl: string | undefined;
let client: Redis | undefined;
/** Writers in this process, per lock key, chained so they take the Redis lock one by one. */
const local = new Map<string, Promise<unknown>>();

/** Use Redis at `url` for the locks from now on (connected on first use). */
export function useRedisLocks(url: string | undefined): void {
  redisUrl = url;
}

export async function closeLocks(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) await c.quit().catch(() => c.disconnect());
}

function redis(): Redis | undefined {
  if (!redisUrl) return undefined;
  client ??= new Redis(redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 10_000 });
  return client;
}

/** Run `write` while holding the lock on incident `number` of the connected database. */
export function withIncidentLock<T>(number: number, write: () => Promise<T>): Promise<T> {
  return withDocumentLock(`incident:${number}`, write);
}

/** Run `write` while holding the lock named `what` (e.g. `known-error:3`) of the database. */
export async function withDocumentLock<T>(what: string, write: () => Promise<T>): Promise<T> {
  const key = `incidesk:lock:${mongoose.connection.name}:${what}`;
  const previous = local.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => holdingRedisLock(key, write));
  local.set(key, run);
  try {
    return await run;
  } finally {
    if (local.get(key) === run) local.delete(key);
  }
}

async function holdingRedisLock<T>(key: string, write: () => Promise<T>): Promise<T> {
  const r = redis();
  if (!r) return write();
  const token = randomUUID();
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while ((await r.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new Error(`${key} is still held after ${WAIT_LIMIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 8));
  }
  const renew = setInterval(() => {
    r.eval(RENEW, 1, key, token, LOCK_TTL_MS).catch(() => undefined);
  }, RENEW_EVERY_MS);
  try {
    return await write();
  } finally {
    clearInterval(renew);
    // Unreleased (Redis gone), the lock lapses by itself: the write's outcome stands.
    await r.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}
