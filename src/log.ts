import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Keys whose values are never printed, at the top level and up to five levels down (pino's
 * wildcards match exactly one level; a mailbox's OAuth2 key sits at
 * config.mailboxes[i].oauth.serviceAccount.privateKey): passwords, the token secret, operator
 * tokens, OAuth2 secrets, auth headers and connection strings (which can carry credentials).
 */
const SECRET_KEYS = [
  'pass',
  'password',
  'secret',
  'token',
  'accessToken',
  'authorization',
  'cookie',
  'mongoUri',
  'redisUrl',
  'sentinelPassword',
  'INCIDESK_TOKEN',
  'clientSecret',
  'refreshToken',
  'privateKey',
];
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [
  ...[0, 1, 2, 3, 4, 5].map((depth) => `${'*.'.repeat(depth)}${k}`),
  `headers.${k}`,
  `*.headers.${k}`,
]);

/** Structured JSON logs on stdout; components take child loggers ({component, incident, job, uid}). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'incidesk' },
      // Belt and braces: secrets are never passed to the logger, and are censored if they are.
      redact: { paths: REDACT_PATHS, censor: '***' },
    },
    destination ?? process.stdout,
  );
}
