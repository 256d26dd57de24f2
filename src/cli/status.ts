/** `incidesk status`: the same verdict as `GET /healthz`, seen from outside the processes. */
import type { Command } from 'commander';
import { loadOpsConfig } from '../config.js';
import { assessHealth, statusText } from '../domain/health.js';
import { HealthMonitor } from '../ops/health.js';
import { connectStore, disconnectStore } from '../store/db.js';
import { EXIT } from './exit-codes.js';
import { CLI_CONNECT_TIMEOUT_MS } from '../constants.js';
import { openQueues } from '../queues.js';
import { cliRedis } from './queues.js';
import { print } from './shared.js';

export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description(
      'health of the store, Redis and the intake; queue depths and failures (exit 69 when unhealthy)',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const config = loadOpsConfig();
      // A dependency that is down is part of the answer, not a reason to fail the command.
      await connectStore(config.mongoUri, { timeoutMs: CLI_CONNECT_TIMEOUT_MS }).catch(
        () => undefined,
      );
      const redis = cliRedis(config.redis);
      redis.on('error', () => undefined); // reported by the redis probe
      const redisUp = await redis.connect().then(
        () => true,
        () => false,
      );
      const queues = redisUp ? openQueues(redis, config.queuePrefix) : undefined;
      try {
        const monitor = new HealthMonitor({ redis, queues, pollSeconds: config.imap.pollSeconds });
        const snapshot = await monitor.snapshot();
        // No intake runs in this process: judge it by the mailbox checkpoints it writes.
        const verdict = assessHealth(snapshot, true);
        print(
          opts.json
            ? JSON.stringify({ ...verdict, ...snapshot }, null, 2)
            : statusText(snapshot, verdict),
        );
        if (!verdict.healthy) process.exitCode = EXIT.unavailable;
      } finally {
        await queues?.close().catch(() => undefined);
        redis.disconnect();
        await disconnectStore().catch(() => undefined);
      }
    });
}
