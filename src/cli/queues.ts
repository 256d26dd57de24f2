/** Queue access for operator commands: fail fast when Redis is down instead of retrying forever. */
import { Redis, type RedisOptions } from 'ioredis';
import { loadOpsConfig, type OpsConfig } from '../config.js';
import { CLI_CONNECT_TIMEOUT_MS } from '../constants.js';
import { openQueues, type Queues } from '../queues.js';
import { unavailable } from './shared.js';

/** A Redis connection for a one-shot command: one attempt, named failure within seconds. */
export function cliRedis(options: RedisOptions): Redis {
  return new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: CLI_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
}

/** Connect for a one-shot command; a failure names Redis and the real reason (exit 69). */
export async function connectCliRedis(
  config: Pick<OpsConfig, 'redis' | 'redisUrl'>,
): Promise<Redis> {
  const redis = cliRedis(config.redis);
  // ioredis rejects connect() with "Connection is closed."; the reason came as an event.
  let reason: Error | undefined;
  redis.on('error', (err: Error) => (reason ??= err));
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw unavailable('Redis', config.redisUrl, reason ?? err);
  }
  return redis;
}

/** Runs `fn` with the queues open (and Redis connected), and always closes them. */
export async function withQueues<T>(
  fn: (queues: Queues, config: OpsConfig, redis: Redis) => Promise<T>,
): Promise<T> {
  const config = loadOpsConfig();
  const redis = await connectCliRedis(config);
  const queues = openQueues(redis, config.queuePrefix);
  try {
    return await fn(queues, config, redis);
  } finally {
    await queues.close().catch(() => undefined);
    redis.disconnect();
  }
}
