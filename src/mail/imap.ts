/** The one place an IMAP connection to the support mailbox is configured. */
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { Config } from '../config.js';

/** An IMAP client for the configured mailbox; `options` adds to the connection settings. */
export function imapClient(
  imap: Config['imap'],
  options: Omit<ImapFlowOptions, 'host' | 'port' | 'secure' | 'auth'> = {},
): ImapFlow {
  return new ImapFlow({
    host: imap.host,
    port: imap.port,
    secure: imap.secure,
    auth: { user: imap.user, pass: imap.pass },
    logger: false,
    ...options,
  });
}
