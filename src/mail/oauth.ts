/**
 * Access tokens for XOAUTH2 sign-in to IMAP and SMTP: asked for at the token endpoint, cached,
 * refreshed before they expire and again when a server refuses one. One provider serves one
 * mailbox's IMAP and SMTP connections. Secrets and tokens never reach the log.
 */
import { OAUTH_TOKEN_TIMEOUT_MS } from '../constants.js';
import {
  needsRefresh,
  readTokenResponse,
  tokenRequestBody,
  type AccessToken,
  type OAuthSettings,
} from '../domain/oauth.js';

/**
 * The token endpoint refused our credentials (wrong secret, revoked grant, app not allowed):
 * an authentication failure like a refused password, reported and retried on the slow schedule.
 */
export class OAuthRefusedError extends Error {
  override readonly name = 'OAuthRefusedError';
  readonly authenticationFailed = true;
}

/** The token endpoint did not answer usefully (network, 5xx): try again soon. */
export class OAuthUnavailableError extends Error {
  override readonly name = 'OAuthUnavailableError';
}

export class TokenProvider {
  private current?: AccessToken;
  private pending?: Promise<AccessToken>;

  constructor(
    readonly settings: OAuthSettings,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * A token good for a sign-in now. `renew` after a server refused the last one: it may have
   * been revoked before its expiry. Concurrent callers share one request.
   */
  async token(renew = false): Promise<AccessToken> {
    if (renew && this.current) this.current = undefined;
    if (!needsRefresh(this.current, this.now())) return this.current!;
    this.pending ??= this.request().finally(() => (this.pending = undefined));
    this.current = await this.pending;
    return this.current;
  }

  private async request(): Promise<AccessToken> {
    const { tokenUrl, user } = this.settings;
    const body = tokenRequestBody(this.settings, this.now());
    return (await postTokenRequest(tokenUrl, body, user, this.now)).token;
  }
}

/**
 * POST a grant to the token endpoint and read its answer; a refusal and an outage become the
 * two error classes above, named after the endpoint (never the secrets in the form).
 */
export async function postTokenRequest(
  tokenUrl: string,
  body: URLSearchParams,
  user: string,
  now: () => Date = () => new Date(),
): Promise<{ token: AccessToken; json: Record<string, unknown> }> {
  const where = `OAuth2 token endpoint ${new URL(tokenUrl).origin}`;
  let response: Response;
  try {
    response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      signal: AbortSignal.timeout(OAUTH_TOKEN_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new OAuthUnavailableError(`${where}: ${cause ?? (err as Error).message}`);
  }
  const text = await response.text();
  const answer = readTokenResponse(response.status, text, now());
  if (answer.ok) return { token: answer.token, json: JSON.parse(text) as Record<string, unknown> };
  if (answer.refused)
    throw new OAuthRefusedError(`${where} refused the credentials for ${user}: ${answer.reason}`);
  throw new OAuthUnavailableError(`${where}: ${answer.reason}`);
}

/** A token provider for each mailbox that signs in with OAuth2, by its support address. */
export function tokenProviders(config: {
  mailboxes: readonly { supportAddress: string; oauth?: OAuthSettings }[];
}): Map<string, TokenProvider> {
  return new Map(
    config.mailboxes.flatMap((m) =>
      m.oauth ? [[m.supportAddress, new TokenProvider(m.oauth)] as const] : [],
    ),
  );
}
