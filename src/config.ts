/**
 * The only reader of process.env. Validates everything once, into a typed object, and fails
 * listing every problem at once so an operator fixes a bad deployment in one pass.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { parseRedisUrl, RedisUrlError } from './domain/redis-url.js';

/** Variables that may instead be given as a path in `<NAME>_FILE` (Docker/Kubernetes secrets). */
const SECRET_VARS = [
  'MONGODB_URI',
  'REDIS_URL',
  'REDIS_TLS_CA',
  'IMAP_PASS',
  'SMTP_PASS',
  'INCIDESK_SECRET',
  'INCIDESK_TOKEN',
] as const;

/**
 * Read a dotenv file into `env`. Variables already set win: the service manager's or the
 * shell's value is the deliberate one, the file only fills gaps. `required` is for a path the
 * operator named (`--env-file`): a missing file is then an error, while a missing `./.env`
 * just means there is none.
 */
export function loadEnvFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  required = false,
): boolean {
  if (!required && !existsSync(file)) return false;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`--env-file: cannot read ${file}: ${(err as Error).message}`]);
  }
  for (const [name, value] of Object.entries(parseEnv(text))) env[name] ??= value;
  return true;
}

/** Values from .env.example and the docs that must never run a real deployment. */
const PLACEHOLDER = /^change-?me/i;

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(1).max(65535);
const address = z
  .string()
  .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$|^[^@\s]+@localhost$/, 'must be an email address');

