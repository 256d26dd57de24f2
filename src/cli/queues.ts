/** Queue access for operator commands: fail fast when Redis is down instead of retrying forever. */
import { Redis } from 'ioredis';
import { loadOpsConfig, type OpsConfig } from '../config.js';
import { openQueues, type Queues } from '../queues.js';

/** Connection attempts before a command gives up on Redis (exit 69). */
const REDIS_CONNECT_RETRIES = 3;

export function cliRedis(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => (times > REDIS_CONNECT_RETRIES ? null : 200 * times),
  });
}

/** Runs `fn` with the queues open (and Redis connected), and always closes them. */
export async function withQueues<T>(
  fn: (queues: Queues, config: OpsConfig, redis: Redis) => Promise<T>,
  options: { tolerateDown?: boolean } = {},
): Promise<T> {
  const config = loadOpsConfig();
  const redis = cliRedis(config.redisUrl);
  redis.on('error', () => undefined); // reported through the commands that fail
  try {
    await redis.connect();
  } catch (err) {
    if (!options.tolerateDown) {
      redis.disconnect();
      throw err;
    }
  }
  const queues = openQueues(redis, config.queuePrefix);
  try {
    return await fn(queues, config, redis);
  } finally {
    await queues.close().catch(() => undefined);
    redis.disconnect();
  }
}
