/**
 * vitest globalSetup: start real Redis, Dovecot and a MongoDB-protocol server once per test
 * run and hand their endpoints to the tests (`inject('services')`, see services.ts).
 */
import type { TestProject } from 'vitest/node';
import { startServices, type RunningServices } from './services.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // vitest answers SIGINT/SIGTERM (and an unhandled rejection) with process.exit() without
  // running teardowns, and its own 'exit' listener calls process.exit() again, which ends the
  // process before later 'exit' listeners run. So stop the services synchronously from
  // listeners put *in front of* vitest's (best effort; a SIGKILL leaves them behind). They are
  // installed before anything is spawned, so an interrupted start-up is covered too.
  let stopSync = (): void => {};
  const onExit = (): void => stopSync();
  const onSignal = (sig: NodeJS.Signals): void => {
    stopSync();
    removeHandlers();
    // Nobody else handles it: restore the default behaviour (terminate with this signal).
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const removeHandlers = (): void => {
    process.off('exit', onExit);
    for (const sig of SIGNALS) process.off(sig, onSignal);
  };
  process.prependOnceListener('exit', onExit);
  for (const sig of SIGNALS) process.prependOnceListener(sig, onSignal);

  let running: RunningServices;
  try {
    running = await startServices((fn) => (stopSync = fn));
  } catch (err) {
    removeHandlers();
    throw err;
  }

  project.provide('services', running.services);

  return async () => {
    removeHandlers();
    await running.stop();
  };
}
