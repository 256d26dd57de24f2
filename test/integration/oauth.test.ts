/**
 * OAuth2 sign-in on real servers: a local OAuth2 token server (test/support/oauth-server.ts),
 * a Dovecot that accepts only XOAUTH2 and asks the token server's introspection endpoint, and
 * an SMTP server that does the same. incidesk gets its tokens from the token server with the
 * Microsoft 365 (client credentials with a secret or a certificate), Google (service account, refresh token) and generic
 * flows, keeps working as tokens expire, recovers from a revoked token, and names a wrong
 * client secret in `check --connect`, the log, `status` and `/healthz`.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/app.js';
import { countIncidents } from '../../src/store/incidents.js';
import { signInRefusals } from '../../src/store/sign-in.js';
import {
  deliver,
  testEnv,
  testLogger,
  testPlan,
  waitUntil,
  type TestEnv,
} from '../support/harness.js';
import { certificateThumbprints, clientAssertion } from '../../src/domain/oauth.js';
import { OAuthRefusedError, postTokenRequest } from '../../src/mail/oauth.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { startOAuthServer, type OAuthTestServer } from '../support/oauth-server.js';
import { runIncidesk, spawnIncidesk } from '../support/process.js';
import { freePort, startMailServer } from '../support/services.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const MAILBOX = 'helpdesk@example.test';
const APP = { id: 'incidesk-app', secret: 'app-secret-5b1e7c' };
const dir = mkdtempSync(join(tmpdir(), 'incidesk-oauth-'));
/** A secret as an operator gives it: a file named by `*_FILE`. */
const secretFile = (name: string, value: string) => {
  const file = join(dir, name);
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return file;
};

