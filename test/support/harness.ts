/**
 * An incidesk configuration pointed at the test run's real services, each test file in its
 * own database, queue prefix and IMAP mailbox, plus helpers to deliver mail and wait.
 */
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, inject } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { ImapFlow } from 'imapflow';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { parsePlan } from '../../src/plan/load.js';
import type { Plan } from '../../src/plan/schema.js';
import { PROJECT_ROOT, uniqueName } from './services.js';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from './smtp-capture.js';
import { startApp, type RunningApp } from '../../src/app.js';
import { authenticate, dkimSign } from 'mailauth';
import type { DnsResolver } from '../../src/mail/sender-auth.js';

/**
 * The test's own DNS: example.test (agents and support) publishes a DKIM key (selector
 * `test`) and DMARC p=reject; every other name does not exist. Injected into the app, so
 * sender authentication runs for real without the network.
 */
const dkimKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const DKIM_DOMAIN = 'example.test';
export const DKIM_SELECTOR = 'test';
export const DKIM_PRIVATE_KEY = String(
  dkimKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
);
export const testDnsRecords: Record<string, string> = {
  [`${DKIM_SELECTOR}._domainkey.${DKIM_DOMAIN}`]: `v=DKIM1; k=rsa; p=${dkimKeys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`,
  [`_dmarc.${DKIM_DOMAIN}`]: 'v=DMARC1; p=reject',
};
export const testResolver: DnsResolver = async (name, rrtype) => {
  const txt = rrtype === 'TXT' ? testDnsRecords[name.toLowerCase()] : undefined;
  if (txt) return [[txt]];
  throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

/**
 * Signs a raw message as example.test's outgoing server would (relaxed/relaxed), and checks
 * the signature verifies before the message goes anywhere.
 */
export async function dkimSignRaw(raw: string | Buffer): Promise<Buffer> {
  // mailauth signs with `signatureData` (its typings describe only the older flat form).
  const result = await dkimSign(raw, {
    canonicalization: 'relaxed/relaxed',
    // Without it mailauth reads the clock twice, for the header it hashes and for the one it
    // writes: when the (rounded) second changes in between, t= differs and the signature is
    // bad (24 of 3000 signatures on a loaded machine). test/unit/sender-auth.test.ts.
    signTime: new Date(),
    signatureData: [
      { signingDomain: DKIM_DOMAIN, selector: DKIM_SELECTOR, privateKey: DKIM_PRIVATE_KEY },
    ],
  } as unknown as Parameters<typeof dkimSign>[1]);
  if (!result.signatures.includes('DKIM-Signature'))
    throw new Error('DKIM signing produced no signature');
  if (result.errors.length > 0) throw new Error(`DKIM signing failed: ${String(result.errors)}`);
  const signed = Buffer.concat([Buffer.from(result.signatures), Buffer.from(raw)]);
  // A signer fault must not pass for the product's: say so here, with what was signed.
  const check = await authenticate(signed, {
    resolver: testResolver as never,
    disableArc: true,
    disableBimi: true,
  });
  const status = check.dkim?.results?.[0]?.status;
  if (status?.result !== 'pass')
    throw new Error(
      `the test's DKIM signature does not verify (${status?.result ?? 'none'}: ${String(status?.comment ?? '')}); signed message:\n${signed.toString('utf8').slice(0, 4000)}`,
    );
  return signed;
}

export const SECRET = 'test-secret-0123456789abcdef';
export const SUPPORT = 'support@example.test';
/** CLI operator tokens the test plan admits (see operatorPlanFile). */
export const ADMIN_TOKEN = 'test-admin-token-4f1c9a7e2b';
export const AGENT_TOKEN = 'test-agent-token-8d3e6b0c51';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * A copy of a plan (plan.example.yaml unless a test names its own) with operators for the
 * test tokens added: the CLI needs an operator identity for everything but `check`. A file
 * that cannot be read or parsed is returned as it is, for tests of exactly that.
 */
export function operatorPlanFile(source = `${PROJECT_ROOT}/plan.example.yaml`): string {
  let plan: { access?: { operators?: unknown[] } };
  try {
    plan = (parseYaml(readFileSync(source, 'utf8')) ?? {}) as typeof plan;
  } catch {
    return source;
  }
  if (typeof plan !== 'object') return source;
  plan.access ??= {};
  plan.access.operators = [
    ...(plan.access.operators ?? []),
    { name: 'test-admin', role: 'administrator', tokenSha256: sha256(ADMIN_TOKEN) },
    { name: 'test-agent', role: 'agent', tokenSha256: sha256(AGENT_TOKEN) },
  ];
  const dir = join(tmpdir(), 'incidesk-test-plans');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${uniqueName('plan')}.yaml`);
  writeFileSync(file, stringifyYaml(plan));
  return file;
}

export interface TestEnv {
  env: Record<string, string>;
  config: Config;
  dbName: string;
  mailboxUser: string;
}

function withDatabase(uri: string, dbName: string): string {
  const url = new URL(uri);
  url.pathname = `/${dbName}`;
  return url.toString();
}

/** A database of its own whose driver reports every command (as bench/db-profile.ts uses it). */
export function monitoredMongoUri(database: string): string {
  const uri = new URL(inject('services').mongoUri);
  uri.pathname = `/${database}_${process.pid}`;
  uri.searchParams.set('monitorCommands', 'true');
  return uri.toString();
}

/** Environment variables for an incidesk process (in-process or spawned) of this test. */
export function testEnv(
  smtp: Pick<SmtpCapture, 'port'>,
  overrides: Record<string, string> = {},
): TestEnv {
  const services = inject('services');
  const dbName = uniqueName('db').replace('-', '_');
  const mailboxUser = `${uniqueName('support')}@example.test`;
  const env: Record<string, string> = {
    MONGODB_URI: withDatabase(services.mongoUri, dbName),
    REDIS_URL: services.redisUrl,
    IMAP_HOST: services.imapHost,
    IMAP_PORT: String(services.imapPort),
    IMAP_SECURE: 'false',
    IMAP_USER: mailboxUser,
    IMAP_PASS: services.dovecotPassword,
    IMAP_POLL_SECONDS: '5',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_SECURE: 'false',
    SUPPORT_ADDRESS: SUPPORT,
    SUPPORT_NAME: 'Example Support',
    INCIDESK_SECRET: SECRET,
    INCIDESK_TOKEN: ADMIN_TOKEN,
    INCIDESK_QUEUE_PREFIX: uniqueName('q'),
    // Off by default: test files run in parallel and would race for one port.
    INCIDESK_HTTP_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
    // The test's own plan (or the example), with the test operators added.
    INCIDESK_PLAN: operatorPlanFile(overrides.INCIDESK_PLAN),
  };
  return { env, config: loadConfig(env), dbName, mailboxUser };
}

/**
 * A plan for tests; `extra` is YAML appended at the top level. Without groups, incidents are
 * classified but nobody is assigned, so intake tests see only acknowledgements.
 */
export function testPlan(extra = ''): Plan {
  return parsePlan(
    `version: 1
organisation: Example Corp
acknowledgements: { perSenderPerHour: 5 }
${extra}`,
    'test-plan',
  );
}

/**
 * The app's recent log records (info and above), kept in memory so that a wait that times out
 * can say what the app was doing: CI shows only the end of a failed run's output.
 */
const recentLog: string[] = [];
const RECENT_LOG_LINES = 400;
const SHOWN_LOG_LINES = 25;

const logRing = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      recentLog.push(compactLogLine(line));
      if (recentLog.length > RECENT_LOG_LINES) recentLog.shift();
    }
    done();
  },
});

/** One pino JSON record as one short line: time, level, component, incident, message, error. */
function compactLogLine(json: string): string {
  try {
    const r = JSON.parse(json) as Record<string, unknown>;
    const { time, level, msg, component, incident, err, ...rest } = r;
    delete rest.service;
    const when = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
    const error = err && typeof err === 'object' ? (err as { message?: string }).message : err;
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest).slice(0, 160)}` : '';
    return `${when} ${String(level)} ${String(component ?? '-')} ${incident ?? ''} ${String(msg)}${error ? ` (${String(error)})` : ''}${extra}`;
  } catch {
    return json.slice(0, 200);
  }
}

