/**
 * vitest globalSetup: start real Redis, Dovecot and a MongoDB-protocol server once per test
 * run and hand their endpoints to the tests (`inject('services')`, see services.ts).
 */
import type { TestProject } from 'vitest/node';
import { startServices } from './services.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running = await startServices();

  // vitest answers SIGINT/SIGTERM with process.exit() without running teardowns, so stop the
  // services synchronously on the way out as well (best effort; a SIGKILL leaves them behind).
  const onExit = (): void => running.stopSync();
  const onSignal = (sig: NodeJS.Signals): void => {
    running.stopSync();
    removeHandlers();
    // Nobody else handles it: restore the default behaviour (terminate with this signal).
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const removeHandlers = (): void => {
    process.off('exit', onExit);
    for (const sig of SIGNALS) process.off(sig, onSignal);
  };
  process.once('exit', onExit);
  for (const sig of SIGNALS) process.once(sig, onSignal);

  project.provide('services', running.services);

  return async () => {
    removeHandlers();
    await running.stop();
  };
}
