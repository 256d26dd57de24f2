import { createVerify, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  clientAssertion,
  parseClientCertificate,
  codeFromPaste,
  consentUrl,
  needsRefresh,
  parseServiceAccount,
  readTokenResponse,
  resolveOAuth,
  serviceAccountAssertion,
  tokenRequestBody,
  type OAuthSettings,
} from '../../src/domain/oauth.js';
import { selfSignedCertificate } from '../support/certificates.js';

const now = new Date('2026-12-07T10:00:00Z');
const user = 'support@example.test';

describe('resolveOAuth', () => {
  it('Microsoft 365: client credentials at the tenant’s v2.0 endpoint, Exchange Online scope', () => {
    const r = resolveOAuth({
      provider: 'microsoft',
      user,
      tenant: 'contoso.onmicrosoft.com',
      clientId: 'app',
      clientSecret: 's',
    });
    expect(r).toMatchObject({
      settings: {
        tokenUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
        scope: 'https://outlook.office365.com/.default',
      },
    });
  });

  it('names every missing variable for the provider chosen', () => {
    expect(resolveOAuth({ provider: 'microsoft', user }).problems).toEqual([
      'OAUTH_TENANT: is required for Microsoft 365 (the directory/tenant id)',
      'OAUTH_CLIENT_ID: is required for Microsoft 365 (the app registration)',
      'OAUTH_CLIENT_SECRET: is required for Microsoft 365 (client credentials; or OAUTH_CERTIFICATE and OAUTH_PRIVATE_KEY)',
    ]);
    expect(resolveOAuth({ provider: 'google', user }).problems).toHaveLength(3);
    expect(resolveOAuth({ provider: 'generic', user, clientId: 'c' }).problems).toEqual([
      'OAUTH_TOKEN_URL: is required for the generic provider',
      'OAUTH_CLIENT_SECRET or OAUTH_REFRESH_TOKEN: one is required for the generic provider',
    ]);
  });

  it('Google: a service account key, or a client with a refresh token; the token URL can be overridden', () => {
    const key = JSON.stringify({
      client_email: 'sa@p.iam.gserviceaccount.com',
      private_key: 'PEM',
    });
    const r = resolveOAuth({
      provider: 'google',
      user,
      serviceAccountJson: key,
      tokenUrl: 'http://127.0.0.1:1/token',
    });
    expect(r).toMatchObject({
      settings: {
        tokenUrl: 'http://127.0.0.1:1/token',
        scope: 'https://mail.google.com/',
        serviceAccount: { clientEmail: 'sa@p.iam.gserviceaccount.com' },
      },
    });
    expect(
      resolveOAuth({ provider: 'google', user, serviceAccountJson: '{"x":1' }).problems,
    ).toEqual([
      'OAUTH_SERVICE_ACCOUNT: is not JSON (expected the service account key file Google hands out)',
    ]);
  });
});

describe('tokenRequestBody', () => {
  const base: OAuthSettings = {
    provider: 'generic',
    tokenUrl: 'https://idp/token',
    scope: 'mail',
    user,
    clientId: 'c',
    clientSecret: 's',
  };
  it('client credentials, refresh token, or JWT bearer', () => {
    expect(Object.fromEntries(tokenRequestBody(base, now))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'c',
      client_secret: 's',
      scope: 'mail',
    });
    expect(Object.fromEntries(tokenRequestBody({ ...base, refreshToken: 'r' }, now))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'r',
      client_id: 'c',
      client_secret: 's',
      scope: 'mail',
    });
  });

  it('signs a service-account assertion for the mailbox (domain-wide delegation)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const account = {
      clientEmail: 'sa@p.iam.gserviceaccount.com',
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const form = tokenRequestBody(
      { ...base, provider: 'google', serviceAccount: account, scope: 'https://mail.google.com/' },
      now,
    );
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const [h, p, sig] = form.get('assertion')!.split('.');
    expect(
      createVerify('RSA-SHA256')
        .update(`${h}.${p}`)
        .verify(publicKey, Buffer.from(sig!, 'base64url')),
    ).toBe(true);
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toEqual({
      iss: account.clientEmail,
      sub: user,
      scope: 'https://mail.google.com/',
      aud: 'https://idp/token',
      iat: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 3600,
    });
    expect(serviceAccountAssertion(account, user, 's', 'a', now)).toBe(
      serviceAccountAssertion(account, user, 's', 'a', now),
    );
  });
});

