import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { TokenProvider } from './mail/oauth.js';
import type { Mailer } from './mail/outbound.js';
import type { DnsResolver } from './mail/sender-auth.js';
import type { Plan } from './plan/schema.js';
import type { Queues } from './queues.js';

/** What every worker and the intake are given: no globals beyond the mongoose connection. */
export interface AppContext {
  config: Config;
  plan: Plan;
  queues: Queues;
  mailer: Mailer;
  /** Access tokens for IMAP and SMTP sign-in, by support address, for mailboxes using OAuth2. */
  tokens: ReadonlyMap<string, TokenProvider>;
  log: Logger;
  /** The clock, injectable so tests can move time instead of sleeping. */
  now: () => Date;
  /**
   * DNS for sender authentication (DKIM keys, DMARC records). Start-up sets a caching resolver
   * with a short timeout; tests inject one that serves their own records.
   */
  resolver?: DnsResolver;
}
