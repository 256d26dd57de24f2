/**
 * A real SMTP server (the smtp-server package) in the test process that keeps every message it
 * accepts, parsed. It can be told to answer with a temporary or permanent failure.
 */
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './services.js';

export interface CapturedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  raw: Buffer;
  parsed: ParsedMail;
  header(name: string): string | undefined;
}

export interface SmtpCapture {
  port: number;
  messages: CapturedMail[];
  /**
   * Answer the next DATA commands with this reply code (e.g. 451 or 550) until reset; with
   * `to`, only those of messages for that recipient.
   */
  failWith(code: number | null, to?: string): void;
  waitFor(count: number, timeoutMs?: number): Promise<CapturedMail[]>;
  close(): Promise<void>;
}

/**
 * With `credentials`, the server demands a sign-in and refuses any other (535). With
 * `oauth2IntrospectionUrl`, it demands XOAUTH2 and asks that RFC 7662 endpoint whether the
 * token is active for the user signing in, as Dovecot's oauth2 passdb does.
 */
export async function startSmtpCapture(
  options: { credentials?: { user: string; pass: string }; oauth2IntrospectionUrl?: string } = {},
): Promise<SmtpCapture> {
  const messages: CapturedMail[] = [];
  let failure: number | null = null;
  let failureTo: string | undefined;
  const { credentials, oauth2IntrospectionUrl } = options;
  const server = new SMTPServer({
    authOptional: !credentials && !oauth2IntrospectionUrl,
    allowInsecureAuth: true,
    authMethods: oauth2IntrospectionUrl ? ['XOAUTH2'] : ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      if (oauth2IntrospectionUrl) {
        void tokenOpens(oauth2IntrospectionUrl, auth.accessToken ?? '', auth.username ?? '').then(
          (ok) =>
            ok
              ? callback(null, { user: auth.username })
              : // RFC 7628's JSON challenge; smtp-server then answers 535.
                callback(null, { data: { status: '401', schemes: 'bearer', scope: 'smtp' } }),
          (err: Error) => callback(err),
        );
        return;
      }
      if (
        !credentials ||
        (auth.username === credentials.user && auth.password === credentials.pass)
      )
        callback(null, { user: auth.username });
      else
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 100 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const failing =
          failure !== null &&
          (failureTo === undefined || session.envelope.rcptTo.some((r) => r.address === failureTo));
        if (failing) {
          const err = Object.assign(new Error(`test failure ${failure}`), {
            responseCode: failure,
          });
          callback(err);
          return;
        }
        const raw = Buffer.concat(chunks);
        void simpleParser(raw).then((parsed) => {
          messages.push({
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            raw,
            parsed,
            header: (name) => {
              const v = parsed.headers.get(name.toLowerCase());
              return typeof v === 'string' ? v : v === undefined ? undefined : JSON.stringify(v);
            },
          });
          callback();
        }, callback);
      });
    },
  });
  // A client killed mid-session resets its connection; that is the test's doing, not an error.
  server.on('error', () => undefined);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    messages,
    failWith(code, to) {
      failure = code;
      failureTo = to;
    },
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline)
          throw new Error(`expected ${count} messages at the SMTP server, got ${messages.length}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function tokenOpens(introspectionUrl: string, token: string, user: string): Promise<boolean> {
  const res = await fetch(introspectionUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  const answer = (await res.json()) as { active?: boolean; username?: string };
  return answer.active === true && answer.username === user;
}
