/** Run `incidesk` as a real child process, so tests can kill it with SIGKILL mid-work. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from './services.js';

/** tsx by absolute URL: `--import tsx` would be looked up from the child's working directory. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface IncideskProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

export function spawnIncidesk(
  args: string[],
  env: Record<string, string>,
  logFile?: string,
  cwd = PROJECT_ROOT,
  input?: string,
): IncideskProcess {
  // Absolute paths, so that a test may run it from another directory (its own ./.env).
  const main = `${PROJECT_ROOT}/src/cli/main.ts`;
  const child = spawn(process.execPath, ['--import', TSX_LOADER, main, ...args], {
    cwd,
    // With a log file, at least at info level (tests are silent by default): it is what tells
    // the story of a failure afterwards. A level the test asks for stands.
    env: {
      ...process.env,
      ...env,
      ...(logFile && env.LOG_LEVEL === 'silent' && { LOG_LEVEL: 'info' }),
    },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
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
export async function runIncidesk(
  args: string[],
  env: Record<string, string>,
  /** `input`: what is typed on its standard input. */
  options: { cwd?: string; input?: string } = {},
) {
  const proc = spawnIncidesk(args, env, undefined, options.cwd, options.input);
  let stdout = '';
  let stderr = '';
  proc.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await proc.exited;
  return { code, stdout, stderr };
}

/** The last lines of a process's log file, for a failure message (CI keeps no files). */
export function logTail(logFile: string, lines = 40): string {
  if (!existsSync(logFile)) return `(no log at ${logFile})`;
  const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines);
  return `last ${tail.length} lines of ${logFile}:\n${tail.join('\n')}`;
}