/** TEST_LOG_LEVEL=debug prints everything as it happens; otherwise info and above are kept. */
export const testLogger = () =>
  process.env.TEST_LOG_LEVEL
    ? createLogger(process.env.TEST_LOG_LEVEL)
    : createLogger('info', logRing);

const fromDomain = (from: SendMailOptions['from']) => {
  const text =
    typeof from === 'string' ? from : from && !Array.isArray(from) ? (from.address ?? '') : '';
  return /@([^\s<>@]+?)>?\s*$/.exec(text)?.[1]?.toLowerCase() ?? '';
};

/**
 * Deliver a message into the test mailbox over LMTP, as the mail server would. Mail From
 * example.test (agents) is DKIM-signed like a real domain's outgoing mail, unless `unsigned`
 * (a forger, who has no key); raw messages are delivered exactly as given.
 */
export async function deliver(
  mailboxUser: string,
  message: (SendMailOptions & { unsigned?: boolean }) | { raw: string | Buffer; from?: string },
  /** Another Dovecot's LMTP port (a test's own mail server); default the shared one's. */
  lmtpPort?: number,
) {
  const services = inject('services');
  const transport = nodemailer.createTransport({
    lmtp: true,
    host: services.imapHost,
    port: lmtpPort ?? services.lmtpPort,
  } as never);
  try {
    const envelope = {
      from: (message as { from?: string }).from ?? 'sender@example.com',
      to: mailboxUser,
    };
    const plain: SendMailOptions & { unsigned?: boolean } = { ...message };
    const unsigned = plain.unsigned === true;
    delete plain.unsigned;
    if (!('raw' in plain) && !unsigned && fromDomain(plain.from) === DKIM_DOMAIN) {
      const built = await new MailComposer({ ...plain, envelope }).compile().build();
      return await transport.sendMail({ raw: await dkimSignRaw(built), envelope });
    }
    return await transport.sendMail({ ...plain, envelope });
  } finally {
    transport.close();
  }
}

