/**
 * The only reader of process.env. Validates everything once, into a typed object, and fails
 * listing every problem at once so an operator fixes a bad deployment in one pass.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import type { MailboxIdentity } from './domain/health.js';
import { LANGUAGE_TAG } from './domain/locale.js';
import { resolveOAuth, type OAuthSettings } from './domain/oauth.js';
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
  'OAUTH_CLIENT_SECRET',
  'OAUTH_REFRESH_TOKEN',
  'OAUTH_SERVICE_ACCOUNT',
  'OAUTH_CERTIFICATE',
  'OAUTH_PRIVATE_KEY',
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

const isDirectory = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory();

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
  /** Required unless OAUTH_PROVIDER signs in with OAuth2 instead. */
  IMAP_PASS: z.string().min(1).optional(),
  IMAP_MAILBOX: z.string().min(1).default('INBOX'),
  IMAP_POLL_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  SMTP_HOST: z.string().min(1),
  SMTP_PORT: port.default(587),
  SMTP_SECURE: bool.default(false),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  /** OAuth2 (XOAUTH2) sign-in to IMAP and SMTP instead of passwords; see docs/mailboxes.md. */
  OAUTH_PROVIDER: z.enum(['microsoft', 'google', 'generic']).optional(),
  OAUTH_TENANT: z.string().min(1).optional(),
  OAUTH_CLIENT_ID: z.string().min(1).optional(),
  OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
  OAUTH_REFRESH_TOKEN: z.string().min(1).optional(),
  /** The Google service account's key file (JSON), normally given as OAUTH_SERVICE_ACCOUNT_FILE. */
  OAUTH_SERVICE_ACCOUNT: z.string().min(1).optional(),
  /** Microsoft certificate credentials (PEM), normally given as OAUTH_CERTIFICATE_FILE and OAUTH_PRIVATE_KEY_FILE. */
  OAUTH_CERTIFICATE: z.string().min(1).optional(),
  OAUTH_PRIVATE_KEY: z.string().min(1).optional(),
  OAUTH_TOKEN_URL: z.string().min(1).optional(),
  OAUTH_SCOPE: z.string().min(1).optional(),
  SUPPORT_ADDRESS: address,
  SUPPORT_NAME: z.string().min(1).default('Support'),
  INCIDESK_SECRET: z.string().min(16, 'must be at least 16 characters (it signs reply tokens)'),
  INCIDESK_PLAN: z.string().min(1),
  INCIDESK_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('incidesk'),
  INCIDESK_MAX_MESSAGE_MB: z.coerce.number().positive().max(1024).default(40),
  INCIDESK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),
  INCIDESK_SLA_SWEEP_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  INCIDESK_STOP_GRACE_SECONDS: z.coerce.number().int().min(1).max(3600).default(20),
  /** The built-in daily maintenance run starts at this UTC hour; unset: none (cron runs it). */
  INCIDESK_MAINTENANCE_HOUR: z.coerce.number().int().min(0).max(23).optional(),
  /** Health and metrics endpoint; 0 turns it off. 9464 is the usual Prometheus exporter port. */
  INCIDESK_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  INCIDESK_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = ReturnType<typeof toConfig> & {
  /** Every support mailbox, the first being the one of IMAP_*, SMTP_* and SUPPORT_*. */
  mailboxes: MailboxConfig[];
};

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

/**
 * One support mailbox: where its mail comes in, how incidesk signs in, and who it is in the
 * mail it sends (From, and the plus-addressed Reply-To that threads replies back).
 */
export interface MailboxConfig {
  /** `default` for the one the IMAP_*, SMTP_* and SUPPORT_* variables describe. */
  name: string;
  imap: Config['imap'];
  smtp: Config['smtp'];
  oauth?: OAuthSettings;
  supportAddress: string;
  supportName: string;
  /** Where its incidents go when no routing rule of the plan picks a group. */
  group?: string;
  /** Its incidents' category when no classification rule gives one. */
  category?: string;
  /** Its own template directory: each file there replaces templates/' file of the same path. */
  templates?: string;
  /** Its customers' locale when neither the plan's customer record nor their mail decides. */
  locale?: string;
}

