/** The one place an IMAP connection to the support mailbox is configured. */
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { Config } from '../config.js';
import type { TokenProvider } from './oauth.js';

/** A password, or an OAuth2 access token (imapflow then signs in with OAUTHBEARER/XOAUTH2). */
export type ImapAuth = { user: string; pass: string } | { user: string; accessToken: string };

/**
 * The credentials for one sign-in: the configured password, else a current access token;
 * `renew` after the server refused the last one (it may have been revoked before expiry).
 */
export async function imapAuth(
  imap: Config['imap'],
  tokens: TokenProvider | undefined,
  renew = false,
): Promise<ImapAuth> {
  if (!tokens) return { user: imap.user, pass: imap.pass ?? '' };
  return { user: imap.user, accessToken: (await tokens.token(renew)).accessToken };
}

/** An IMAP client for the configured mailbox; `options` adds to the connection settings. */
export function imapClient(
  imap: Config['imap'],
  auth: ImapAuth,
  options: Omit<ImapFlowOptions, 'host' | 'port' | 'secure' | 'auth'> = {},
): ImapFlow {
  return new ImapFlow({
    host: imap.host,
    port: imap.port,
    secure: imap.secure,
    auth,
    logger: false,
    ...options,
  });
}