describe('Microsoft 365 certificate credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'incidesk-oauth-unit-'));
  const app = selfSignedCertificate(dir, 'app', 'incidesk');
  const other = selfSignedCertificate(dir, 'other', 'incidesk');
  /** `AB:CD:…` hex, as `openssl x509 -fingerprint` and X509Certificate print it, in base64url. */
  const fromHex = (colons: string) =>
    Buffer.from(colons.replace(/:/g, ''), 'hex').toString('base64url');

  it('thumbprints are the certificate’s SHA-1 and SHA-256 fingerprints, base64url', () => {
    const parsed = parseClientCertificate(app.cert, app.key);
    const x509 = new X509Certificate(app.cert);
    expect(parsed).toEqual({
      privateKey: app.key,
      x5t: fromHex(x509.fingerprint),
      x5tS256: fromHex(x509.fingerprint256),
    });
  });

  it('names what is wrong with the files, never their content', () => {
    expect(parseClientCertificate(app.cert, other.key)).toEqual([
      'OAUTH_PRIVATE_KEY: is not the private key of the certificate in OAUTH_CERTIFICATE',
    ]);
    expect(parseClientCertificate(app.key, app.key)).toEqual([
      'OAUTH_CERTIFICATE: is not a PEM certificate (-----BEGIN CERTIFICATE-----)',
    ]);
    expect(parseClientCertificate(app.cert, 'nonsense')).toEqual([
      'OAUTH_PRIVATE_KEY: is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)',
    ]);
    expect(parseClientCertificate(app.cert, undefined)).toEqual([
      'OAUTH_PRIVATE_KEY: is required with OAUTH_CERTIFICATE (certificate credentials)',
    ]);
    const both = resolveOAuth({
      provider: 'microsoft',
      user,
      tenant: 't',
      clientId: 'app',
      clientSecret: 's',
      certificatePem: app.cert,
      privateKeyPem: app.key,
    });
    expect(both.problems).toEqual([
      'OAUTH_CLIENT_SECRET and OAUTH_CERTIFICATE are both set; use one',
    ]);
  });

  it('client credentials with an RS256 client assertion instead of a secret (RFC 7523)', () => {
    const r = resolveOAuth({
      provider: 'microsoft',
      user,
      tenant: 'contoso.onmicrosoft.com',
      clientId: 'app-id',
      certificatePem: app.cert,
      privateKeyPem: app.key,
    });
    if (!('settings' in r)) throw new Error(r.problems.join('; '));
    const form = Object.fromEntries(tokenRequestBody(r.settings, now));
    expect(form).toEqual({
      grant_type: 'client_credentials',
      client_id: 'app-id',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: expect.any(String),
      scope: 'https://outlook.office365.com/.default',
    });
    expect(form).not.toHaveProperty('client_secret');
    const [h, p, sig] = form.client_assertion!.split('.');
    const x509 = new X509Certificate(app.cert);
    expect(
      createVerify('RSA-SHA256')
        .update(`${h}.${p}`)
        .verify(x509.publicKey, Buffer.from(sig!, 'base64url')),
    ).toBe(true);
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      x5t: fromHex(x509.fingerprint),
      'x5t#S256': fromHex(x509.fingerprint256),
    });
    const iat = now.getTime() / 1000;
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toEqual({
      aud: r.settings.tokenUrl,
      iss: 'app-id',
      sub: 'app-id',
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      iat,
      nbf: iat,
      exp: iat + 600,
    });
    // A fresh jti for every request: Entra ID refuses an assertion used twice.
    const cert = r.settings.clientCertificate!;
    expect(clientAssertion(cert, 'a', 'b', now)).not.toBe(clientAssertion(cert, 'a', 'b', now));
  });
});

describe('readTokenResponse', () => {
  it('a token, refreshed before it expires: 5 minutes early, or a quarter of a short life', () => {
    const hour = readTokenResponse(200, '{"access_token":"t","expires_in":3599}', now);
    expect(hour).toMatchObject({
      ok: true,
      token: {
        accessToken: 't',
        expiresAt: new Date(now.getTime() + 3_599_000),
        refreshAt: new Date(now.getTime() + 3_299_000),
      },
    });
    const short = readTokenResponse(200, '{"access_token":"t","expires_in":4}', now);
    expect(short).toMatchObject({
      ok: true,
      token: { refreshAt: new Date(now.getTime() + 3_000) },
    });
    if (!short.ok) throw new Error('expected a token');
    expect(needsRefresh(short.token, new Date(now.getTime() + 2_999))).toBe(false);
    expect(needsRefresh(short.token, new Date(now.getTime() + 3_000))).toBe(true);
    expect(needsRefresh(undefined, now)).toBe(true);
  });

  it('a refused credential is told apart from an outage, in the endpoint’s words', () => {
    expect(
      readTokenResponse(
        401,
        '{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\\r\\nTrace ID: 1"}',
        now,
      ),
    ).toEqual({
      ok: false,
      refused: true,
      reason: 'invalid_client: AADSTS7000215: Invalid client secret provided.',
    });
    expect(readTokenResponse(400, '{"error":"invalid_grant"}', now)).toMatchObject({
      refused: true,
    });
    expect(readTokenResponse(503, 'upstream down', now)).toEqual({
      ok: false,
      refused: false,
      reason: 'HTTP 503: upstream down',
    });
    expect(readTokenResponse(200, '{"token_type":"Bearer"}', now)).toMatchObject({
      ok: false,
      refused: false,
    });
  });
});

describe('consent', () => {
  it('asks for offline access with a fresh consent, and takes the code or the whole redirect back', () => {
    const url = new URL(
      consentUrl({
        authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
        clientId: 'c',
        redirectUri: 'http://127.0.0.1',
        scope: 'https://mail.google.com/',
      }),
    );
    expect(url.searchParams.get('access_type')).toBe('offline');
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(codeFromPaste('  4/0Ab-xyz \n')).toBe('4/0Ab-xyz');
    expect(codeFromPaste('http://127.0.0.1/?code=4%2F0Ab-xyz&scope=x')).toBe('4/0Ab-xyz');
    expect(parseServiceAccount('{}')).toMatch(/no client_email and private_key/);
  });
});