describe('OAuth2 sign-in to IMAP and SMTP', () => {
  let oauth: OAuthTestServer;
  let mail: Awaited<ReturnType<typeof startMailServer>>;
  let smtp: SmtpCapture;
  let imapProxy: TcpProxy;
  let smtpProxy: TcpProxy;
  let t: TestEnv;
  let app: RunningApp | undefined;
  /** Microsoft 365's client-credentials flow, against the local token server. */
  let microsoft: Record<string, string>;

  beforeAll(async () => {
    oauth = await startOAuthServer();
    oauth.addClient(APP.id, APP.secret, MAILBOX);
    mail = await startMailServer(undefined, { oauth2IntrospectionUrl: oauth.introspectionUrl });
    smtp = await startSmtpCapture({ oauth2IntrospectionUrl: oauth.introspectionUrl });
    // Proxies the test can cut, so that incidesk must sign in again.
    imapProxy = await TcpProxy.start(mail.imapPort);
    smtpProxy = await TcpProxy.start(smtp.port);
    microsoft = {
      IMAP_PORT: String(imapProxy.port),
      IMAP_USER: MAILBOX,
      IMAP_PASS: '',
      SMTP_PORT: String(smtpProxy.port),
      OAUTH_PROVIDER: 'microsoft',
      OAUTH_TENANT: 'contoso.onmicrosoft.com',
      OAUTH_TOKEN_URL: oauth.tokenUrl,
      OAUTH_CLIENT_ID: APP.id,
      OAUTH_CLIENT_SECRET_FILE: secretFile('client-secret', APP.secret),
    };
    t = testEnv(smtp, microsoft);
  });

  afterAll(async () => {
    await app?.stop();
    await imapProxy?.close();
    await smtpProxy?.close();
    await smtp?.close();
    await mail?.stop();
    await oauth?.close();
  });

  const customerWrites = (n: number) =>
    deliver(
      MAILBOX,
      { from: `customer${n}@example.com`, to: MAILBOX, subject: `Outage ${n}`, text: 'Down.' },
      mail.lmtpPort,
    );
  const acknowledged = (n: number) =>
    waitUntil(
      `acknowledgement ${n}`,
      async () => smtp.messages.length >= n && (await countIncidents()) >= n,
    );

  it('checks the sign-in with XOAUTH2: a password is refused by this Dovecot', async () => {
    const r = await runIncidesk(['check', '--connect'], t.env);
    expect(r.stdout).toMatch(
      /^IMAP\s+ok .*signed in as helpdesk@example\.test with OAuth2; INBOX/m,
    );
    expect(r.stdout).toMatch(/^SMTP\s+ok .*signed in as helpdesk@example\.test with OAuth2/m);
    expect(r.code).toBe(0);
    // One token for both sign-ins, from the client-credentials grant.
    expect(oauth.issued).toEqual([{ grant: 'client_credentials', mailbox: MAILBOX }]);
    const withPassword = await runIncidesk(['check', '--connect'], {
      ...t.env,
      ...Object.fromEntries(
        Object.keys(microsoft)
          .filter((k) => k.startsWith('OAUTH'))
          .map((k) => [k, '']),
      ),
      IMAP_PASS: 'secret',
    });
    expect(withPassword.stdout).toMatch(/^IMAP\s+SIGN-IN REFUSED/m);
  }, 60_000);

  it('takes mail in and answers across several token expiries, never presenting an expired token', async () => {
    oauth.expiresIn = 2;
    const before = { issued: oauth.issued.length, ...oauth.introspections };
    app = await startApp(t.config, testPlan(), testLogger());
    for (let n = 1; n <= 3; n++) {
      await customerWrites(n);
      await acknowledged(n);
      // Let the token expire, then drop both connections: each must sign in afresh.
      await sleep(2_500);
      imapProxy.cut();
      smtpProxy.cut();
    }
    await customerWrites(4);
    await acknowledged(4);
    expect(smtp.messages.map((m) => m.envelopeTo[0])).toEqual(
      [1, 2, 3, 4].map((n) => `customer${n}@example.com`),
    );
    // A new token for each expired one, and every token shown to a server was still good.
    expect(oauth.issued.length - before.issued).toBeGreaterThanOrEqual(4);
    expect(oauth.introspections.inactive).toBe(before.inactive);
    expect(oauth.introspections.active - before.active).toBeGreaterThanOrEqual(8);
    expect(await signInRefusals()).toEqual([]);
  }, 120_000);

  it('recovers from a revoked token: refused once, a new token, signed in again', async () => {
    oauth.expiresIn = 3600;
    // A long-lived token first, so that the next sign-ins present a cached one.
    imapProxy.cut();
    smtpProxy.cut();
    await customerWrites(5);
    await acknowledged(5);
    await waitUntil('the intake in IDLE again', async () => app!.intake!.idling);

    // SMTP: the revoked token is refused, nodemailer asks for a renewed one, the mail goes.
    let before = { issued: oauth.issued.length, ...oauth.introspections };
    oauth.revokeAll();
    smtpProxy.cut();
    await customerWrites(6);
    await acknowledged(6);
    expect(oauth.introspections.inactive - before.inactive).toBe(1);
    expect(oauth.issued.length - before.issued).toBe(1);

    // IMAP: the same, through the intake's reconnect.
    before = { issued: oauth.issued.length, ...oauth.introspections };
    oauth.revokeAll();
    imapProxy.cut();
    await customerWrites(7);
    await acknowledged(7);
    expect(oauth.introspections.inactive - before.inactive).toBe(1);
    expect(oauth.issued.length - before.issued).toBe(1);

    expect(await signInRefusals()).toEqual([]);
    expect(smtp.messages.at(-1)!.envelopeTo).toEqual(['customer7@example.com']);
  }, 120_000);

  it('names a wrong client secret in check --connect (exit 77)', async () => {
    const wrong = { ...t.env, OAUTH_CLIENT_SECRET_FILE: secretFile('wrong', 'not-the-secret') };
    const r = await runIncidesk(['check', '--connect'], wrong);
    expect(r.code).toBe(77);
    const said =
      'OAuth2 token endpoint http://127.0.0.1:\\d+ refused the credentials for helpdesk@example.test: invalid_client: Invalid client secret provided.';
    expect(r.stdout).toMatch(new RegExp(`^IMAP\\s+SIGN-IN REFUSED .*${said}`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^SMTP\\s+SIGN-IN REFUSED .*${said}`, 'm'));
    expect(r.stdout + r.stderr).not.toContain('not-the-secret');
  }, 60_000);

  it('signs in with a Microsoft 365 certificate credential; a key the app does not have is refused clearly', async () => {
    const CERT_APP = 'incidesk-cert-app';
    const registered = selfSignedCertificate(dir, 'registered', 'incidesk');
    oauth.addCertificateClient(CERT_APP, registered.cert, MAILBOX);
    const withCertificate = (files: { certFile: string; keyFile: string }) => ({
      ...t.env,
      OAUTH_CLIENT_ID: CERT_APP,
      OAUTH_CLIENT_SECRET_FILE: '',
      OAUTH_CERTIFICATE_FILE: files.certFile,
      OAUTH_PRIVATE_KEY_FILE: files.keyFile,
    });

    const good = await runIncidesk(['check', '--connect'], withCertificate(registered));
    expect(good.stdout).toMatch(/^IMAP\s+ok .*signed in as helpdesk@example\.test with OAuth2/m);
    expect(good.stdout).toMatch(/^SMTP\s+ok .*signed in as helpdesk@example\.test with OAuth2/m);
    expect(good.code).toBe(0);
    expect(oauth.issued.at(-1)).toEqual({ grant: 'client_credentials', mailbox: MAILBOX });

    // Another key pair, never uploaded to the app registration: Entra ID does not know it.
    const other = selfSignedCertificate(dir, 'other', 'incidesk');
    const wrong = await runIncidesk(['check', '--connect'], withCertificate(other));
    expect(wrong.code).toBe(77);
    expect(wrong.stdout).toMatch(
      /^IMAP\s+SIGN-IN REFUSED .*refused the credentials for helpdesk@example\.test: invalid_client: AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application\./m,
    );
    expect(wrong.stdout + wrong.stderr).not.toContain('PRIVATE KEY');

    // The registered certificate with another key: caught before anything is sent.
    const mismatched = await runIncidesk(
      ['check', '--connect'],
      withCertificate({ certFile: registered.certFile, keyFile: other.keyFile }),
    );
    expect(mismatched.code).toBe(78);
    expect(mismatched.stderr).toMatch(
      /OAUTH_PRIVATE_KEY: is not the private key of the certificate in OAUTH_CERTIFICATE/,
    );

    // The token server really checks the signature: the registered certificate's thumbprint
    // on an assertion signed with another key is refused.
    const forged = clientAssertion(
      {
        privateKey: other.key,
        ...certificateThumbprints(Buffer.from(new X509Certificate(registered.cert).raw)),
      },
      CERT_APP,
      oauth.tokenUrl,
      new Date(),
    );
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CERT_APP,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: forged,
    });
    await expect(postTokenRequest(oauth.tokenUrl, form, MAILBOX)).rejects.toThrow(
      new OAuthRefusedError(
        `OAuth2 token endpoint ${oauth.url} refused the credentials for ${MAILBOX}: invalid_client: AADSTS700027: Client assertion failed signature validation.`,
      ),
    );
  }, 120_000);

  it('a running service names a wrong client secret once: log, status and /healthz', async () => {
    const httpPort = await freePort();
    const env = testEnv(smtp, {
      ...microsoft,
      OAUTH_CLIENT_SECRET_FILE: secretFile('wrong-running', 'still-not-the-secret'),
      INCIDESK_HTTP_PORT: String(httpPort),
    }).env;
    const proc = spawnIncidesk(['start'], { ...env, LOG_LEVEL: 'info' });
    let out = '';
    proc.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitUntil(
        'the refusal in the log',
        async () => /IMAP sign-in refused/.test(out),
        60_000,
      );
      const status = await runIncidesk(['status'], env);
      expect(status.stdout).toMatch(
        /^sign-in:\s+IMAP helpdesk@example\.test@127\.0\.0\.1 REFUSED: OAuth2 token endpoint .* invalid_client: Invalid client secret provided\./m,
      );
      const health = await new Promise<{ code: number; body: string }>((resolve, reject) =>
        get(`http://127.0.0.1:${httpPort}/healthz`, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
        }).on('error', reject),
      );
      expect(health.code).toBe(503);
      expect(health.body).toMatch(
        /imap: helpdesk@example\.test@127\.0\.0\.1 sign-in refused since .*invalid_client/,
      );
      // Reported once and retried on the slow schedule, not asked again in a tight loop.
      await sleep(2_000);
      const refusals = out.split('\n').filter((l) => l.includes('IMAP sign-in refused'));
      expect(refusals).toHaveLength(1);
      expect(JSON.parse(refusals[0]!)).toMatchObject({ retryInMs: 300_000 });
      expect(out).not.toContain('still-not-the-secret');
    } finally {
      expect(await proc.kill('SIGTERM')).toBe(0);
    }
  }, 120_000);

  it('signs in with a Google service account (JWT bearer, domain-wide delegation) and with refresh tokens', async () => {
    const google = (extra: Record<string, string>) => ({
      ...t.env,
      OAUTH_TENANT: '',
      OAUTH_CLIENT_ID: '',
      OAUTH_CLIENT_SECRET_FILE: '',
      OAUTH_PROVIDER: 'google',
      ...extra,
    });
    const key = oauth.addServiceAccount('incidesk@project.iam.gserviceaccount.com');
    const serviceAccount = await runIncidesk(
      ['check', '--connect'],
      google({ OAUTH_SERVICE_ACCOUNT_FILE: secretFile('sa.json', key) }),
    );
    expect(serviceAccount.stdout).toMatch(/^IMAP\s+ok .*with OAuth2/m);
    expect(serviceAccount.stdout).toMatch(/^SMTP\s+ok .*with OAuth2/m);
    expect(oauth.issued.at(-1)).toEqual({
      grant: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      mailbox: MAILBOX,
    });

    oauth.addClient('gmail-desktop', 'desktop-secret', MAILBOX);
    const refresh = oauth.addRefreshToken('gmail-desktop', MAILBOX);
    const consumer = await runIncidesk(
      ['check', '--connect'],
      google({
        OAUTH_CLIENT_ID: 'gmail-desktop',
        OAUTH_CLIENT_SECRET: 'desktop-secret',
        OAUTH_REFRESH_TOKEN_FILE: secretFile('refresh', refresh),
      }),
    );
    expect(consumer.stdout).toMatch(/^IMAP\s+ok .*with OAuth2/m);
    expect(oauth.issued.at(-1)).toEqual({ grant: 'refresh_token', mailbox: MAILBOX });

    const generic = await runIncidesk(['check', '--connect'], {
      ...t.env,
      OAUTH_TENANT: '',
      OAUTH_PROVIDER: 'generic',
      OAUTH_SCOPE: 'imap smtp',
    });
    expect(generic.stdout).toMatch(/^IMAP\s+ok .*with OAuth2/m);
    expect(oauth.issued.at(-1)).toEqual({ grant: 'client_credentials', mailbox: MAILBOX });
  }, 90_000);

  it('`mailbox authorize` prints the consent URL, reads the code back and prints a refresh token', async () => {
    oauth.addClient('desktop-app', 'desktop-app-secret', MAILBOX);
    const code = oauth.addAuthorizationCode('desktop-app', MAILBOX, 'http://127.0.0.1');
    const env = {
      ...t.env,
      OAUTH_CLIENT_ID: 'desktop-app',
      OAUTH_CLIENT_SECRET_FILE: secretFile('desktop-secret', 'desktop-app-secret'),
      OAUTH_AUTH_URL: oauth.authUrl,
    };
    const r = await runIncidesk(['mailbox', 'authorize', '--provider', 'google'], env, {
      input: `http://127.0.0.1/?state=&code=${code}&scope=https://mail.google.com/\n`,
    });
    expect(r.code).toBe(0);
    const [url, tokenLine] = r.stdout.trim().split('\n');
    const consent = new URL(url!);
    expect(`${consent.origin}${consent.pathname}`).toBe(oauth.authUrl);
    expect(Object.fromEntries(consent.searchParams)).toEqual({
      client_id: 'desktop-app',
      redirect_uri: 'http://127.0.0.1',
      response_type: 'code',
      scope: 'https://mail.google.com/',
      access_type: 'offline',
      prompt: 'consent',
      login_hint: MAILBOX,
    });
    expect(tokenLine).toBe(`OAUTH_REFRESH_TOKEN=${oauth.refreshTokenFor(MAILBOX)}`);
    expect(r.stderr).toMatch(/Paste that whole address, or just the code/);

    // The same code twice is refused, clearly.
    const again = await runIncidesk(['mailbox', 'authorize', '--provider', 'google'], env, {
      input: `${code}\n`,
    });
    expect(again.code).toBe(77);
    expect(again.stderr).toMatch(/refused the credentials .*invalid_grant: Malformed auth code/);
  }, 60_000);
});
