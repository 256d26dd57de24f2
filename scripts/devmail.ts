/**
 * The development mail server of `npm run demo` and the Docker quick start: Dovecot as
 * configured for the tests (IMAP, any user name with the password "secret", one mailbox per
 * address, `+detail` delivered to the base mailbox) and an SMTP relay that hands every message
 * to Dovecot over LMTP, whatever the recipient's domain. So incidesk's mail, the customers' and
 * the agents' is readable over IMAP, and a reply to a plus-address reaches the support mailbox
 * as it does behind Postfix or Exchange.
 *
 * Run on its own (the Docker `mail` service):
 *   DEVMAIL_LISTEN=0.0.0.0 DEVMAIL_IMAP_PORT=143 DEVMAIL_SMTP_PORT=25 node --import tsx scripts/devmail.ts
 */
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { startMailServer } from '../test/support/services.js';

export interface Relay {
  port: number;
  close(): Promise<void>;
}

/** An SMTP server that delivers each message to Dovecot's LMTP as the final hop would. */
export async function startRelay(
  lmtpPort: number,
  listen = { address: '127.0.0.1', port: 0 },
): Promise<Relay> {
  const lmtp = nodemailer.createTransport({
    lmtp: true,
    host: '127.0.0.1',
    port: lmtpPort,
  } as never);
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 64 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        lmtp.sendMail({ envelope, raw: Buffer.concat(chunks) }).then(() => callback(), callback);
      });
    },
  });
  server.on('error', () => undefined); // a client that hangs up mid-session is its own business
  // Port 0: the system picks a free one at bind time (no race with other processes).
  await new Promise<void>((resolve) => server.listen(listen.port, listen.address, resolve));
  const { port } = server.server.address() as { port: number };
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        lmtp.close();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const address = process.env.DEVMAIL_LISTEN ?? '127.0.0.1';
  const imapPort = Number(process.env.DEVMAIL_IMAP_PORT ?? 1143);
  const smtpPort = Number(process.env.DEVMAIL_SMTP_PORT ?? 1025);
  const lmtpPort = Number(process.env.DEVMAIL_LMTP_PORT ?? 1024);
  const mail = await startMailServer({ address, imapPort, lmtpPort });
  const relay = await startRelay(mail.lmtpPort, { address, port: smtpPort });
  process.stdout.write(
    `devmail: IMAP ${address}:${imapPort} (any address, password "${mail.password}"), ` +
      `SMTP ${address}:${smtpPort} (no sign-in), LMTP ${address}:${lmtpPort}\n`,
  );
  const stop = async () => {
    await relay.close();
    await mail.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`devmail: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