/**
 * A burst of mail: messages `from` … `to - 1` (`mail(i)` each), `parallel` deliveries in flight
 * at a time, as many senders writing at once.
 */
export async function deliverBurst(
  mailboxUser: string,
  range: { from: number; to: number; parallel: number },
  mail: (i: number) => SendMailOptions,
): Promise<void> {
  let next = range.from;
  await Promise.all(
    Array.from({ length: range.parallel }, async () => {
      while (next < range.to) await deliver(mailboxUser, mail(next++));
    }),
  );
}

/**
 * Deliver `from`'s reply to a mail incidesk sent, as a mail client writes it: to its Reply-To,
 * subject "Re: …", In-Reply-To/References naming it, the original quoted below the text.
 * Returns the reply's Message-ID.
 */
export async function deliverReply(
  mailboxUser: string,
  original: CapturedMail,
  from: string,
  text: string,
  attachments: { filename: string; content: Buffer; contentType?: string }[] = [],
) {
  const messageId = `<reply-${randomUUID()}@example.test>`;
  await deliver(mailboxUser, {
    attachments,
    from,
    messageId,
    to: original.parsed.replyTo!.value[0]!.address!,
    subject: `Re: ${original.parsed.subject}`,
    inReplyTo: original.parsed.messageId,
    references: [original.parsed.messageId!],
    text: `${text}\n\nOn Mon, 23 Nov 2026 at 10:05, Support <${SUPPORT}> wrote:\n> ${original.parsed.text?.split('\n').join('\n> ')}`,
  });
  return messageId;
}

/** An IMAP session on the test mailbox, for arranging or inspecting server state. */
export async function imapSession(mailboxUser: string): Promise<ImapFlow> {
  const services = inject('services');
  const client = new ImapFlow({
    host: services.imapHost,
    port: services.imapPort,
    secure: false,
    auth: { user: mailboxUser, pass: services.dovecotPassword },
    logger: false,
  });
  await client.connect();
  return client;
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 120_000, // generous: the whole suite shares one database server, and the crash test loads it
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; the app's last log records:\n${recentLog.slice(-SHOWN_LOG_LINES).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TestApp {
  smtp: SmtpCapture;
  t: TestEnv;
  app: RunningApp;
}

/**
 * An in-process incidesk with its own SMTP capture, database, queues and mailbox, started
 * before the tests of the calling describe block and stopped after them. The fields are
 * filled in by the time the tests run.
 */
export function useTestApp(
  options: {
    plan?: string;
    env?: Record<string, string>;
    now?: () => Date;
    resolver?: DnsResolver;
  } = {},
): TestApp {
  const handle = {} as TestApp;
  beforeAll(async () => {
    handle.smtp = await startSmtpCapture();
    handle.t = testEnv(handle.smtp, options.env);
    handle.app = await startApp(handle.t.config, testPlan(options.plan), testLogger(), {
      now: options.now,
      resolver: options.resolver ?? testResolver,
    });
  });
  afterAll(async () => {
    await handle.app?.stop();
    await handle.smtp?.close();
  });
  return handle;
}
