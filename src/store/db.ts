import mongoose from 'mongoose';
import { closeLocks, useRedisLocks } from './locks.js';
import { ALL_MODELS } from './models.js';

/**
 * Connect the process-wide mongoose connection and make sure every index exists. Writes to
 * an incident are serialised through Redis at `redisUrl` (see locks.ts).
 */
export async function connectStore(
  uri: string,
  redisUrl?: string,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Promise<typeof mongoose> {
  mongoose.set('strictQuery', true);
  useRedisLocks(redisUrl);
  await mongoose.connect(uri, { serverSelectionTimeoutMS: timeoutMs });
  // Unique indexes carry the idempotency guarantees, so they must exist before any write.
  for (const model of ALL_MODELS) await model.createIndexes();
  return mongoose;
}

export async function disconnectStore(): Promise<void> {
  await closeLocks();
  await mongoose.disconnect();
}

export function db() {
  const handle = mongoose.connection.db;
  if (!handle) throw new Error('store is not connected');
  return handle;
}

export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}
