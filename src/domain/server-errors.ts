/**
 * Errors of the IMAP, SMTP, MongoDB and Redis clients: what the server said, and whether it
 * refused our credentials (as opposed to being unreachable).
 */

/** An error from an IMAP or SMTP client, told apart by what the server said. */
interface ServerError extends Error {
  code?: string | number;
  authenticationFailed?: boolean;
  responseText?: string;
  response?: string;
  serverResponseCode?: string;
  responseCode?: number;
}

/** What the server said, else what the network said. */
export function serverWords(err: unknown): string {
  const e = err as ServerError;
  const said = e.responseText ?? (typeof e.response === 'string' ? e.response : undefined);
  return (said ?? e.message ?? String(err)).trim();
}

/** imapflow marks a refused login with `authenticationFailed`; nodemailer with EAUTH. */
export function isAuthFailure(err: unknown): boolean {
  const e = err as ServerError;
  return (
    e.authenticationFailed === true ||
    e.code === 'EAUTH' ||
    e.serverResponseCode === 'AUTHENTICATIONFAILED' ||
    e.code === 18 || // MongoDB AuthenticationFailed
    /WRONGPASS|NOAUTH|invalid username-password/i.test(e.message ?? '')
  );
}
