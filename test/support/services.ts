/**
 * Real services for the integration tests: a MongoDB-protocol server (MONGODB_URI, else a
 * private SecantusDB), Redis and Dovecot (IMAP + LMTP), each in a fresh temp dir on a free
 * loopback port. `startServices()` is called once per test run by global-setup.ts, which
 * hands the endpoints to the tests through vitest's provide/inject:
 *
 *   import { inject } from 'vitest';
 *   const services = inject('services');
 *
 * Dovecot accepts ANY user name with the password `secret` and gives each user its own
 * mailbox, so a test gets a fresh, empty INBOX by choosing `${uniqueName('t')}@example.test`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TestServices {
  mongoUri: string;
  mongoBackend: 'external' | 'secantusdb';
  redisUrl: string;
  redisPort: number;
  imapHost: '127.0.0.1';
  imapPort: number;
  lmtpPort: number;
  dovecotPassword: 'secret';
  dovecotDir: string;
  /** Path of the redis-server binary ('' when REDIS_URL points at an external server and none is installed). */
  redisBin: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: TestServices;
  }
}

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HOST = '127.0.0.1';
const DOVECOT_PASSWORD = 'secret';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3; // a free port can be taken between freePort() and the service binding it

/** A short random lowercase name, e.g. `t-3f9a1c07be`. Safe as a db name, queue prefix or mail user. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Running services and how to stop them

interface Stoppable {
  name: string;
  /** Processes to signal; `child` when we spawned it, else a pid (daemonized Dovecot master). */
  child?: ChildProcess;
  pid?: number;
}

export interface RunningServices {
  services: TestServices;
  /** Kill everything that was started, wait for it, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Best-effort synchronous variant for signal/exit handlers. */
  stopSync(): void;
}

