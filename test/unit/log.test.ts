import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig, redactedConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, log: createLogger('debug', stream) };
}

const SECRETS = {
  IMAP_PASS: 'imap-pass-SECRET-1',
  SMTP_PASS: 'smtp-pass-SECRET-2',
  INCIDESK_SECRET: 'token-secret-SECRET-3',
  MONGODB_URI: 'mongodb://user:db-pass-SECRET-4@db.example/incidesk',
  REDIS_URL: 'redis://:redis-pass-SECRET-5@redis.example:6379',
  MAILBOX_SECURITY_IMAP_PASS: 'second-mailbox-SECRET-6',
  OAUTH_CLIENT_SECRET: 'oauth-client-SECRET-7',
  OAUTH_REFRESH_TOKEN: 'oauth-refresh-SECRET-8',
};

describe('secrets never reach the logs', () => {
  it('the logged configuration carries no secret value', () => {
    const config = loadConfig({
      ...SECRETS,
      IMAP_HOST: 'imap.example',
      IMAP_USER: 'support',
      SMTP_HOST: 'smtp.example',
      SMTP_USER: 'relay',
      SUPPORT_ADDRESS: 'support@example.test',
      INCIDESK_PLAN: 'plan.yaml',
      // A second mailbox signing in with OAuth2 (generic, refresh token): its secrets too.
      INCIDESK_MAILBOXES: 'security',
      MAILBOX_SECURITY_IMAP_USER: 'security',
      MAILBOX_SECURITY_SUPPORT_ADDRESS: 'security@example.test',
      MAILBOX_SECURITY_OAUTH_PROVIDER: 'generic',
      MAILBOX_SECURITY_OAUTH_TOKEN_URL: 'https://idp.example/token',
      MAILBOX_SECURITY_OAUTH_CLIENT_ID: 'incidesk',
      MAILBOX_SECURITY_OAUTH_REFRESH_TOKEN: SECRETS.OAUTH_REFRESH_TOKEN,
    });
    expect(config.mailboxes[1]?.oauth?.refreshToken).toBe(SECRETS.OAUTH_REFRESH_TOKEN);
    const { lines, log } = capture();
    log.debug({ config: redactedConfig(config) }, 'configuration');
    log.debug({ config }, 'even the raw configuration, by mistake');
    const out = lines.join('');
    expect(out).toContain('imap.example');
    for (const value of Object.values(SECRETS)) expect(out).not.toContain(value);
    for (const s of [
      'SECRET-1',
      'SECRET-2',
      'SECRET-3',
      'SECRET-4',
      'SECRET-5',
      'SECRET-6',
      'SECRET-7',
      'SECRET-8',
    ])
      expect(out).not.toContain(s);
  });

  it('censors passwords, tokens and auth headers wherever a component logs them', () => {
    const { lines, log } = capture();
    log.info(
      {
        token: 't-SECRET',
        operator: { token: 'op-SECRET' },
        req: { headers: { authorization: 'Bearer h-SECRET', cookie: 'c-SECRET' } },
        auth: { user: 'u', pass: 'p-SECRET', password: 'pw-SECRET' },
        INCIDESK_TOKEN: 'env-SECRET',
      },
      'request',
    );
    expect(lines.join('')).not.toContain('SECRET');
    expect(lines.join('')).toContain('"user":"u"');
  });
});
