/**
 * Outbound SMTP through nodemailer. Decides, where the error enters, whether a failure is
 * permanent (5xx: retrying cannot help) or transient (4xx, network: retry with backoff).
 */
import type { Readable } from 'node:stream';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { mailboxFor, type Config, type MailboxConfig } from '../config.js';
import type { OutboxDoc } from '../store/models.js';
import { serverWords } from '../domain/server-errors.js';
import type { TokenProvider } from './oauth.js';

export class PermanentDeliveryError extends Error {
  override readonly name = 'PermanentDeliveryError';
}
export class TransientDeliveryError extends Error {
  override readonly name: string = 'TransientDeliveryError';
}
/**
 * The SMTP server refused our credentials (535 and friends). A 5xx, but about us, not the
 * recipient: never a reason to give up on the message or write the address off.
 */
export class SmtpSignInError extends TransientDeliveryError {
  override readonly name = 'SmtpSignInError';
  constructor(
    message: string,
    /** Whose sign-in was refused: the mailbox's SMTP account. */
    readonly account: string,
    /** It signs in with OAuth2 (the hint then points at the OAUTH_ settings). */
    readonly oauth = false,
  ) {
    super(message);
  }
}

export interface OutboundAttachment {
  filename?: string;
  contentType?: string;
  content: Readable | Buffer;
  /** Set for an inline part the HTML references as `cid:`; the message becomes multipart/related. */
  cid?: string;
}

export type Mailer = {
  send(message: OutboxDoc, attachments?: readonly OutboundAttachment[]): Promise<void>;
  close(): void;
};

/**
 * How nodemailer signs in for one mailbox: with OAuth2 as its SMTP user (else the mailbox),
 * the token coming from our provider through nodemailer's provisioning callback, which
 * nodemailer calls again with `renew` when the server refuses a token; else with the
 * password, if one is set.
 */
export function smtpTransport(
  box: Pick<MailboxConfig, 'smtp' | 'imap'>,
  tokens: TokenProvider | undefined,
  options: SMTPPool.Options | SMTPTransport.Options = {},
): Transporter {
  const { smtp } = box;
  const auth: SMTPTransport.Options['auth'] = tokens
    ? { type: 'OAuth2', user: smtpUser(box, tokens) }
    : smtp.user
      ? { user: smtp.user, pass: smtp.pass }
      : undefined;
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth,
    ...options,
  });
  if (tokens)
    transport.set('oauth2_provision_cb', (_user, renew, callback) => {
      tokens.token(renew).then(
        // nodemailer reuses a token until this moment: our refresh time, not the expiry.
        (t) => callback(null, t.accessToken, t.refreshAt.getTime()),
        (err: Error) => callback(err),
      );
    });
  return transport;
}

/** Who signs in to SMTP: SMTP_USER, else with OAuth2 the mailbox itself. */
export function smtpUser(
  box: Pick<MailboxConfig, 'smtp' | 'imap'>,
  tokens: TokenProvider | undefined,
): string | undefined {
  return box.smtp.user ?? (tokens ? box.imap.user : undefined);
}

/** The SMTP account a refused sign-in is recorded under (`status`, `/healthz`). */
export function smtpAccount(box: Pick<MailboxConfig, 'smtp' | 'imap' | 'oauth'>): string {
  return `${box.smtp.user ?? (box.oauth ? box.imap.user : '(no sign-in)')}@${box.smtp.host}`;
}

/**
 * One pooled SMTP transport per mailbox, each signing in its own way; a message goes out
 * through the one of the mailbox it is from. `tokens` by support address.
 */
export function createMailer(
  config: Config,
  tokens: ReadonlyMap<string, TokenProvider> = new Map(),
): Mailer {
  const transports = new Map(
    config.mailboxes.map((box) => [
      box.supportAddress,
      smtpTransport(box, tokens.get(box.supportAddress), {
        pool: true,
        maxConnections: 4,
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 60_000,
      }),
    ]),
  );
  return {
    async send(m, attachments = []) {
      const box = mailboxFor(config, m.from);
      try {
        await transports.get(box.supportAddress)!.sendMail(mailOptions(config, m, attachments));
      } catch (err) {
        throw classifySmtpError(err, box);
      }
    },
    close() {
      for (const t of transports.values()) t.close();
    },
  };
}

/**
 * A relayed attachment keeps its name, minus control characters: a name decoded from
 * RFC 2047/2231 can carry CR/LF, which a receiving client would show or, worse, split on.
 */
export function safeFilename(name: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  return name.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim() || 'attachment';
}

/**
 * What nodemailer is given for one outbox message: exported so the fuzz test renders exactly
 * what would go over SMTP.
 */
export function mailOptions(
  config: Pick<Config, 'mailboxes'>,
  m: OutboxDoc,
  attachments: readonly OutboundAttachment[] = [],
): SendMailOptions {
  const box = mailboxFor(config, m.from);
  return {
    from: { name: box.supportName, address: box.supportAddress },
    to: m.to,
    replyTo: m.replyTo ?? undefined,
    subject: m.subject,
    text: m.text,
    html: m.html ?? undefined,
    messageId: m.messageId,
    inReplyTo: m.inReplyTo ?? undefined,
    references: m.references ?? undefined,
    headers: (m.headers as Record<string, string> | undefined) ?? {},
    attachments: attachments.map((a) => ({
      filename: a.filename === undefined ? undefined : safeFilename(a.filename),
      contentType: a.contentType,
      content: a.content,
      ...(a.cid ? { cid: a.cid, contentDisposition: 'inline' as const } : {}),
    })),
    // Envelope sender is the support mailbox so that bounces come back and are recognised.
    envelope: { from: box.supportAddress, to: m.to },
  };
}

export function classifySmtpError(
  err: unknown,
  box?: Pick<MailboxConfig, 'smtp' | 'imap' | 'oauth'>,
): Error {
  const e = err as { responseCode?: number; message?: string; code?: string };
  const message = e.message ?? String(err);
  if (e.code === 'EAUTH')
    return new SmtpSignInError(serverWords(err), box ? smtpAccount(box) : '', !!box?.oauth);
  if (typeof e.responseCode === 'number' && e.responseCode >= 500 && e.responseCode < 600) {
    return new PermanentDeliveryError(`SMTP ${e.responseCode}: ${message}`);
  }
  return new TransientDeliveryError(message);
}
