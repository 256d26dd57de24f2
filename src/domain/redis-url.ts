/**
 * `REDIS_URL` as ioredis connection options: a single server, with or without TLS, or a
 * Redis Sentinel group. Every Redis connection incidesk makes (workers, queues, the CLI, the
 * connection check) starts from these options, so the URL is read in one place.
 *
 *   redis://[[user]:password@]host[:6379][/db]
 *   rediss://…                                 the same over TLS
 *   redis+sentinel://[[user]:password@]host1[:26379],host2[:26379]/master-name[/db]
 *   rediss+sentinel://…                        the same, TLS to the sentinels and the master
 *
 * In a sentinel URL the credentials are the master's (what the application uses); sentinels
 * that require their own password take `?sentinelPassword=…` (and `sentinelUsername`).
 * The scheme names are those of redis-py's and Spring's sentinel URLs; ioredis itself takes
 * sentinels only as options, which is what this function produces.
 */
import type { RedisOptions } from 'ioredis';

export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;
const SCHEMES = /^(rediss?)(\+sentinel)?:\/\/(.*)$/i;
const SENTINEL_PARAMS = new Set(['sentinelPassword', 'sentinelUsername']);

interface HostPort {
  host: string;
  port: number;
}

function hostPort(text: string, defaultPort: number): HostPort {
  // [v6]:port, [v6], host:port, host
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text);
  if (!m) throw new RedisUrlError(`not a host[:port]: "${text}"`);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RedisUrlError(`port out of range: "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}

function database(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,2}$/.test(text)) throw new RedisUrlError(`database must be a number: "${text}"`);
  return Number(text);
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RedisUrlError(`${what} is not valid percent-encoding`);
  }
}

/** The connection options a `REDIS_URL` stands for; `ca` is a PEM bundle for TLS (optional). */
export function parseRedisUrl(url: string, ca?: string): RedisOptions {
  const scheme = SCHEMES.exec(url.trim());
  if (!scheme)
    throw new RedisUrlError(
      'must start with redis://, rediss://, redis+sentinel:// or rediss+sentinel://',
    );
  const tls = scheme[1]!.toLowerCase() === 'rediss';
  const sentinel = scheme[2] !== undefined;
  let rest = scheme[3]!;

  const q = rest.indexOf('?');
  const query = new URLSearchParams(q === -1 ? '' : rest.slice(q + 1));
  rest = q === -1 ? rest : rest.slice(0, q);
  for (const key of query.keys())
    if (!sentinel || !SENTINEL_PARAMS.has(key))
      throw new RedisUrlError(`unknown query parameter "${key}"`);

  const at = rest.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : rest.slice(0, at);
  rest = at === -1 ? rest : rest.slice(at + 1);
  const slash = rest.indexOf('/');
  const hosts = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? [] : rest.slice(slash + 1).split('/');
  if (hosts === '') throw new RedisUrlError('names no host');

  const options: RedisOptions = {};
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const username = decode(colon === -1 ? userinfo : userinfo.slice(0, colon), 'user name');
    const password = colon === -1 ? '' : decode(userinfo.slice(colon + 1), 'password');
    if (username) options.username = username;
    if (password) options.password = password;
  }
  const tlsOptions = ca === undefined ? {} : { ca };

  if (!sentinel) {
    if (hosts.includes(',')) throw new RedisUrlError('lists several hosts; use redis+sentinel://');
    if (path.length > 1) throw new RedisUrlError('path must be only the database number');
    const db = database(path[0]);
    return {
      ...hostPort(hosts, DEFAULT_PORT),
      ...options,
      ...(db === undefined ? {} : { db }),
      ...(tls ? { tls: tlsOptions } : {}),
    };
  }

  const name = path[0] ? decode(path[0], 'master name') : '';
  if (!name) throw new RedisUrlError('names no master: redis+sentinel://host:26379/master-name');
  if (path.length > 2) throw new RedisUrlError('path must be master-name[/db]');
  const db = database(path[1]);
  const sentinelPassword = query.get('sentinelPassword');
  const sentinelUsername = query.get('sentinelUsername');
  return {
    sentinels: hosts.split(',').map((h) => hostPort(h, DEFAULT_SENTINEL_PORT)),
    name,
    ...options,
    ...(db === undefined ? {} : { db }),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    ...(sentinelUsername ? { sentinelUsername } : {}),
    ...(tls ? { tls: tlsOptions, sentinelTLS: tlsOptions, enableTLSForSentinelMode: true } : {}),
  };
}
