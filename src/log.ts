import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Keys whose values are never printed, at the top level and one or two levels down (pino's
 * wildcards match exactly one level): passwords, the token secret, operator tokens, auth
 * headers and connection strings (which can carry credentials).
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
];
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [
  k,
  `*.${k}`,
  `*.*.${k}`,
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
