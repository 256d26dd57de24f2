import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/domain/redis-url.js';

describe('parseRedisUrl', () => {
  it('reads a single server: host, port, credentials, database', () => {
    expect(parseRedisUrl('redis://localhost')).toEqual({ host: 'localhost', port: 6379 });
    expect(parseRedisUrl('redis://:p%40ss@10.0.0.5:6380/3')).toEqual({
      host: '10.0.0.5',
      port: 6380,
      password: 'p@ss',
      db: 3,
    });
    expect(parseRedisUrl('redis://app:secret@[::1]:7000/')).toEqual({
      host: '::1',
      port: 7000,
      username: 'app',
      password: 'secret',
    });
  });

  it('rediss:// connects with TLS, trusting the given CA when there is one', () => {
    expect(parseRedisUrl('rediss://cache.example:6380')).toEqual({
      host: 'cache.example',
      port: 6380,
      tls: {},
    });
    expect(parseRedisUrl('rediss://cache.example', 'PEM')).toMatchObject({ tls: { ca: 'PEM' } });
    expect(parseRedisUrl('redis://cache.example', 'PEM')).not.toHaveProperty('tls');
  });

  it('reads a Sentinel group: sentinels, master name, the master’s credentials, database', () => {
    expect(parseRedisUrl('redis+sentinel://:pw@s1:26379,s2,[fe80::1]:26400/mymaster/1')).toEqual({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: 'fe80::1', port: 26400 },
      ],
      name: 'mymaster',
      password: 'pw',
      db: 1,
    });
  });

  it('takes the sentinels’ own credentials from the query, and TLS for sentinels and master', () => {
    expect(
      parseRedisUrl(
        'rediss+sentinel://s1/main?sentinelPassword=s%26cret&sentinelUsername=watch',
        'PEM',
      ),
    ).toEqual({
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'main',
      sentinelPassword: 's&cret',
      sentinelUsername: 'watch',
      tls: { ca: 'PEM' },
      sentinelTLS: { ca: 'PEM' },
      enableTLSForSentinelMode: true,
    });
  });

  it.each([
    ['http://localhost', /must start with redis:\/\//],
    ['redis://', /names no host/],
    ['redis://a:6379,b:6379', /several hosts; use redis\+sentinel/],
    ['redis://localhost:99999', /port out of range/],
    ['redis://localhost/zero', /database must be a number/],
    ['redis://localhost/0/1', /only the database number/],
    ['redis://localhost?tls=true', /unknown query parameter "tls"/],
    ['redis+sentinel://s1:26379', /names no master/],
    ['redis+sentinel://s1:26379/', /names no master/],
    ['redis+sentinel://s1/m/0/x', /master-name\[\/db\]/],
    ['redis+sentinel://s1/m?password=x', /unknown query parameter "password"/],
    ['redis://:%zz@localhost', /password is not valid percent-encoding/],
  ])('refuses %s with a reason', (url, reason) => {
    expect(() => parseRedisUrl(url)).toThrow(reason);
  });
});
