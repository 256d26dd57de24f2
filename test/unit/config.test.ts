import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadConfig,
  loadOpsConfig,
  loadStoreConfig,
  redactedConfig,
} from '../../src/config.js';

const valid = {
  MONGODB_URI: 'mongodb://db.internal:27017/incidesk',
  REDIS_URL: 'redis://redis.internal:6379',
  IMAP_HOST: 'imap.example.test',
  IMAP_USER: 'support@example.test',
  IMAP_PASS: 'imap-password',
  SMTP_HOST: 'smtp.example.test',
  SUPPORT_ADDRESS: 'Support@Example.test',
  INCIDESK_SECRET: 'a-long-enough-secret',
  INCIDESK_PLAN: '/etc/incidesk/plan.yaml',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('several mailboxes: each names its own login and address, and shares the rest', () => {
    const c = loadConfig({
      ...valid,
      INCIDESK_MAILBOXES: 'security, billing-eu',
      MAILBOX_SECURITY_IMAP_USER: 'security@example.test',
      MAILBOX_SECURITY_IMAP_PASS: 'security-password',
      MAILBOX_SECURITY_SUPPORT_ADDRESS: 'Security@Example.test',
      MAILBOX_SECURITY_GROUP: 'security',
      MAILBOX_BILLING_EU_IMAP_USER: 'billing@example.test',
      MAILBOX_BILLING_EU_IMAP_PASS: 'billing-password',
      MAILBOX_BILLING_EU_IMAP_HOST: 'imap.eu.example.test',
      MAILBOX_BILLING_EU_SUPPORT_ADDRESS: 'billing@example.test',
      MAILBOX_BILLING_EU_CATEGORY: 'billing',
    });
    expect(
      c.mailboxes.map((m) => [m.name, m.supportAddress, m.imap.host, m.group, m.category]),
    ).toEqual([
      ['default', 'support@example.test', 'imap.example.test', undefined, undefined],
      ['security', 'security@example.test', 'imap.example.test', 'security', undefined],
      ['billing-eu', 'billing@example.test', 'imap.eu.example.test', undefined, 'billing'],
    ]);
    expect(c.mailboxes[1]!.imap).toMatchObject({
      user: 'security@example.test',
      pass: 'security-password',
    });
    // The first mailbox is the single-mailbox configuration, unchanged.
    expect(c.imap).toEqual(c.mailboxes[0]!.imap);
  });

  it('a further mailbox may have its own templates and locale, checked', () => {
    const mailbox = {
      ...valid,
      INCIDESK_MAILBOXES: 'de',
      MAILBOX_DE_IMAP_USER: 'de@example.test',
      MAILBOX_DE_IMAP_PASS: 'de-password',
      MAILBOX_DE_SUPPORT_ADDRESS: 'de@example.test',
    };
    const c = loadConfig({
      ...mailbox,
      MAILBOX_DE_LOCALE: 'de-AT',
      MAILBOX_DE_TEMPLATES: 'templates',
    });
    expect(c.mailboxes[1]).toMatchObject({ locale: 'de-AT', templates: resolve('templates') });
    expect([c.mailboxes[0]!.locale, c.mailboxes[0]!.templates]).toEqual([undefined, undefined]);
    expect(
      problems({ ...mailbox, MAILBOX_DE_LOCALE: 'German', MAILBOX_DE_TEMPLATES: 'no/such/dir' }),
    ).toEqual([
      `MAILBOX_DE_TEMPLATES: ${resolve('no/such/dir')} is not a directory`,
      'MAILBOX_DE_LOCALE: "German" is not a language tag (de, de-AT)',
    ]);
  });

  it('a further mailbox must name its own login and address; problems carry its prefix', () => {
    expect(problems({ ...valid, INCIDESK_MAILBOXES: 'security' })).toEqual([
      'MAILBOX_SECURITY_IMAP_USER: is required',
      'MAILBOX_SECURITY_SUPPORT_ADDRESS: is required',
      'MAILBOX_SECURITY_IMAP_PASS: is required',
    ]);
    expect(
      problems({
        ...valid,
        INCIDESK_MAILBOXES: 'again',
        MAILBOX_AGAIN_IMAP_USER: 'x',
        MAILBOX_AGAIN_IMAP_PASS: 'y',
        MAILBOX_AGAIN_SUPPORT_ADDRESS: 'support@example.test',
      }),
    ).toEqual(["MAILBOX_AGAIN_SUPPORT_ADDRESS: support@example.test is already another mailbox's"]);
  });

  it('OAuth2 replaces the passwords; its secrets come from files and never show', () => {
    const dir = mkdtempSync(join(tmpdir(), 'incidesk-oauth-config-'));
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'client-secret-value\n');
    const c = loadConfig({
      ...valid,
      IMAP_PASS: '',
      OAUTH_PROVIDER: 'microsoft',
      OAUTH_TENANT: 'contoso.onmicrosoft.com',
      OAUTH_CLIENT_ID: 'app-id',
      OAUTH_CLIENT_SECRET_FILE: secret,
    });
    expect(c.oauth).toMatchObject({
      user: 'support@example.test',
      clientSecret: 'client-secret-value',
    });
    expect(JSON.stringify(redactedConfig(c))).not.toContain('client-secret-value');
    expect(problems({ ...valid, IMAP_PASS: '' })).toEqual(['IMAP_PASS: is required']);
    expect(problems({ ...valid, OAUTH_PROVIDER: 'google' })).toHaveLength(3);
  });

  it('applies defaults and normalises', () => {
    const c = loadConfig(valid);
    expect(c.imap).toMatchObject({ port: 993, secure: true, mailbox: 'INBOX', pollSeconds: 60 });
    expect(c.smtp).toMatchObject({ port: 587, secure: false });
    expect(c.supportAddress).toBe('support@example.test');
    expect(c.maxMessageBytes).toBe(40 * 1024 * 1024);
    expect(c.queuePrefix).toBe('incidesk');
    expect(c.http).toEqual({ port: 9464, host: '127.0.0.1' });
  });

  it('takes the health endpoint port and host, 0 turning it off', () => {
    expect(loadConfig({ ...valid, INCIDESK_HTTP_PORT: '0' }).http.port).toBe(0);
    expect(loadConfig({ ...valid, INCIDESK_HTTP_HOST: '0.0.0.0' }).http.host).toBe('0.0.0.0');
    expect(problems({ ...valid, INCIDESK_HTTP_PORT: '70000' })[0]).toMatch(/^INCIDESK_HTTP_PORT: /);
  });

  it('lists every problem at once, naming each variable', () => {
    const list = problems({
      ...valid,
      MONGODB_URI: 'postgres://x',
      IMAP_PORT: '99999',
      INCIDESK_SECRET: 'short',
      IMAP_HOST: '',
      SUPPORT_ADDRESS: 'nobody',
    });
    expect(list).toHaveLength(5);
    expect(list.join('\n')).toMatch(/MONGODB_URI: must start with mongodb/);
    expect(list.join('\n')).toMatch(/IMAP_PORT:/);
    expect(list.join('\n')).toMatch(/INCIDESK_SECRET: must be at least 16/);
    expect(list.join('\n')).toMatch(/IMAP_HOST: is required/);
    expect(list.join('\n')).toMatch(/SUPPORT_ADDRESS: must be an email address/);
  });

  it('reports all missing variables of an empty environment', () => {
    const list = problems({});
    for (const name of [
      'MONGODB_URI',
      'REDIS_URL',
      'IMAP_HOST',
      'IMAP_USER',
      'IMAP_PASS',
      'SMTP_HOST',
      'SUPPORT_ADDRESS',
      'INCIDESK_SECRET',
      'INCIDESK_PLAN',
    ]) {
      expect(list).toContain(`${name}: is required`);
    }
  });

  it('reads secrets from *_FILE and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'incidesk-config-'));
    writeFileSync(join(dir, 'imap'), 'from-file\n');
    const c = loadConfig({ ...valid, IMAP_PASS: '', IMAP_PASS_FILE: join(dir, 'imap') });
    expect(c.imap.pass).toBe('from-file');
    expect(problems({ ...valid, IMAP_PASS_FILE: join(dir, 'imap') })).toEqual([
      'IMAP_PASS and IMAP_PASS_FILE are both set; use one',
    ]);
    expect(problems({ ...valid, SMTP_PASS_FILE: join(dir, 'missing') })[0]).toMatch(
      /SMTP_PASS_FILE: cannot read/,
    );
  });

  it('requires SMTP_PASS with SMTP_USER', () => {
    expect(problems({ ...valid, SMTP_USER: 'mailer' })).toEqual([
      'SMTP_PASS: is required when SMTP_USER is set',
    ]);
  });

  it('never shows secrets in its printable form', () => {
    const c = loadConfig({
      ...valid,
      MONGODB_URI: 'mongodb://user:dbpass@db:27017/x',
      SMTP_USER: 'u',
      SMTP_PASS: 'smtp-password',
    });
    const shown = JSON.stringify(redactedConfig(c));
    for (const secret of ['dbpass', 'imap-password', 'smtp-password', 'a-long-enough-secret'])
      expect(shown).not.toContain(secret);
  });

  it('commands on the database alone need only the store, not Redis', () => {
    expect(loadStoreConfig({ MONGODB_URI: valid.MONGODB_URI })).toEqual({
      mongoUri: valid.MONGODB_URI,
    });
    expect(() => loadStoreConfig({})).toThrow(/MONGODB_URI: is required/);
  });

  it('operator commands need only the store, Redis and the queue prefix', () => {
    expect(loadOpsConfig({ MONGODB_URI: valid.MONGODB_URI, REDIS_URL: valid.REDIS_URL })).toEqual({
      mongoUri: valid.MONGODB_URI,
      redisUrl: valid.REDIS_URL,
      redis: { host: 'redis.internal', port: 6379 },
      queuePrefix: 'incidesk',
      imap: { pollSeconds: 60 },
      mailboxes: [],
    });
    // Who the mailboxes are, for status rows, from the variables that say so (no passwords).
    expect(
      loadOpsConfig({
        ...valid,
        IMAP_PASS: '',
        INCIDESK_MAILBOXES: 'security',
        MAILBOX_SECURITY_IMAP_USER: 'sec',
        MAILBOX_SECURITY_SUPPORT_ADDRESS: 'Security@example.test',
      }).mailboxes,
    ).toEqual([
      {
        name: 'default',
        address: 'support@example.test',
        account: `${valid.IMAP_USER}@imap.example.test`,
        key: `${valid.IMAP_USER}/INBOX`,
      },
      {
        name: 'security',
        address: 'security@example.test',
        account: 'sec@imap.example.test',
        key: 'sec/INBOX',
      },
    ]);
    expect(() => loadOpsConfig({ MONGODB_URI: valid.MONGODB_URI })).toThrow(
      /REDIS_URL: is required/,
    );
  });

  it('REDIS_URL may name a Sentinel group, with its CA from a file; a bad URL says why', () => {
    const dir = mkdtempSync(join(tmpdir(), 'incidesk-config-'));
    writeFileSync(join(dir, 'ca.pem'), 'PEM\n');
    const c = loadConfig({
      ...valid,
      REDIS_URL: 'rediss+sentinel://:pw@s1,s2:26380/main/2',
      REDIS_TLS_CA_FILE: join(dir, 'ca.pem'),
    });
    expect(c.redis).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      name: 'main',
      db: 2,
      tls: { ca: 'PEM' },
    });
    expect(redactedConfig(c).redis).toMatchObject({ password: '***' });
    expect(() => loadConfig({ ...valid, REDIS_URL: 'redis+sentinel://s1:26379' })).toThrow(
      /REDIS_URL: names no master/,
    );
  });
});
