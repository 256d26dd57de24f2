/** Run `incidesk` as a real child process, so tests can kill it with SIGKILL mid-work. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { PROJECT_ROOT } from './services.js';

export interface IncideskProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

export function spawnIncidesk(
  args: string[],
  env: Record<string, string>,
  logFile?: string,
): IncideskProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (logFile) {
    const out = createWriteStream(logFile, { flags: 'a' });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    exited,
    async kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}

/** Run an `incidesk` command to completion. */
export async function runIncidesk(args: string[], env: Record<string, string>) {
  const proc = spawnIncidesk(args, env);
  let stdout = '';
  let stderr = '';
  proc.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await proc.exited;
  return { code, stdout, stderr };
}
