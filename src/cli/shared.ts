/** What every CLI command shares: store access, output, and the errors that map to exit codes. */
import { loadStoreConfig } from '../config.js';
import { connectStore, disconnectStore } from '../store/db.js';

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

/** Runs `fn` with the store connected, and always disconnects. */
export async function withStore<T>(fn: () => Promise<T>): Promise<T> {
  await connectStore(loadStoreConfig().mongoUri);
  try {
    return await fn();
  } finally {
    await disconnectStore();
  }
}

export const print = (s: string) => process.stdout.write(`${s}\n`);
