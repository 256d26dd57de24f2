/**
 * OAuth2 for IMAP and SMTP sign-in, the pure part: which grant a provider uses, the token
 * request's form, the service-account JWT, reading the token endpoint's answer, and when a
 * token is due for refresh. `src/mail/oauth.ts` does the HTTP and the caching.
 */
import { createHash, createPrivateKey, createSign, randomUUID, X509Certificate } from 'node:crypto';

export type OAuthProviderName = 'microsoft' | 'google' | 'generic';

/** A Google service-account key (the JSON file the console hands out), the fields we use. */
export interface ServiceAccount {
  clientEmail: string;
  privateKey: string;
}

/**
 * A Microsoft 365 certificate credential: the private key signs the client assertion, and the
 * certificate's thumbprints (base64url SHA-1 and SHA-256 of its DER form) tell Entra ID which
 * of the app registration's uploaded certificates checks the signature.
 */
export interface ClientCertificate {
  privateKey: string;
  x5t: string;
  x5tS256: string;
}

/** Everything needed to get an access token for one mailbox, resolved from configuration. */
export interface OAuthSettings {
  provider: OAuthProviderName;
  tokenUrl: string;
  scope: string;
  /** The mailbox signed in as (XOAUTH2 `user`); the `sub` a service account acts for. */
  user: string;
  clientId?: string;
  clientSecret?: string;
  refreshToken?: string;
  serviceAccount?: ServiceAccount;
  clientCertificate?: ClientCertificate;
}

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const GOOGLE_AUTH_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';
export const MICROSOFT_SCOPE = 'https://outlook.office365.com/.default';
export const microsoftTokenUrl = (tenant: string) =>
  `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** RFC 7523 §2.2: the client authenticates with a signed JWT instead of a secret. */
export const JWT_CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** How long a client assertion is good for: it is made afresh for every token request. */
const ASSERTION_LIFETIME_S = 600;

/** What the operator wrote (OAUTH_* variables), before it is checked. */
export interface OAuthInput {
  provider: OAuthProviderName;
  user: string;
  tenant?: string;
  clientId?: string;
  clientSecret?: string;
  refreshToken?: string;
  /** The service-account key file's JSON text. */
  serviceAccountJson?: string;
  /** Microsoft: the certificate (PEM) uploaded to the app registration, and its private key. */
  certificatePem?: string;
  privateKeyPem?: string;
  tokenUrl?: string;
  scope?: string;
}

/** Check the combination a provider needs; every problem is named after its variable. */
export function resolveOAuth(
  input: OAuthInput,
): { settings: OAuthSettings; problems: [] } | { problems: string[] } {
  const problems: string[] = [];
  const need = (value: string | undefined, name: string, why: string) => {
    if (!value) problems.push(`${name}: is required ${why}`);
  };
  let serviceAccount: ServiceAccount | undefined;
  let clientCertificate: ClientCertificate | undefined;
  let tokenUrl = input.tokenUrl;
  let scope = input.scope;
  const { provider } = input;
  if (provider === 'microsoft') {
    need(input.tenant, 'OAUTH_TENANT', 'for Microsoft 365 (the directory/tenant id)');
    need(input.clientId, 'OAUTH_CLIENT_ID', 'for Microsoft 365 (the app registration)');
    if (input.certificatePem || input.privateKeyPem) {
      if (input.clientSecret)
        problems.push('OAUTH_CLIENT_SECRET and OAUTH_CERTIFICATE are both set; use one');
      const parsed = parseClientCertificate(input.certificatePem, input.privateKeyPem);
      if (Array.isArray(parsed)) problems.push(...parsed);
      else clientCertificate = parsed;
    } else
      need(
        input.clientSecret,
        'OAUTH_CLIENT_SECRET',
        'for Microsoft 365 (client credentials; or OAUTH_CERTIFICATE and OAUTH_PRIVATE_KEY)',
      );
    tokenUrl ??= input.tenant ? microsoftTokenUrl(input.tenant) : undefined;
    scope ??= MICROSOFT_SCOPE;
  } else if (provider === 'google') {
    if (input.serviceAccountJson) {
      const parsed = parseServiceAccount(input.serviceAccountJson);
      if (typeof parsed === 'string') problems.push(`OAUTH_SERVICE_ACCOUNT: ${parsed}`);
      else serviceAccount = parsed;
    } else {
      const why = 'for Google without a service account (OAUTH_SERVICE_ACCOUNT_FILE)';
      need(input.clientId, 'OAUTH_CLIENT_ID', why);
      need(input.clientSecret, 'OAUTH_CLIENT_SECRET', why);
      need(
        input.refreshToken,
        'OAUTH_REFRESH_TOKEN',
        `${why}; get one with incidesk mailbox authorize`,
      );
    }
    tokenUrl ??= GOOGLE_TOKEN_URL;
    scope ??= GOOGLE_MAIL_SCOPE;
  } else {
    need(input.tokenUrl, 'OAUTH_TOKEN_URL', 'for the generic provider');
    need(input.clientId, 'OAUTH_CLIENT_ID', 'for the generic provider');
    if (!input.clientSecret && !input.refreshToken)
      problems.push(
        'OAUTH_CLIENT_SECRET or OAUTH_REFRESH_TOKEN: one is required for the generic provider',
      );
    scope ??= '';
  }
  if (tokenUrl && !/^https?:\/\//.test(tokenUrl))
    problems.push('OAUTH_TOKEN_URL: must be an http(s) URL');
  if (problems.length > 0 || !tokenUrl) return { problems };
  return {
    problems: [],
    settings: {
      provider,
      tokenUrl,
      scope: scope ?? '',
      user: input.user,
      clientId: input.clientId,
      clientSecret: input.clientSecret,
      refreshToken: input.refreshToken,
      serviceAccount,
      clientCertificate,
    },
  };
}

/**
 * The certificate credential from its two PEM files, or what is wrong with them (never their
 * content). A key that is not the certificate's would only be refused later, by Entra ID, as
 * a bad signature: say so now, naming the variables.
 */
export function parseClientCertificate(
  certificatePem: string | undefined,
  privateKeyPem: string | undefined,
): ClientCertificate | string[] {
  if (!certificatePem || !privateKeyPem)
    return [
      `${certificatePem ? 'OAUTH_PRIVATE_KEY' : 'OAUTH_CERTIFICATE'}: is required with ${certificatePem ? 'OAUTH_CERTIFICATE' : 'OAUTH_PRIVATE_KEY'} (certificate credentials)`,
    ];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    return ['OAUTH_CERTIFICATE: is not a PEM certificate (-----BEGIN CERTIFICATE-----)'];
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(privateKeyPem)))
      return ['OAUTH_PRIVATE_KEY: is not the private key of the certificate in OAUTH_CERTIFICATE'];
  } catch {
    return [
      'OAUTH_PRIVATE_KEY: is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)',
    ];
  }
  return { privateKey: privateKeyPem, ...certificateThumbprints(certificate.raw) };
}

/** RFC 7515 `x5t` and `x5t#S256`: base64url SHA-1 and SHA-256 of the certificate's DER bytes. */
export function certificateThumbprints(der: Buffer): { x5t: string; x5tS256: string } {
  return {
    x5t: createHash('sha1').update(der).digest('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
  };
}

/**
 * RFC 7523 client assertion for Entra ID's certificate credentials: the app (`iss` = `sub` =
 * client id) signs, for the token endpoint (`aud`), a short-lived JWT with a unique `jti`.
 */
export function clientAssertion(
  cert: ClientCertificate,
  clientId: string,
  audience: string,
  now: Date,
  jti: string = randomUUID(),
): string {
  const iat = Math.floor(now.getTime() / 1000);
  const header = base64url(
    JSON.stringify({ alg: 'RS256', typ: 'JWT', x5t: cert.x5t, 'x5t#S256': cert.x5tS256 }),
  );
  const claims = base64url(
    JSON.stringify({
      aud: audience,
      iss: clientId,
      sub: clientId,
      jti,
      iat,
      nbf: iat,
      exp: iat + ASSERTION_LIFETIME_S,
    }),
  );
  return signJwt(header, claims, cert.privateKey);
}

function signJwt(header: string, claims: string, privateKey: string): string {
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(privateKey);
  return `${header}.${claims}.${base64url(signature)}`;
}

/** The key file's fields we need, or what is wrong with it (never its content). */
export function parseServiceAccount(json: string): ServiceAccount | string {
  let key: { client_email?: unknown; private_key?: unknown };
  try {
    key = JSON.parse(json) as typeof key;
  } catch {
    return 'is not JSON (expected the service account key file Google hands out)';
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string')
    return 'has no client_email and private_key (expected a service account key file)';
  return { clientEmail: key.client_email, privateKey: key.private_key };
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/**
 * The signed assertion of Google's JWT-bearer flow with domain-wide delegation: the service
 * account (`iss`) asks for a token acting as the mailbox (`sub`), valid for an hour.
 */
export function serviceAccountAssertion(
  account: ServiceAccount,
  user: string,
  scope: string,
  audience: string,
  now: Date,
): string {
  const iat = Math.floor(now.getTime() / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = base64url(
    JSON.stringify({
      iss: account.clientEmail,
      sub: user,
      scope,
      aud: audience,
      iat,
      exp: iat + 3600,
    }),
  );
  return signJwt(header, claims, account.privateKey);
}

/** The form posted to the token endpoint: a service account, else a refresh token, else the client itself. */
export function tokenRequestBody(s: OAuthSettings, now: Date): URLSearchParams {
  if (s.serviceAccount)
    return new URLSearchParams({
      grant_type: JWT_BEARER_GRANT,
      assertion: serviceAccountAssertion(s.serviceAccount, s.user, s.scope, s.tokenUrl, now),
    });
  const client: Record<string, string> = { client_id: s.clientId ?? '' };
  if (s.clientSecret) client.client_secret = s.clientSecret;
  if (s.clientCertificate) {
    client.client_assertion_type = JWT_CLIENT_ASSERTION;
    client.client_assertion = clientAssertion(
      s.clientCertificate,
      s.clientId ?? '',
      s.tokenUrl,
      now,
    );
  }
  const scope: Record<string, string> = s.scope ? { scope: s.scope } : {};
  if (s.refreshToken)
    return new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: s.refreshToken,
      ...client,
      ...scope,
    });
  return new URLSearchParams({ grant_type: 'client_credentials', ...client, ...scope });
}

export interface AccessToken {
  accessToken: string;
  expiresAt: Date;
  /** When to ask for the next one: a little before expiry, so no sign-in uses a dying token. */
  refreshAt: Date;
}

/** Refresh this long before expiry at most, and at most a quarter of the token's life early. */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** A token endpoint that names no lifetime: assume the usual hour. */
const DEFAULT_LIFETIME_S = 3600;

/**
 * Errors RFC 6749 §5.2 gives for credentials that are wrong, revoked or not allowed: asking
 * again will not help until an administrator acts. Anything else (5xx, network) is transient.
 */
const REFUSALS = new Set([
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'access_denied',
  'invalid_scope',
  'unsupported_grant_type',
]);

export type TokenAnswer =
  { ok: true; token: AccessToken } | { ok: false; refused: boolean; reason: string };

/** Read the token endpoint's answer (HTTP status and body text). */
export function readTokenResponse(status: number, body: string, now: Date): TokenAnswer {
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    /* not JSON: reported with the status below */
  }
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  if (status >= 200 && status < 300 && text(json.access_token)) {
    const lifetimeS = Number(json.expires_in) > 0 ? Number(json.expires_in) : DEFAULT_LIFETIME_S;
    const lifetimeMs = lifetimeS * 1000;
    const expiresAt = new Date(now.getTime() + lifetimeMs);
    const margin = Math.min(REFRESH_MARGIN_MS, lifetimeMs / 4);
    return {
      ok: true,
      token: {
        accessToken: text(json.access_token)!,
        expiresAt,
        refreshAt: new Date(expiresAt.getTime() - margin),
      },
    };
  }
  const error = text(json.error);
  // The description can be long (Microsoft adds trace ids); its first line says what is wrong.
  const description = text(json.error_description)?.split(/\r?\n/)[0];
  const reason = error
    ? `${error}${description ? `: ${description}` : ''}`
    : `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`;
  const refused = (error !== undefined && REFUSALS.has(error)) || status === 401 || status === 403;
  return { ok: false, refused, reason };
}

export const needsRefresh = (token: AccessToken | undefined, now: Date): boolean =>
  !token || now.getTime() >= token.refreshAt.getTime();

/** Google's consent page for an offline refresh token (`incidesk mailbox authorize`). */
export function consentUrl(p: {
  authUrl: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  loginHint?: string;
}): string {
  const url = new URL(p.authUrl);
  url.search = new URLSearchParams({
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    response_type: 'code',
    scope: p.scope,
    // Offline access and a fresh consent: only then does Google hand out a refresh token.
    access_type: 'offline',
    prompt: 'consent',
    ...(p.loginHint ? { login_hint: p.loginHint } : {}),
  }).toString();
  return url.toString();
}

/** Exchange the code the consent page gave for tokens (RFC 6749 §4.1.3). */
export function authorizationCodeBody(p: {
  code: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}): URLSearchParams {
  return new URLSearchParams({
    grant_type: 'authorization_code',
    code: p.code,
    client_id: p.clientId,
    client_secret: p.clientSecret,
    redirect_uri: p.redirectUri,
  });
}

/** The code from what the administrator pasted: the bare code, or the whole redirect URL. */
export function codeFromPaste(pasted: string): string {
  const text = pasted.trim();
  if (/^https?:\/\//.test(text)) return new URL(text).searchParams.get('code') ?? '';
  return text;
}