function mailboxOf(v: z.infer<typeof schema>, oauth: OAuthSettings | undefined) {
  const c = toConfig(v, oauth);
  return {
    imap: c.imap,
    smtp: c.smtp,
    oauth: c.oauth,
    supportAddress: c.supportAddress,
    supportName: c.supportName,
  };
}

function toConfig(v: z.infer<typeof schema>, oauth: OAuthSettings | undefined) {
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
    /** Set when IMAP and SMTP sign in with OAuth2 access tokens instead of passwords. */
    oauth,
    supportAddress: v.SUPPORT_ADDRESS.toLowerCase(),
    supportName: v.SUPPORT_NAME,
    secret: v.INCIDESK_SECRET,
    planPath: v.INCIDESK_PLAN,
    queuePrefix: v.INCIDESK_QUEUE_PREFIX,
    maxMessageBytes: Math.round(v.INCIDESK_MAX_MESSAGE_MB * 1024 * 1024),
    concurrency: v.INCIDESK_CONCURRENCY,
    /** How often every incident with a due SLA check is reviewed, timers or not. */
    slaSweepSeconds: v.INCIDESK_SLA_SWEEP_SECONDS,
    /** How long a stop waits for running jobs before it goes without them. */
    stopGraceSeconds: v.INCIDESK_STOP_GRACE_SECONDS,
    /** UTC hour of the built-in daily `maintenance run`; undefined when cron runs it instead. */
    maintenanceHourUtc: v.INCIDESK_MAINTENANCE_HOUR,
    /** `GET /healthz` and `GET /metrics`; port 0 means no HTTP server. */
    http: { port: v.INCIDESK_HTTP_PORT, host: v.INCIDESK_HTTP_HOST },
    logLevel: v.LOG_LEVEL,
  };
}

/** Validate one set of variables: the whole configuration, or one more mailbox's (below). */
function parseVariables(resolved: Record<string, string | undefined>, problems: string[]) {
  const parsed = schema.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      problems.push(`${name}: ${resolved[name] === undefined ? 'is required' : issue.message}`);
    }
  }
  // Listed even when other variables are wrong too: every problem at once.
  if (!resolved.IMAP_PASS && !resolved.OAUTH_PROVIDER) problems.push('IMAP_PASS: is required');
  if (!parsed.success) return undefined;
  const v = parsed.data;
  let oauth: OAuthSettings | undefined;
  if (v.OAUTH_PROVIDER) {
    const resolvedOAuth = resolveOAuth({
      provider: v.OAUTH_PROVIDER,
      user: v.IMAP_USER,
      tenant: v.OAUTH_TENANT,
      clientId: v.OAUTH_CLIENT_ID,
      clientSecret: v.OAUTH_CLIENT_SECRET,
      refreshToken: v.OAUTH_REFRESH_TOKEN,
      serviceAccountJson: v.OAUTH_SERVICE_ACCOUNT,
      certificatePem: v.OAUTH_CERTIFICATE,
      privateKeyPem: v.OAUTH_PRIVATE_KEY,
      tokenUrl: v.OAUTH_TOKEN_URL,
      scope: v.OAUTH_SCOPE,
    });
    if ('settings' in resolvedOAuth) oauth = resolvedOAuth.settings;
    else problems.push(...resolvedOAuth.problems);
  } else if (v.SMTP_USER && !v.SMTP_PASS) {
    problems.push('SMTP_PASS: is required when SMTP_USER is set');
  }
  for (const name of [
    'IMAP_PASS',
    'SMTP_PASS',
    'INCIDESK_SECRET',
    'OAUTH_CLIENT_SECRET',
  ] as const) {
    if (PLACEHOLDER.test(v[name] ?? ''))
      problems.push(`${name}: is still the example's placeholder; set a real value`);
  }
  return { v, oauth };
}

/**
 * Variables each further mailbox must name for itself (`MAILBOX_<NAME>_IMAP_USER`, …): who it
 * is and how it signs in. Everything else (servers, ports, the OAuth2 app) it shares with the
 * first mailbox unless it sets its own `MAILBOX_<NAME>_<VARIABLE>`.
 */
