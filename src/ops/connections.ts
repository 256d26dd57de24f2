/**
 * `incidesk check --connect`: sign in to every service the configuration names, the way the
 * running service will, and say for each one what its server answered. Nothing is written and
 * no mail is sent.
 */
import { Redis, type RedisOptions } from 'ioredis';
import mongoose from 'mongoose';
import type { Config, MailboxConfig } from '../config.js';
import { EXIT } from '../cli/exit-codes.js';
import { isAuthFailure, serverWords } from '../domain/server-errors.js';
import { imapAuth, imapClient } from '../mail/imap.js';
import { tokenProviders, type TokenProvider } from '../mail/oauth.js';
import { smtpTransport, smtpUser } from '../mail/outbound.js';
import { CLI_CONNECT_TIMEOUT_MS, CONNECT_CHECK_TIMEOUT_MS } from '../constants.js';

/** `auth`: the server refused our credentials; `config`: it answered, but not as configured. */
export type ConnectionVerdict = 'ok' | 'unreachable' | 'auth' | 'config';

export interface ConnectionResult {
  service: 'MongoDB' | 'Redis' | 'IMAP' | 'SMTP';
  /** Where, without credentials. */
  target: string;
  verdict: ConnectionVerdict;
  /** The server's own words (or the network error) when not ok; what was checked when ok. */
  detail: string;
}

/** A URL as it may be printed: the password is never shown. */
export function withoutPassword(url: string): string {
  return url
    .replace(/\/\/([^@/:]*)(:[^@/]*)?@/, (_m, user: string, password?: string) =>
      password ? `//${user}:***@` : `//${user}@`,
    )
    .replace(/([?&]sentinelPassword=)[^&]*/, '$1***');
}

async function attempt(
  service: ConnectionResult['service'],
  target: string,
  check: () => Promise<string>,
  classify: (err: unknown) => ConnectionVerdict = (err) =>
    isAuthFailure(err) ? 'auth' : 'unreachable',
): Promise<ConnectionResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${CONNECT_CHECK_TIMEOUT_MS / 1000} s`)),
      CONNECT_CHECK_TIMEOUT_MS,
    );
  });
  try {
    const detail = await Promise.race([check(), deadline]);
    return { service, target, verdict: 'ok', detail };
  } catch (err) {
    return { service, target, verdict: classify(err), detail: serverWords(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function checkMongo(uri: string): Promise<string> {
  // Shorter than the check's deadline, so that the driver's own reason is what is reported.
  const client = new mongoose.mongo.MongoClient(uri, {
    serverSelectionTimeoutMS: CLI_CONNECT_TIMEOUT_MS,
    connectTimeoutMS: CLI_CONNECT_TIMEOUT_MS,
  });
  try {
    await client.connect();
    const hello = await client.db().admin().command({ hello: 1 });
    return hello.setName ? `replica set ${String(hello.setName)}` : 'standalone';
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function checkRedis(options: RedisOptions): Promise<string> {
  const redis = new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: CLI_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // ioredis rejects connect() with "Connection is closed."; the reason came as an event.
  let reason: Error | undefined;
  redis.on('error', (err: Error) => (reason ??= err));
  try {
    await redis.connect().catch((err: Error) => {
      throw reason ?? err;
    });
    await redis.ping();
    return 'PING answered';
  } finally {
    redis.disconnect();
  }
}

async function checkImap(imap: Config['imap'], tokens?: TokenProvider): Promise<string> {
  const client = imapClient(imap, await imapAuth(imap, tokens), {
    connectionTimeout: CONNECT_CHECK_TIMEOUT_MS,
    greetingTimeout: CONNECT_CHECK_TIMEOUT_MS,
  });
  client.on('error', () => undefined); // the rejected call reports it
  try {
    await client.connect();
    try {
      const box = await client.mailboxOpen(imap.mailbox, { readOnly: true });
      return `signed in as ${imap.user}${tokens ? ' with OAuth2' : ''}; ${imap.mailbox} holds ${box.exists} messages; IDLE ${client.capabilities.has('IDLE') ? 'supported' : 'missing (polling)'}`;
    } catch (err) {
      throw Object.assign(new Error(`mailbox ${imap.mailbox}: ${serverWords(err)}`), {
        mailbox: true,
      });
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}

async function checkSmtp(box: MailboxConfig, tokens?: TokenProvider): Promise<string> {
  const transport = smtpTransport(box, tokens, {
    connectionTimeout: CONNECT_CHECK_TIMEOUT_MS,
    greetingTimeout: CONNECT_CHECK_TIMEOUT_MS,
  });
  try {
    await transport.verify();
    const user = smtpUser(box, tokens);
    if (!user) return 'accepts connections (no sign-in configured)';
    return `signed in as ${user}${tokens ? ' with OAuth2' : ''}`;
  } finally {
    transport.close();
  }
}

/** Every service at once; each answer within CONNECT_CHECK_TIMEOUT_MS. */
export function checkConnections(config: Config): Promise<ConnectionResult[]> {
  // One provider per mailbox for both, as in the running service: SMTP reuses IMAP's token.
  const tokens = tokenProviders(config);
  const several = config.mailboxes.length > 1;
  return Promise.all([
    attempt('MongoDB', withoutPassword(config.mongoUri), () => checkMongo(config.mongoUri)),
    attempt('Redis', withoutPassword(config.redisUrl), () => checkRedis(config.redis)),
    ...config.mailboxes.flatMap((box) => {
      const { imap, smtp, supportAddress } = box;
      const boxTokens = tokens.get(supportAddress);
      // With several mailboxes, each line says whose it is.
      const whose = several ? ` for ${supportAddress}` : '';
      return [
        attempt(
          'IMAP',
          `${imap.host}:${imap.port} as ${imap.user}${whose}`,
          () => checkImap(imap, boxTokens),
          (err) =>
            isAuthFailure(err)
              ? 'auth'
              : (err as { mailbox?: boolean }).mailbox
                ? 'config'
                : 'unreachable',
        ),
        attempt('SMTP', `${smtp.host}:${smtp.port}${whose}`, () => checkSmtp(box, boxTokens)),
      ];
    }),
  ]);
}

const VERDICT_WORDS: Record<ConnectionVerdict, string> = {
  ok: 'ok',
  unreachable: 'UNREACHABLE',
  auth: 'SIGN-IN REFUSED',
  config: 'MISCONFIGURED',
};

export function connectionLine(r: ConnectionResult): string {
  return `${r.service.padEnd(7)} ${VERDICT_WORDS[r.verdict].padEnd(15)} ${r.target}: ${r.detail}`;
}

/** The most telling failure decides: refused credentials, then configuration, then reachability. */
export function connectionExitCode(results: readonly ConnectionResult[]): number {
  const has = (v: ConnectionVerdict) => results.some((r) => r.verdict === v);
  if (has('auth')) return EXIT.noPermission;
  if (has('config')) return EXIT.config;
  if (has('unreachable')) return EXIT.unavailable;
  return EXIT.ok;
}
