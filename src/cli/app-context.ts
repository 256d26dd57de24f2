/**
 * An application context for CLI commands that change incidents: they run the same actions
 * as email commands (one place for each rule), which queue mail and jobs. The running
 * workers deliver what they queue.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../actions/outcome.js';
import { loadConfig } from '../config.js';
import type { AppContext } from '../context.js';
import { createLogger } from '../log.js';
import { tokenProviders } from '../mail/oauth.js';
import { createMailer } from '../mail/outbound.js';
import { findAgent } from '../plan/load.js';
import { openQueues } from '../queues.js';
import { disconnectStore } from '../store/db.js';
import { loadPlan } from '../plan/load.js';
import { EXIT } from './exit-codes.js';
import { connectCliRedis } from './queues.js';
import { connectForCommand } from './shared.js';

/** A command line problem that is reported on stderr with an exit code, not thrown. */
export class CliFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Runs `fn` with a full context (store, queues, plan); always disconnects. */
export async function withAppContext<T>(
  fn: (ctx: AppContext) => Promise<T>,
  now: () => Date = () => new Date(),
): Promise<T> {
  const config = loadConfig();
  const plan = await loadPlan(config.planPath);
  await connectForCommand(config.mongoUri);
  // Unlike a worker, a one-shot command must fail rather than wait forever for Redis.
  const redis = await connectCliRedis(config).catch(async (err: unknown) => {
    await disconnectStore();
    throw err;
  });
  const queues = openQueues(redis, config.queuePrefix);
  const tokens = tokenProviders(config);
  const mailer = createMailer(config, tokens);
  const ctx: AppContext = {
    config,
    plan,
    queues,
    mailer,
    tokens,
    // Logs go to stderr: stdout is the command's output.
    log: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr),
    now,
  };
  try {
    return await fn(ctx);
  } finally {
    await queues.close();
    mailer.close();
    redis.disconnect();
    await disconnectStore();
  }
}

/** Who is acting (`--as <agent id or email>`): recorded on the timeline like a mail's sender. */
export function cliActor(ctx: AppContext, as: string): Actor {
  const agent = findAgent(ctx.plan, as);
  if (!agent) throw new CliFailure(EXIT.usage, `--as ${as}: no such agent in the plan`);
  return { by: agent.id, cause: `cli-${randomUUID().slice(0, 13)}` };
}

/** Run a CLI action body; a CliFailure becomes its message on stderr and its exit code. */
export async function reporting(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (!(err instanceof CliFailure)) throw err;
    process.stderr.write(`incidesk: ${err.message}\n`);
    process.exitCode = err.exitCode;
  }
}