const OWN_MAILBOX_VARS = [
  'IMAP_USER',
  'IMAP_PASS',
  'SUPPORT_ADDRESS',
  'OAUTH_REFRESH_TOKEN',
  'GROUP',
  'CATEGORY',
  'TEMPLATES',
  'LOCALE',
];

/** The environment as one further mailbox sees it: its own `MAILBOX_<NAME>_*` over the shared one. */
function mailboxVariables(env: NodeJS.ProcessEnv, name: string): NodeJS.ProcessEnv {
  const prefix = `MAILBOX_${name.toUpperCase().replace(/-/g, '_')}_`;
  const out: NodeJS.ProcessEnv = { ...env };
  for (const v of OWN_MAILBOX_VARS) {
    delete out[v];
    delete out[`${v}_FILE`];
  }
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(prefix)) continue;
    const variable = key.slice(prefix.length);
    // Its own value replaces the shared one in either form (a password, or a password file).
    delete out[variable.replace(/_FILE$/, '')];
    delete out[`${variable.replace(/_FILE$/, '')}_FILE`];
    out[variable] = value;
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const first = parseVariables(resolveSecretFiles(env, problems), problems);
  const names = (env.INCIDESK_MAILBOXES ?? '').split(/[\s,]+/).filter(Boolean);
  const more: MailboxConfig[] = [];
  for (const name of names) {
    if (!/^[A-Za-z0-9-]+$/.test(name)) {
      problems.push(`INCIDESK_MAILBOXES: ${JSON.stringify(name)}: letters, digits and - only`);
      continue;
    }
    const own: string[] = [];
    const prefix = `MAILBOX_${name.toUpperCase().replace(/-/g, '_')}_`;
    const scoped = mailboxVariables(env, name);
    const parsed = parseVariables(resolveSecretFiles(scoped, own), own);
    problems.push(...own.map((p) => `${prefix}${p}`));
    const templates = scoped.TEMPLATES && resolvePath(scoped.TEMPLATES);
    if (templates && !isDirectory(templates))
      problems.push(`${prefix}TEMPLATES: ${templates} is not a directory`);
    if (scoped.LOCALE && !LANGUAGE_TAG.test(scoped.LOCALE))
      problems.push(
        `${prefix}LOCALE: ${JSON.stringify(scoped.LOCALE)} is not a language tag (de, de-AT)`,
      );
    if (parsed)
      more.push({
        ...mailboxOf(parsed.v, parsed.oauth),
        name,
        group: scoped.GROUP,
        category: scoped.CATEGORY,
        templates,
        locale: scoped.LOCALE,
      });
  }
  if (!first || problems.length > 0) throw new ConfigError(problems);
  const config = toConfig(first.v, first.oauth);
  const mailboxes = [{ ...mailboxOf(first.v, first.oauth), name: 'default' }, ...more];
  const seen = new Set<string>();
  for (const m of mailboxes) {
    if (seen.has(m.supportAddress))
      problems.push(
        `MAILBOX_${m.name.toUpperCase()}_SUPPORT_ADDRESS: ${m.supportAddress} is already another mailbox's`,
      );
    seen.add(m.supportAddress);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, mailboxes };
}