const schema = z.object({
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://'),
  REDIS_URL: z.string().superRefine((url, ctx) => {
    try {
      parseRedisUrl(url);
    } catch (err) {
      if (!(err instanceof RedisUrlError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  }),
  /** PEM of the CA that signed the Redis server's (and sentinels') TLS certificate. */
  REDIS_TLS_CA: z.string().optional(),
  IMAP_HOST: z.string().min(1),
  IMAP_PORT: port.default(993),
  IMAP_SECURE: bool.default(true),
  IMAP_USER: z.string().min(1),
  IMAP_PASS: z.string().min(1),
  IMAP_MAILBOX: z.string().min(1).default('INBOX'),
  IMAP_POLL_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  SMTP_HOST: z.string().min(1),
  SMTP_PORT: port.default(587),
  SMTP_SECURE: bool.default(false),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  SUPPORT_ADDRESS: address,
  SUPPORT_NAME: z.string().min(1).default('Support'),
  INCIDESK_SECRET: z.string().min(16, 'must be at least 16 characters (it signs reply tokens)'),
  INCIDESK_PLAN: z.string().min(1),
  INCIDESK_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('incidesk'),
  INCIDESK_MAX_MESSAGE_MB: z.coerce.number().positive().max(1024).default(40),
  INCIDESK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  INCIDESK_SLA_SWEEP_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** The built-in daily maintenance run starts at this UTC hour; unset: none (cron runs it). */
  INCIDESK_MAINTENANCE_HOUR: z.coerce.number().int().min(0).max(23).optional(),
  /** Health and metrics endpoint; 0 turns it off. 9464 is the usual Prometheus exporter port. */
  INCIDESK_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  INCIDESK_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = ReturnType<typeof toConfig>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Resolve `<NAME>_FILE` indirections; both forms at once is an error, not a silent choice. */
function resolveSecretFiles(
  env: NodeJS.ProcessEnv,
  problems: string[],
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const name of SECRET_VARS) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) {
      problems.push(`${name} and ${name}_FILE are both set; use one`);
      continue;
    }
    try {
      out[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  // Empty strings mean "unset" so that defaults apply and required vars are reported missing.
  for (const [k, v] of Object.entries(out)) if (v === '') delete out[k];
  return out;
}

function toConfig(v: z.infer<typeof schema>) {
  return {
    mongoUri: v.MONGODB_URI,
    redisUrl: v.REDIS_URL,
    redis: parseRedisUrl(v.REDIS_URL, v.REDIS_TLS_CA),
    imap: {
      host: v.IMAP_HOST,
      port: v.IMAP_PORT,
      secure: v.IMAP_SECURE,
      user: v.IMAP_USER,
      pass: v.IMAP_PASS,
      mailbox: v.IMAP_MAILBOX,
      pollSeconds: v.IMAP_POLL_SECONDS,
    },
    smtp: {
      host: v.SMTP_HOST,
      port: v.SMTP_PORT,
      secure: v.SMTP_SECURE,
      user: v.SMTP_USER,
      pass: v.SMTP_PASS,
    },
    supportAddress: v.SUPPORT_ADDRESS.toLowerCase(),
    supportName: v.SUPPORT_NAME,
    secret: v.INCIDESK_SECRET,
    planPath: v.INCIDESK_PLAN,
    queuePrefix: v.INCIDESK_QUEUE_PREFIX,
    maxMessageBytes: Math.round(v.INCIDESK_MAX_MESSAGE_MB * 1024 * 1024),
    concurrency: v.INCIDESK_CONCURRENCY,
    /** How often every incident with a due SLA check is reviewed, timers or not. */
    slaSweepSeconds: v.INCIDESK_SLA_SWEEP_SECONDS,
    /** UTC hour of the built-in daily `maintenance run`; undefined when cron runs it instead. */
    maintenanceHourUtc: v.INCIDESK_MAINTENANCE_HOUR,
    /** `GET /healthz` and `GET /metrics`; port 0 means no HTTP server. */
    http: { port: v.INCIDESK_HTTP_PORT, host: v.INCIDESK_HTTP_HOST },
    logLevel: v.LOG_LEVEL,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const resolved = resolveSecretFiles(env, problems);
  const parsed = schema.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      problems.push(`${name}: ${resolved[name] === undefined ? 'is required' : issue.message}`);
    }
  } else {
    if (parsed.data.SMTP_USER && !parsed.data.SMTP_PASS)
      problems.push('SMTP_PASS: is required when SMTP_USER is set');
    for (const name of ['IMAP_PASS', 'SMTP_PASS', 'INCIDESK_SECRET'] as const) {
      if (PLACEHOLDER.test(parsed.data[name] ?? ''))
        problems.push(`${name}: is still the example's placeholder; set a real value`);
    }
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data);
}

/** Secrets never reach logs: this is the view of the config that may be printed. */
export function redactedConfig(c: Config): Record<string, unknown> {
  const hide = (s: string | undefined) => (s ? '***' : undefined);
  return {
    ...c,
    mongoUri: c.mongoUri.replace(/\/\/[^@/]*@/, '//***@'),
    redisUrl: c.redisUrl.replace(/\/\/[^@/]*@/, '//***@'),
    redis: {
      ...c.redis,
      password: hide(c.redis.password),
      sentinelPassword: hide(c.redis.sentinelPassword),
    },
    imap: { ...c.imap, pass: hide(c.imap.pass) },
    smtp: { ...c.smtp, pass: hide(c.smtp.pass) },
    secret: hide(c.secret),
  };
}

/**
 * What the CLI needs to know who is calling: the plan (it lists the operators) and the
 * operator's token from INCIDESK_TOKEN or INCIDESK_TOKEN_FILE. The token is only ever hashed.
 */
export function loadOperatorAuth(env: NodeJS.ProcessEnv = process.env): {
  planPath?: string;
  token?: string;
} {
  const problems: string[] = [];
  const resolved = resolveSecretFiles(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { planPath: resolved.INCIDESK_PLAN, token: resolved.INCIDESK_TOKEN?.trim() || undefined };
}

/** Parse only the named variables, listing every problem (as `loadConfig` does). */
function loadSubset<T extends z.ZodTypeAny>(env: NodeJS.ProcessEnv, subset: T): z.infer<T> {
  const problems: string[] = [];
  const resolved = resolveSecretFiles(env, problems);
  const parsed = subset.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      problems.push(`${name}: ${resolved[name] === undefined ? 'is required' : issue.message}`);
    }
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return parsed.data as z.infer<T>;
}

/** What commands on the database alone need: the store only. */
export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env): Pick<Config, 'mongoUri'> {
  const v = loadSubset(env, schema.pick({ MONGODB_URI: true }));
  return { mongoUri: v.MONGODB_URI };
}

/** What the operator commands (`dlq`, `status`) need: the store, the queues, and the poll interval. */
export type OpsConfig = Pick<Config, 'mongoUri' | 'redisUrl' | 'redis' | 'queuePrefix'> & {
  imap: Pick<Config['imap'], 'pollSeconds'>;
};

export function loadOpsConfig(env: NodeJS.ProcessEnv = process.env): OpsConfig {
  const v = loadSubset(
    env,
    schema.pick({
      MONGODB_URI: true,
      REDIS_URL: true,
      REDIS_TLS_CA: true,
      INCIDESK_QUEUE_PREFIX: true,
      IMAP_POLL_SECONDS: true,
    }),
  );
  return {
    mongoUri: v.MONGODB_URI,
    redisUrl: v.REDIS_URL,
    redis: parseRedisUrl(v.REDIS_URL, v.REDIS_TLS_CA),
    queuePrefix: v.INCIDESK_QUEUE_PREFIX,
    imap: { pollSeconds: v.IMAP_POLL_SECONDS },
  };
}
