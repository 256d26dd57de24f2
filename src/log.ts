import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; components take child loggers ({component, incident, job, uid}). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'incidesk' },
      // Belt and braces: secrets are never passed to the logger, and are censored if they are.
      redact: {
        paths: ['pass', '*.pass', 'secret', '*.secret', 'password', '*.password'],
        censor: '***',
      },
    },
    destination ?? process.stdout,
  );
}