/** Secrets never reach logs: this is the view of the config that may be printed. */
export function redactedConfig(c: Config): Record<string, unknown> {
  const hide = (s: string | undefined) => (s ? '***' : undefined);
  const mailbox = (m: Pick<MailboxConfig, 'imap' | 'smtp' | 'oauth'>) => ({
    imap: { ...m.imap, pass: hide(m.imap.pass) },
    smtp: { ...m.smtp, pass: hide(m.smtp.pass) },
    oauth: m.oauth && {
      ...m.oauth,
      clientSecret: hide(m.oauth.clientSecret),
      refreshToken: hide(m.oauth.refreshToken),
      serviceAccount: m.oauth.serviceAccount && {
        clientEmail: m.oauth.serviceAccount.clientEmail,
        privateKey: '***',
      },
      clientCertificate: m.oauth.clientCertificate && {
        ...m.oauth.clientCertificate,
        privateKey: '***',
      },
    },
  });
  return {
    ...c,
    mongoUri: c.mongoUri.replace(/\/\/[^@/]*@/, '//***@'),
    redisUrl: c.redisUrl.replace(/\/\/[^@/]*@/, '//***@'),
    redis: {
      ...c.redis,
      password: hide(c.redis.password),
      sentinelPassword: hide(c.redis.sentinelPassword),
    },
    ...mailbox(c),
    mailboxes: c.mailboxes.map((m) => ({ ...m, ...mailbox(m) })),
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

/** What `incidesk mailbox authorize` needs: the OAuth2 client, and where its endpoints are. */
export function loadAuthorizeConfig(env: NodeJS.ProcessEnv = process.env): {
  clientId: string;
  clientSecret: string;
  authUrl?: string;
  tokenUrl?: string;
  scope?: string;
  loginHint?: string;
} {
  const v = loadSubset(
    env,
    z.object({
      OAUTH_CLIENT_ID: z.string().min(1),
      OAUTH_CLIENT_SECRET: z.string().min(1),
      OAUTH_AUTH_URL: z.string().url().optional(),
      OAUTH_TOKEN_URL: z.string().url().optional(),
      OAUTH_SCOPE: z.string().min(1).optional(),
      IMAP_USER: z.string().min(1).optional(),
    }),
  );
  return {
    clientId: v.OAUTH_CLIENT_ID,
    clientSecret: v.OAUTH_CLIENT_SECRET,
    authUrl: v.OAUTH_AUTH_URL,
    tokenUrl: v.OAUTH_TOKEN_URL,
    scope: v.OAUTH_SCOPE,
    loginHint: v.IMAP_USER,
  };
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
  /** Who the mailboxes are, for `status`; empty where the IMAP variables are not set. */
  mailboxes: MailboxIdentity[];
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
    mailboxes: mailboxIdentities(env),
  };
}

/** A mailbox's identity for health: its address, and the keys its intake records under. */
export const mailboxIdentity = (m: {
  name: string;
  supportAddress: string;
  imap: Pick<MailboxConfig['imap'], 'user' | 'host' | 'mailbox'>;
}): MailboxIdentity => ({
  name: m.name,
  address: m.supportAddress,
  account: `${m.imap.user}@${m.imap.host}`,
  key: `${m.imap.user}/${m.imap.mailbox}`,
});

/**
 * Who each configured mailbox is, from the variables that say so alone (no secrets), for
 * `status` on a host that may not have the mail passwords. A mailbox whose variables are
 * incomplete here is left out: `check` is where configuration is judged.
 */
function mailboxIdentities(env: NodeJS.ProcessEnv): MailboxIdentity[] {
  const who = schema.pick({
    IMAP_USER: true,
    IMAP_HOST: true,
    IMAP_MAILBOX: true,
    SUPPORT_ADDRESS: true,
  });
  const names = (env.INCIDESK_MAILBOXES ?? '').split(/[\s,]+/).filter(Boolean);
  return [
    { name: 'default', vars: env },
    ...names.map((name) => ({ name, vars: mailboxVariables(env, name) })),
  ].flatMap(({ name, vars }) => {
    const v = who.safeParse(vars);
    if (!v.success) return [];
    return [
      mailboxIdentity({
        name,
        supportAddress: v.data.SUPPORT_ADDRESS.toLowerCase(),
        imap: { user: v.data.IMAP_USER, host: v.data.IMAP_HOST, mailbox: v.data.IMAP_MAILBOX },
      }),
    ];
  });
}

/**
 * The mailbox with this support address: the one an incident came in by. Mail of incidents
 * from before there were several mailboxes, or of a mailbox since removed, goes out from the
 * first one.
 */
export function mailboxFor(
  config: Pick<Config, 'mailboxes'>,
  address?: string | null,
): MailboxConfig {
  return config.mailboxes.find((m) => m.supportAddress === address) ?? config.mailboxes[0]!;
}

/** A mailbox's group must be one of the plan's: a typo would leave its incidents unassigned. */
export function checkMailboxGroups(config: Pick<Config, 'mailboxes'>, groups: readonly string[]) {
  const problems = config.mailboxes
    .filter((m) => m.group !== undefined && !groups.includes(m.group))
    .map(
      (m) =>
        `MAILBOX_${m.name.toUpperCase().replace(/-/g, '_')}_GROUP: ${m.group} is not a group of the plan (${groups.join(', ') || 'none'})`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
}
