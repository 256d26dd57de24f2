/**
 * Counting the database commands a piece of code sends, with the driver's own command
 * monitoring (as bench/db-profile.ts does): for tests that hold a code path to its number of
 * round trips.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import mongoose from 'mongoose';
import type { CommandStartedEvent } from 'mongodb';
import { inject } from 'vitest';
import { collectionsOf } from './command-names.js';

/** A database of its own whose driver reports every command (give it to the app as MONGODB_URI). */
export const monitoredUri = (database: string) => {
  const uri = new URL(inject('services').mongoUri);
  uri.pathname = `/${database}_${process.pid}`;
  uri.searchParams.set('monitorCommands', 'true');
  return uri.toString();
};

const counting = new AsyncLocalStorage<true>();

/**
 * Run `fn` and list each command it sent as "op collection" (e.g. "find incidents"); commands
 * sent meanwhile by anything else (the app's workers) are not counted.
 */
export async function countCommands<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; commands: string[] }> {
  const commands: string[] = [];
  const client = mongoose.connection.getClient();
  const seen = (e: CommandStartedEvent) => {
    if (counting.getStore())
      commands.push(`${e.commandName} ${collectionsOf(e.command, e.commandName)}`);
  };
  client.on('commandStarted', seen);
  try {
    const result = await counting.run(true, fn);
    return { result, commands };
  } finally {
    client.off('commandStarted', seen);
  }
}
