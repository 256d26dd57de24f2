/** What every CLI command shares: store access, output, and the errors that map to exit codes. */
import { loadStoreConfig } from '../config.js';
import { CLI_CONNECT_TIMEOUT_MS } from '../constants.js';
import { withoutPassword } from '../ops/connections.js';
import { sealAudit } from '../store/audit.js';
import { connectStore, disconnectStore } from '../store/db.js';
import { EXIT } from './exit-codes.js';

/** The named incident, file or record does not exist (exit 66). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** A failure that knows its own exit code (77 no permission, 65 broken audit chain, …). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A service a command needs did not answer (exit 69): named, with its URL minus the password. */
export function unavailable(service: 'MongoDB' | 'Redis', url: string, err: unknown): CliError {
  const reason = (err as Error).message?.split('\n')[0] ?? String(err);
  return new CliError(
    EXIT.unavailable,
    `${service} at ${withoutPassword(url)} is unreachable: ${reason}`,
  );
}

/** Connect the store for a one-shot command: a MongoDB that is down is named within seconds. */
export async function connectForCommand(mongoUri: string): Promise<void> {
  try {
    await connectStore(mongoUri, { timeoutMs: CLI_CONNECT_TIMEOUT_MS });
  } catch (err) {
    await disconnectStore().catch(() => undefined);
    throw unavailable('MongoDB', mongoUri, err);
  }
}

/** Runs `fn` with the store connected, and always disconnects. */
export async function withStore<T>(fn: () => Promise<T>): Promise<T> {
  await connectForCommand(loadStoreConfig().mongoUri);
  try {
    const result = await fn();
    // What this command changed is in the chain before it exits, service running or not.
    await sealAudit();
    return result;
  } finally {
    await disconnectStore();
  }
}

export const print = (s: string) => process.stdout.write(`${s}\n`);
