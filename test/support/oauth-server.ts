/**
 * A small real OAuth2 authorization server for the tests (node:http on loopback): the token
 * endpoint answers the client-credentials, JWT-bearer (Google service account),
 * refresh-token and authorization-code grants with short-lived opaque tokens (the
 * client-credentials grant also with an RFC 7523 client assertion signed by a certificate's key,
 * checked as Entra ID checks it), and an RFC 7662
 * introspection endpoint tells Dovecot and the SMTP capture whether a token is good and whose
 * mailbox it opens. Tokens can be revoked and clients' secrets changed while a test runs.
 */
import {
  createHash,
  createVerify,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OAuthTestServer {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  tokenUrl: string;
  introspectionUrl: string;
  authUrl: string;
  /** A confidential client (Microsoft app registration, generic client) allowed into `mailbox`. */
  addClient(clientId: string, secret: string, mailbox: string): void;
  /**
   * A Microsoft app registration with a certificate credential (the PEM uploaded to it) allowed
   * into `mailbox`: it signs in with a client assertion, no secret.
   */
  addCertificateClient(clientId: string, certificatePem: string, mailbox: string): void;
  /** A Google-style service account acting for any mailbox of the domain; its key file's JSON. */
  addServiceAccount(clientEmail: string): string;
  /** A refresh token (consumer Gmail, generic) for `mailbox`, issued to `clientId`. */
  addRefreshToken(clientId: string, mailbox: string): string;
  /** An authorization code the consent page would have handed out for `mailbox`. */
  addAuthorizationCode(clientId: string, mailbox: string, redirectUri: string): string;
  /** Refresh tokens issued by the authorization-code grant. */
  refreshTokenFor(mailbox: string): string | undefined;
  setSecret(clientId: string, secret: string): void;
  /** Every access token issued so far is refused from now on (a revoked grant). */
  revokeAll(): void;
  /** Lifetime of the next tokens, in seconds. */
  expiresIn: number;
  /** Access tokens issued so far, per grant type. */
  issued: { grant: string; mailbox: string }[];
  /** Introspections answered, and how many said "active". */
  introspections: { active: number; inactive: number };
  close(): Promise<void>;
}

interface Token {
  mailbox: string;
  expiresAt: number;
  revoked: boolean;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function startOAuthServer(): Promise<OAuthTestServer> {
  const clients = new Map<string, { secret: string; mailbox: string }>();
  /** client id → its uploaded certificate and the mailbox it may open. */
  const certificateClients = new Map<string, { certificate: X509Certificate; mailbox: string }>();
  const seenAssertions = new Set<string>();
  const serviceAccounts = new Map<string, string>(); // client_email → public key PEM
  const refreshTokens = new Map<string, { clientId: string; mailbox: string }>();
  const codes = new Map<string, { clientId: string; mailbox: string; redirectUri: string }>();
  const tokens = new Map<string, Token>();
  const issuedRefresh = new Map<string, string>();
  const newToken = () => randomBytes(18).toString('base64url');

  const state: OAuthTestServer = {
    url: '',
    tokenUrl: '',
    introspectionUrl: '',
    authUrl: '',
    expiresIn: 3600,
    issued: [],
    introspections: { active: 0, inactive: 0 },
    addClient: (clientId, secret, mailbox) => void clients.set(clientId, { secret, mailbox }),
    addCertificateClient: (clientId, certificatePem, mailbox) =>
      void certificateClients.set(clientId, {
        certificate: new X509Certificate(certificatePem),
        mailbox,
      }),
    addServiceAccount(clientEmail) {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      serviceAccounts.set(
        clientEmail,
        publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      );
      return JSON.stringify({
        type: 'service_account',
        client_email: clientEmail,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        token_uri: state.tokenUrl,
      });
    },
    addRefreshToken(clientId, mailbox) {
      const t = newToken();
      refreshTokens.set(t, { clientId, mailbox });
      return t;
    },
    addAuthorizationCode(clientId, mailbox, redirectUri) {
      const code = newToken();
      codes.set(code, { clientId, mailbox, redirectUri });
      return code;
    },
    refreshTokenFor: (mailbox) => issuedRefresh.get(mailbox),
    setSecret(clientId, secret) {
      const c = clients.get(clientId);
      if (c) c.secret = secret;
    },
    revokeAll() {
      for (const t of tokens.values()) t.revoked = true;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const issue = (grant: string, mailbox: string) => {
    const accessToken = newToken();
    tokens.set(accessToken, {
      mailbox,
      expiresAt: Date.now() + state.expiresIn * 1000,
      revoked: false,
    });
    state.issued.push({ grant, mailbox });
    return { access_token: accessToken, token_type: 'Bearer', expires_in: state.expiresIn };
  };

  /** The token endpoint: RFC 6749 errors with 400 (bad grant) or 401 (bad client). */
  const token = (form: URLSearchParams, basic?: { id: string; secret: string }) => {
    const clientId = basic?.id ?? form.get('client_id') ?? '';
    const secret = basic?.secret ?? form.get('client_secret') ?? '';
    const client = clients.get(clientId);
    const badClient = {
      status: 401,
      body: { error: 'invalid_client', error_description: 'Invalid client secret provided.' },
    };
    const badGrant = (why: string) => ({
      status: 400,
      body: { error: 'invalid_grant', error_description: why },
    });
    switch (form.get('grant_type')) {
      case 'client_credentials':
        if (form.get('client_assertion_type') === CLIENT_ASSERTION) {
          const registered = certificateClients.get(clientId);
          if (!registered) return badClient;
          const why = verifyClientAssertion(
            form.get('client_assertion') ?? '',
            clientId,
            registered.certificate,
            state.tokenUrl,
            seenAssertions,
          );
          if (why)
            return { status: 401, body: { error: 'invalid_client', error_description: why } };
          return { status: 200, body: issue('client_credentials', registered.mailbox) };
        }
        if (!client || client.secret !== secret) return badClient;
        return { status: 200, body: issue('client_credentials', client.mailbox) };
      case 'refresh_token': {
        if (!client || client.secret !== secret) return badClient;
        const grant = refreshTokens.get(form.get('refresh_token') ?? '');
        if (!grant || grant.clientId !== clientId)
          return badGrant('Token has been expired or revoked.');
        return { status: 200, body: issue('refresh_token', grant.mailbox) };
      }
      case 'authorization_code': {
        if (!client || client.secret !== secret) return badClient;
        const grant = codes.get(form.get('code') ?? '');
        if (!grant || grant.clientId !== clientId || grant.redirectUri !== form.get('redirect_uri'))
          return badGrant('Malformed auth code.');
        codes.delete(form.get('code')!);
        const refresh = state.addRefreshToken(clientId, grant.mailbox);
        issuedRefresh.set(grant.mailbox, refresh);
        return {
          status: 200,
          body: { ...issue('authorization_code', grant.mailbox), refresh_token: refresh },
        };
      }
      case JWT_BEARER: {
        const claims = verifyJwt(form.get('assertion') ?? '', serviceAccounts, state.tokenUrl);
        if (typeof claims === 'string') return badGrant(claims);
        return { status: 200, body: issue(JWT_BEARER, claims.sub) };
      }
      default:
        return { status: 400, body: { error: 'unsupported_grant_type' } };
    }
  };

  /** RFC 7662: active, and whose mailbox (`username`, as Dovecot's username_attribute reads it). */
  const introspect = (form: URLSearchParams) => {
    const t = tokens.get(form.get('token') ?? '');
    const active = !!t && !t.revoked && t.expiresAt > Date.now();
    state.introspections[active ? 'active' : 'inactive']++;
    return {
      status: 200,
      body: active ? { active: true, username: t.mailbox } : { active: false },
    };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const answer =
        req.method === 'POST' && path === '/token'
          ? token(form, basicAuth(req))
          : req.method === 'POST' && path === '/introspect'
            ? introspect(form)
            : { status: 404, body: { error: 'not_found' } };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  state.tokenUrl = `${state.url}/token`;
  state.introspectionUrl = `${state.url}/introspect`;
  state.authUrl = `${state.url}/authorize`;
  return state;
}

function basicAuth(req: IncomingMessage): { id: string; secret: string } | undefined {
  const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const [id, secret] = Buffer.from(m[1]!, 'base64').toString('utf8').split(':');
  return { id: decodeURIComponent(id ?? ''), secret: decodeURIComponent(secret ?? '') };
}

/** Check a service account's RS256 assertion as Google does: signature, audience, lifetime. */
function verifyJwt(
  jwt: string,
  keys: Map<string, string>,
  audience: string,
): { sub: string } | string {
  const [header, payload, signature] = jwt.split('.');
  if (!header || !payload || !signature) return 'Invalid JWT: not three parts';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  const key = keys.get(String(claims.iss));
  if (!key) return 'Invalid JWT: unknown issuer';
  const ok = createVerify('RSA-SHA256')
    .update(`${header}.${payload}`)
    .verify(key, Buffer.from(signature, 'base64url'));
  if (!ok) return 'Invalid JWT Signature.';
  if (claims.aud !== audience) return 'Invalid JWT: wrong audience';
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || claims.exp < now) return 'Invalid JWT: expired';
  if (typeof claims.sub !== 'string') return 'Invalid JWT: no sub (domain-wide delegation)';
  return { sub: claims.sub };
}

/**
 * Check a certificate client assertion as Entra ID does (RFC 7523 §3): the header's `x5t`
 * (and `x5t#S256`) name the uploaded certificate, its public key checks the RS256 signature,
 * `iss` = `sub` = the client, `aud` = the token endpoint, within nbf..exp, `jti` used once.
 * Undefined when good, else the reason (worded as Entra ID words them where we know how).
 */
function verifyClientAssertion(
  jwt: string,
  clientId: string,
  certificate: X509Certificate,
  audience: string,
  seen: Set<string>,
): string | undefined {
  const [header, payload, signature] = jwt.split('.');
  if (!header || !payload || !signature) return 'JWT token is invalid or malformed.';
  const decode = (part: string) =>
    JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  const h = decode(header);
  const claims = decode(payload);
  const der = certificate.raw;
  if (h.alg !== 'RS256') return 'the client assertion must be signed with RS256.';
  if (
    h.x5t !== createHash('sha1').update(der).digest('base64url') ||
    (h['x5t#S256'] !== undefined &&
      h['x5t#S256'] !== createHash('sha256').update(der).digest('base64url'))
  )
    return 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.';
  const good = createVerify('RSA-SHA256')
    .update(`${header}.${payload}`)
    .verify(certificate.publicKey, Buffer.from(signature, 'base64url'));
  if (!good) return 'AADSTS700027: Client assertion failed signature validation.';
  if (claims.iss !== clientId || claims.sub !== clientId)
    return "AADSTS700021: Client assertion application identifier doesn't match.";
  if (claims.aud !== audience)
    return 'Client assertion audience claim does not match the token endpoint.';
  const now = Date.now() / 1000;
  if (typeof claims.nbf !== 'number' || claims.nbf > now + 60)
    return 'AADSTS700024: Client assertion is not within its valid time range.';
  if (typeof claims.exp !== 'number' || claims.exp < now)
    return 'AADSTS700024: Client assertion is not within its valid time range.';
  if (typeof claims.jti !== 'string' || seen.has(claims.jti))
    return 'Client assertion contains a jti that was already used.';
  seen.add(claims.jti);
  return undefined;
}
