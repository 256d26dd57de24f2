/**
 * `npm run demo`: incidesk on this machine without Docker. Starts the same private Dovecot,
 * Redis and MongoDB-protocol server the tests use, with the relay of scripts/devmail.ts that
 * delivers what incidesk sends into local Dovecot mailboxes (plus-addresses to their base
 * mailbox, as a real mail server does), runs incidesk on the example plan, mails it two sample complaints, and
 * says where to look. Ctrl-C stops everything and removes its data.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { loadPlan } from '../src/plan/load.js';
import { listIncidents } from '../src/store/incidents.js';
import { Outbox } from '../src/store/models.js';
import { freePort, PROJECT_ROOT, startServices } from '../test/support/services.js';
import { startRelay } from './devmail.js';

const SUPPORT = 'support@example.test';
const DEMO_DIR = path.join(PROJECT_ROOT, '.demo');
const SAMPLES = [
  {
    from: 'Ann Lee <ann@example.com>',
    subject: 'Invoice 2026-11 charged twice',
    text: 'Hello,\n\nmy card was charged twice for invoice 2026-11. Please refund one of them.\n\nAnn',
  },
  {
    from: 'Raj Patel <raj@example.com>',
    subject: 'VPN is down for the whole Berlin office',
    text: 'Since 9:00 nobody in Berlin can connect to the VPN. This is urgent, we cannot work.\n\nRaj',
  },
];

const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The example plan with an operator token made for this demo, so the CLI can be tried, and
 * agent mail trusted on its recipient-bound token (there is no DKIM on this machine).
 */
function demoPlan(token: string): string {
  const plan = parseYaml(readFileSync(path.join(PROJECT_ROOT, 'plan.example.yaml'), 'utf8')) as {
    access: { operators: unknown[]; agentMail?: string };
  };
  const tokenSha256 = createHash('sha256').update(token).digest('hex');
  plan.access.operators = [{ name: 'demo', role: 'administrator', tokenSha256 }];
  // The local mail server signs nothing, so agents are known by the tokens issued to them.
  plan.access.agentMail = 'token-only';
  const file = path.join(DEMO_DIR, 'plan.yaml');
  writeFileSync(file, stringifyYaml(plan));
  return file;
}

async function main(): Promise<void> {
  mkdirSync(DEMO_DIR, { recursive: true });
  say('starting Dovecot, Redis and the MongoDB-protocol server …');
  const running = await startServices();
  const { services } = running;
  const relay = await startRelay(services.lmtpPort);
  const token = randomBytes(16).toString('hex');
  const env: Record<string, string> = {
    MONGODB_URI: `${services.mongoUri.replace(/\/$/, '')}/incidesk_demo`,
    REDIS_URL: services.redisUrl,
    IMAP_HOST: services.imapHost,
    IMAP_PORT: String(services.imapPort),
    IMAP_SECURE: 'false',
    IMAP_USER: SUPPORT,
    IMAP_PASS: services.dovecotPassword,
    IMAP_POLL_SECONDS: '10',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(relay.port),
    SMTP_SECURE: 'false',
    SUPPORT_ADDRESS: SUPPORT,
    SUPPORT_NAME: 'Example Support',
    INCIDESK_SECRET: randomBytes(24).toString('hex'),
    INCIDESK_PLAN: demoPlan(token),
    INCIDESK_TOKEN: token,
    INCIDESK_QUEUE_PREFIX: 'demo',
    INCIDESK_HTTP_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  };
  const envFile = path.join(DEMO_DIR, 'demo.env');
  writeFileSync(
    envFile,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  const logFile = path.join(DEMO_DIR, 'incidesk.log');
  const log = createLogger('info', createWriteStream(logFile));
  const config = loadConfig(env);
  const app = await startApp(config, await loadPlan(config.planPath), log);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping incidesk and the local services …`);
    await app.stop();
    await relay.close();
    await running.stop();
    say('stopped.');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  say(
    `incidesk is running (log: ${path.relative(process.cwd(), logFile)}); mailing two complaints …`,
  );
  const lmtp = nodemailer.createTransport({
    lmtp: true,
    host: '127.0.0.1',
    port: services.lmtpPort,
  } as never);
  for (const sample of SAMPLES)
    await lmtp.sendMail({ ...sample, to: SUPPORT, envelope: { from: sample.from, to: SUPPORT } });

  // Acknowledgements sent means: taken in, made incidents, answered.
  const deadline = Date.now() + 120_000;
  while ((await Outbox.countDocuments({ kind: 'ack', state: 'sent' })) < SAMPLES.length) {
    if (Date.now() > deadline) throw new Error(`no acknowledgements after 120 s; see ${logFile}`);
    await sleep(250);
  }
  const incidents = await listIncidents({ limit: 10 });
  say('');
  for (const i of incidents.reverse())
    say(
      `  INC-${String(i.number).padStart(6, '0')}  ${i.status.padEnd(9)} ${String(i.priority ?? '-').padEnd(3)} ${i.customer.address}  ${i.subject}`,
    );
  say(`\n${SAMPLES.length} complaints became incidents and were acknowledged. Try:`);
  say(`  npx incidesk --env-file ${path.relative(process.cwd(), envFile)} incidents list`);
  say(`  npx incidesk --env-file ${path.relative(process.cwd(), envFile)} incidents show 1`);
  say(`  curl -s http://127.0.0.1:${env.INCIDESK_HTTP_PORT}/healthz`);
  say(
    `Read the mail with any IMAP client: 127.0.0.1:${services.imapPort}, no TLS, password "${services.dovecotPassword}",`,
  );
  say('  user ann@example.com or raj@example.com (customers), alice@example.test (an agent), …');
  say(
    `Send mail through SMTP 127.0.0.1:${relay.port} (no sign-in): to ${SUPPORT}, or a reply to any mail you read.`,
  );
  say('Ctrl-C stops everything.');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
