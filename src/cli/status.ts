/** `incidesk status`: the same verdict as `GET /healthz`, seen from outside the processes. */
import type { Command } from 'commander';
import { loadOpsConfig } from '../config.js';
import { assessHealth, mailboxStatuses, statusText } from '../domain/health.js';
import { HealthMonitor } from '../ops/health.js';
import { connectStore, disconnectStore } from '../store/db.js';
import { EXIT } from './exit-codes.js';
import { CLI_CONNECT_TIMEOUT_MS } from '../constants.js';
import { openQueues } from '../queues.js';
import { cliRedis } from './queues.js';
import { print } from './shared.js';
import { planReviewState, planReviewWarning } from '../domain/plan-review.js';
import { parsePlan } from '../plan/load.js';
import { latestPlanVersion } from '../store/audit.js';

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
        const monitor = new HealthMonitor({
          redis,
          queues,
          pollSeconds: config.imap.pollSeconds,
          mailboxes: config.mailboxes,
        });
        const snapshot = await monitor.snapshot();
        // No intake runs in this process: judge it by the mailbox checkpoints it writes.
        const verdict = assessHealth(snapshot, true);
        const planReview = await planInForceReview();
        print(
          opts.json
            ? JSON.stringify(
                { ...verdict, ...snapshot, mailboxStatus: mailboxStatuses(snapshot), planReview },
                null,
                2,
              )
            : [statusText(snapshot, verdict), planReview?.line].filter(Boolean).join('\n'),
        );
        if (!verdict.healthy) process.exitCode = EXIT.unavailable;
      } finally {
        await queues?.close().catch(() => undefined);
        redis.disconnect();
        await disconnectStore().catch(() => undefined);
      }
    });
}

/**
 * The annual review of the plan the service last started with (the newest in
 * `plan_versions`): a warning line when it is overdue, due within 30 days, or never set. Not
 * a health failure: the desk works, the paperwork is late. Null without a store or a version.
 */
async function planInForceReview() {
  const version = await latestPlanVersion().catch(() => null);
  if (!version) return null;
  let plan;
  try {
    plan = parsePlan(version.text, `plan version ${version._id}`);
  } catch {
    return null; // recorded by a release with other plan rules; `incidesk check` judges files
  }
  const now = new Date();
  const warning = planReviewWarning(plan, now);
  return {
    ...planReviewState(plan, now),
    fingerprint: plan.fingerprint,
    reviewedAt: plan.reviewedAt ?? null,
    reviewedBy: plan.reviewedBy ?? null,
    line: warning ? `plan review: ${warning}` : `plan review: next due ${plan.nextReviewDue}`,
  };
}