const log = (line: string): void => {
  process.stderr.write(`[services] ${line}\n`);
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const rel = (p: string) =>
  p.startsWith(PROJECT_ROOT + path.sep) ? path.relative(PROJECT_ROOT, p) : p;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A daemon reparented to a PID 1 that does not reap stays a zombie: count that as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function pidOf(s: Stoppable): number | undefined {
  if (s.child)
    return s.child.exitCode === null && s.child.signalCode === null ? s.child.pid : undefined;
  return s.pid;
}

async function stopOne(s: Stoppable): Promise<void> {
  const pid = pidOf(s);
  if (pid === undefined || !isAlive(pid)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  if (isAlive(pid)) {
    log(`${s.name} (pid ${pid}) ignored SIGTERM for ${STOP_TIMEOUT_MS} ms; sending SIGKILL`);
    signal(pid, 'SIGKILL');
    while (isAlive(pid) && Date.now() < deadline + STOP_TIMEOUT_MS) await sleep(20);
  }
}

function stopOneSync(s: Stoppable): number | undefined {
  const pid = pidOf(s);
  if (pid !== undefined) signal(pid, 'SIGTERM');
  return pid;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---------------------------------------------------------------------------------------------
// Helpers for starting processes

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Spawn a long-running child with stdout+stderr appended to `logFile`. */
function spawnLogged(
  name: string,
  bin: string,
  args: string[],
  logFile: string,
  cwd: string,
): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(bin, args, { cwd, stdio: ['ignore', fd, fd] });
    child.once('error', (err) => log(`${name}: ${err.message}`));
    return child;
  } finally {
    closeSync(fd);
  }
}

function tcpConnects(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Send a RESP PING and expect +PONG. */
function redisPing(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let buffer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      if (buffer.includes('\r\n')) done(buffer.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

async function mongoPing(uri: string): Promise<boolean> {
  const { default: mongoose } = await import('mongoose');
  const client = new mongoose.mongo.MongoClient(uri, {
    serverSelectionTimeoutMS: 1000,
    connectTimeoutMS: 1000,
    directConnection: true,
  });
  try {
    await client.connect();
    const reply = await client.db('admin').command({ ping: 1 });
    return reply.ok === 1;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Poll `check` until it returns true; fail early if the child exits. */
async function waitFor(
  name: string,
  check: () => Promise<boolean>,
  opts: { child?: ChildProcess; logFile: string },
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const child = opts.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `${name} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); log ${opts.logFile}:\n${tail(opts.logFile)}`,
      );
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${name} did not become ready within ${START_TIMEOUT_MS} ms; log ${opts.logFile}:\n${tail(opts.logFile)}`,
      );
    }
    await sleep(50);
  }
}

/** Start something on a fresh free port, retrying with another port if the start fails. */
async function onFreePort<T>(
  name: string,
  start: (port: number, attempt: number) => Promise<T>,
): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    try {
      return await start(await freePort(), attempt);
    } catch (err) {
      lastError = err;
      if (attempt < PORT_ATTEMPTS) {
        log(
          `${name} failed to start (attempt ${attempt}: ${String(err).split('\n')[0]}); retrying on another port`,
        );
      }
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// MongoDB protocol

/** The pinned SecantusDB that scripts/install-test-services.sh puts in a venv under .cache/. */
function findSecantus(): string | undefined {
  const venvBin = path.join(PROJECT_ROOT, '.cache/secantus/venv/bin/secantusd-py');
  return existsSync(venvBin) ? venvBin : which('secantusd-py');
}

async function startMongo(
  tmp: string,
  started: Stoppable[],
): Promise<Pick<TestServices, 'mongoUri' | 'mongoBackend'>> {
  const external = process.env.MONGODB_URI;
  if (external) {
    log(`mongodb external (MONGODB_URI ${external.replace(/\/\/[^@/]*@/, '//***@')})`);
    return { mongoUri: external, mongoBackend: 'external' };
  }

  const secantus = findSecantus();
  if (!secantus)
    throw new Error(
      'no MongoDB for the tests: MONGODB_URI is unset and SecantusDB is not installed ' +
        '(run scripts/install-test-services.sh)',
    );
  return onFreePort('secantusdb', async (port, attempt) => {
    const dir = path.join(tmp, `secantus-${attempt}`);
    const entry = await spawnSecantus(secantus, dir, port);
    started.push(entry);
    log(`secantusdb ${HOST}:${port} (${rel(secantus)})`);
    return { mongoUri: `mongodb://${HOST}:${port}/`, mongoBackend: 'secantusdb' as const };
  });
}

/** Start SecantusDB on `port` with its storage in `dir/data` (kept as it is), and wait for it. */
async function spawnSecantus(
  secantus: string,
  dir: string,
  port: number,
  extraArgs: string[] = [],
): Promise<Stoppable> {
  await mkdir(path.join(dir, 'data'), { recursive: true });
  const logFile = path.join(dir, 'secantus.log');
  const child = spawnLogged(
    'secantusdb',
    secantus,
    [
      ...['--host', HOST, '--port', String(port)],
      ...['--storage-path', path.join(dir, 'data')],
      ...['--cache-size', '256M', '--log-level', 'WARNING'],
      ...extraArgs,
    ],
    logFile,
    dir,
  );
  const entry: Stoppable = { name: 'secantusdb', child };
  const mongoUri = `mongodb://${HOST}:${port}/`;
  try {
    await waitFor(
      'secantusdb',
      async () => (await tcpConnects(port)) && (await mongoPing(mongoUri)),
      { child, logFile },
    );
  } catch (err) {
    await stopOne(entry);
    throw err;
  }
  return entry;
}

/** A SecantusDB of one test's own, to kill and restart (the shared one must stay up). */
export interface PrivateMongo {
  /** `mongodb://127.0.0.1:<port>/`, the same across restarts. */
  uri: string;
  port: number;
  /** The directory holding its storage (`data/`) and its log (`secantus.log`). */
  dir: string;
  /** SIGKILL, and wait until the process is gone: no shutdown, no flush. */
  kill(): Promise<void>;
  /** Start it again on the same port and storage, and wait until it answers. */
  restart(): Promise<void>;
  /** Stop it (SIGTERM, then SIGKILL) and remove its directory. */
  stop(): Promise<void>;
}

/**
 * Start a private SecantusDB in a fresh directory under `parent` (the OS temp dir by default),
 * on a free port. Throws when SecantusDB is not installed.
 *
 * `syncOnCommit`: fsync its log on every commit, so that a SIGKILL loses no acknowledged
 * write. Without it SecantusDB acknowledges before its log reaches the disk (mongod's
 * `j: false`), and a kill loses the last commits; a real one-node replica set acknowledges
 * the default `w: majority` only once journaled, so a test that kills the server wants this.
 *
 * `standalone`: present itself as a standalone server, not a one-node replica set, so the
 * driver and incidesk see a server without transactions (the path a plain `mongod` takes).
 */
export async function startPrivateMongo(
  parent = os.tmpdir(),
  {
    syncOnCommit = false,
    standalone = false,
  }: { syncOnCommit?: boolean; standalone?: boolean } = {},
): Promise<PrivateMongo> {
  const extraArgs = [
    ...(syncOnCommit ? ['--sync-on-commit'] : []),
    ...(standalone ? ['--standalone'] : []),
  ];
  const secantus = findSecantus();
  if (!secantus)
    throw new Error('SecantusDB is not installed (run scripts/install-test-services.sh)');
  const dir = await mkdtemp(path.join(parent, 'incidesk-mongo-'));
  let entry: Stoppable | undefined;
  const port = await onFreePort('private secantusdb', async (p) => {
    entry = await spawnSecantus(secantus, dir, p, extraArgs);
    return p;
  });
  const kill = async () => {
    const pid = entry && pidOf(entry);
    if (pid === undefined) return;
    signal(pid, 'SIGKILL');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  };
  return {
    uri: `mongodb://${HOST}:${port}/`,
    port,
    dir,
    kill,
    async restart() {
      await kill();
      entry = await spawnSecantus(secantus, dir, port, extraArgs);
    },
    async stop() {
      if (entry) await stopOne(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Redis

async function startRedis(
  tmp: string,
  started: Stoppable[],
): Promise<Pick<TestServices, 'redisUrl' | 'redisPort' | 'redisBin'>> {
  const redisBin = which('redis-server') ?? '';
  const external = process.env.REDIS_URL;
  if (external) {
    const url = new URL(external);
    const redisPort = Number(url.port || 6379);
    log(`redis external (REDIS_URL ${url.hostname}:${redisPort})`);
    return { redisUrl: external, redisPort, redisBin };
  }
  if (!redisBin)
    throw new Error(
      'redis-server not found on PATH; run scripts/install-test-services.sh or set REDIS_URL',
    );

  return onFreePort('redis', async (port, attempt) => {
    const dir = path.join(tmp, `redis-${attempt}`);
    await mkdir(dir, { recursive: true });
    const logFile = path.join(dir, 'redis.log');
    const child = spawnLogged(
      'redis',
      redisBin,
      [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
      ],
      logFile,
      dir,
    );
    const entry: Stoppable = { name: 'redis', child };
    started.push(entry);
    try {
      await waitFor('redis', () => redisPing(port), { child, logFile });
    } catch (err) {
      await stopOne(entry);
      throw err;
    }
    log(`redis ${HOST}:${port} (${redisBin})`);
    return { redisUrl: `redis://${HOST}:${port}`, redisPort: port, redisBin };
  });
}

// ---------------------------------------------------------------------------------------------
// Dovecot (IMAP + LMTP)

interface MailOwner {
  user: string;
  uid: number;
  gid: number;
  group: string;
}

function idOf(args: string[]): string {
  const r = spawnSync('id', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`id ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Who owns the mailboxes: as root `mail` (uid 8 on Debian; any non-root user other than
 * dovecot/dovenull would do), rootless the caller, who then runs every Dovecot process. */
function mailOwner(asRoot: boolean): MailOwner {
  const user = asRoot ? 'mail' : os.userInfo().username;
  const who = asRoot ? [user] : [];
  return {
    user,
    uid: Number(idOf(['-u', ...who])),
    gid: Number(idOf(['-g', ...who])),
    group: idOf(['-gn', ...who]),
  };
}

/** How Dovecot checks a sign-in: by default any user with the password "secret". */
export interface DovecotAuth {
  /**
   * Sign-in with OAuth2 (SASL XOAUTH2) only: Dovecot's oauth2 passdb asks this RFC 7662
   * introspection endpoint whether a token is active and whose mailbox it opens.
   */
  oauth2IntrospectionUrl?: string;
}

function passdbConfig(d: string, auth: DovecotAuth): { mechanisms: string; passdb: string } {
  if (auth.oauth2IntrospectionUrl)
    return {
      mechanisms: 'xoauth2',
      passdb: `# Only XOAUTH2: a token the introspection endpoint calls active, for this user.
passdb {
  driver = oauth2
  mechanisms = xoauth2
  args = ${d}/dovecot-oauth2.conf.ext
}`,
    };
  return {
    mechanisms: 'plain login',
    passdb: `# Any user name logs in with the password "${DOVECOT_PASSWORD}"; each user has its own mailbox.
passdb {
  driver = static
  args = password=${DOVECOT_PASSWORD}
}`,
  };
}

function dovecotOAuth2Config(introspectionUrl: string): string {
  return `introspection_mode = post
introspection_url = ${introspectionUrl}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
`;
}

function dovecotConfig(
  d: string,
  imapPort: number,
  lmtpPort: number,
  asRoot: boolean,
  owner: MailOwner,
  listen: string,
  auth: DovecotAuth = {},
): string {
  const { mechanisms, passdb } = passdbConfig(d, auth);
  const extra = asRoot
    ? `first_valid_uid = ${owner.uid}`
    : `default_internal_user = ${owner.user}
default_login_user = ${owner.user}
default_internal_group = ${owner.group}
first_valid_uid = ${owner.uid}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}`;
  return `base_dir = ${d}/run
state_dir = ${d}/state
log_path = ${d}/dovecot.log
protocols = imap lmtp
listen = ${listen}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = ${mechanisms}
mail_location = maildir:~/Maildir
# support+INC-000001.token@… is delivered to support@…, as incidesk's Reply-To addresses need.
recipient_delimiter = +
${extra}
${passdb}
userdb {
  driver = static
  args = uid=${owner.uid} gid=${owner.gid} home=${d}/mail/%d/%n allow_all_users=yes
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}
service imap-login {
  inet_listener imap {
    address = ${listen}
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = ${listen}
    port = ${lmtpPort}
  }
}
protocol imap {
  mail_max_userip_connections = 1000
}
protocol lmtp {
  auth_username_format = %Lu
}
`;
}

/** Where a mail server listens when not on free loopback ports (the Docker quick start). */
export interface MailListen {
  address: string;
  imapPort: number;
  lmtpPort: number;
}

async function startDovecot(
  tmp: string,
  started: Stoppable[],
  fixed?: MailListen,
  auth: DovecotAuth = {},
): Promise<
  Pick<TestServices, 'imapHost' | 'imapPort' | 'lmtpPort' | 'dovecotPassword' | 'dovecotDir'>
> {
  const bin =
    which('dovecot') ?? (existsSync('/usr/sbin/dovecot') ? '/usr/sbin/dovecot' : undefined);
  if (!bin)
    throw new Error('dovecot not found (PATH, /usr/sbin); run scripts/install-test-services.sh');
  const asRoot = process.getuid?.() === 0;

  const start = async (imapPort: number, attempt: number) => {
    let lmtpPort = fixed?.lmtpPort ?? (await freePort());
    while (lmtpPort === imapPort) lmtpPort = await freePort();
    const listen = fixed?.address ?? HOST;
    const d = path.join(tmp, `dovecot-${attempt}`);
    await mkdir(path.join(d, 'run'), { recursive: true });
    await mkdir(path.join(d, 'state'), { recursive: true });
    await mkdir(path.join(d, 'mail'), { recursive: true });
    const owner = mailOwner(asRoot);
    if (asRoot) chownSync(path.join(d, 'mail'), owner.uid, owner.gid);
    const conf = path.join(d, 'dovecot.conf');
    await writeFile(conf, dovecotConfig(d, imapPort, lmtpPort, asRoot, owner, listen, auth));
    if (auth.oauth2IntrospectionUrl)
      await writeFile(
        path.join(d, 'dovecot-oauth2.conf.ext'),
        dovecotOAuth2Config(auth.oauth2IntrospectionUrl),
      );
    const logFile = path.join(d, 'dovecot.log');

    // The master daemonizes: wait for the launcher to exit. Its output goes to a file, not a
    // pipe, because the daemon keeps the inherited descriptors open (a pipe would never close).
    const startLog = path.join(d, 'start.log');
    const launcher = spawnLogged('dovecot', bin, ['-c', conf], startLog, d);
    const [code, sig] = (await once(launcher, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) {
      throw new Error(
        `dovecot failed to start (exit ${code ?? sig}): ${tail(startLog)}\n${tail(logFile)}`,
      );
    }
    // The daemon writes its pid file a moment after the launcher has exited.
    const pidFile = path.join(d, 'run', 'master.pid');
    let pid = 0;
    await waitFor(
      'dovecot (master.pid)',
      async () => {
        pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
        return pid > 0;
      },
      { logFile },
    );
    const entry: Stoppable = { name: 'dovecot', pid };
    started.push(entry);
    try {
      await waitFor(
        'dovecot',
        async () => {
          if (!isAlive(pid))
            throw new Error(`dovecot master ${pid} exited; log ${logFile}:\n${tail(logFile)}`);
          return (await tcpConnects(imapPort)) && (await tcpConnects(lmtpPort));
        },
        { logFile },
      );
    } catch (err) {
      await stopOne(entry);
      throw err;
    }
    log(
      `dovecot imap ${HOST}:${imapPort} lmtp ${HOST}:${lmtpPort} (${bin}, pid ${pid}, ${asRoot ? 'root' : 'rootless'})`,
    );
    return {
      imapHost: HOST,
      imapPort,
      lmtpPort,
      dovecotPassword: DOVECOT_PASSWORD,
      dovecotDir: d,
    } as const;
  };
  return fixed ? start(fixed.imapPort, 1) : onFreePort('dovecot', start);
}

/**
 * Only the mail server (Dovecot: IMAP + LMTP), for `scripts/devmail.ts`: the development mail
 * server of the demo and the Docker quick start, configured exactly as in the tests; and for
 * tests that need a Dovecot of their own, such as one that signs in with OAuth2 (`auth`).
 */
export async function startMailServer(
  listen?: MailListen,
  auth: DovecotAuth = {},
): Promise<{ imapPort: number; lmtpPort: number; password: string; stop(): Promise<void> }> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'incidesk-mail-'));
  chmodSync(tmp, 0o755);
  const started: Stoppable[] = [];
  const dovecot = await startDovecot(tmp, started, listen, auth);
  return {
    imapPort: dovecot.imapPort,
    lmtpPort: dovecot.lmtpPort,
    password: dovecot.dovecotPassword,
    async stop() {
      await Promise.allSettled(started.map(stopOne));
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Start every service in a fresh temp dir. On failure, stops whatever was already started.
 * `onStarting` receives the synchronous stop before anything is spawned, so a caller can hook
 * it to exit/signal handlers that also cover an interruption during start-up.
 */
export async function startServices(
  onStarting?: (stopSync: () => void) => void,
): Promise<RunningServices> {
  const t0 = Date.now();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'incidesk-test-'));
  chmodSync(tmp, 0o755); // Dovecot's mail and login processes run as other users and must traverse it
  const started: Stoppable[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse order; independent, so in parallel.
    const results = await Promise.allSettled(started.slice().reverse().map(stopOne));
    for (const r of results) if (r.status === 'rejected') log(`stop failed: ${String(r.reason)}`);
    rmSync(tmp, { recursive: true, force: true });
  };
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    const pids = started.map(stopOneSync).filter((pid): pid is number => pid !== undefined);
    const deadline = Date.now() + 2000;
    while (pids.some(isAlive) && Date.now() < deadline) sleepSync(20);
    for (const pid of pids) if (isAlive(pid)) signal(pid, 'SIGKILL');
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  };

  onStarting?.(stopSync);

  // Independent: start them together, and let every start settle (so nothing one of them
  // spawns escapes the stop below when another one fails).
  const [mongo, redis, dovecot] = await Promise.allSettled([
    startMongo(tmp, started),
    startRedis(tmp, started),
    startDovecot(tmp, started),
  ]);
  if (
    mongo.status === 'fulfilled' &&
    redis.status === 'fulfilled' &&
    dovecot.status === 'fulfilled'
  ) {
    log(`ready in ${Date.now() - t0} ms (temp dir ${tmp})`);
    return { services: { ...mongo.value, ...redis.value, ...dovecot.value }, stop, stopSync };
  }
  await stop();
  const errors = [mongo, redis, dovecot].flatMap((r) =>
    r.status === 'rejected' ? [r.reason as unknown] : [],
  );
  throw errors.length === 1 ? errors[0] : new AggregateError(errors, errors.map(String).join('\n'));
}
