/**
 * `npm run demo` as a new user meets it, and the loop through its development mail server
 * (scripts/devmail.ts, also the Docker quick start's): the sample complaints become
 * acknowledged incidents in real local mailboxes, the customer's reply to the
 * acknowledgement's Reply-To joins its incident (plus-address delivery), the agent's answer
 * reaches the customer's mailbox, and Ctrl-C stops everything.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runIncidesk } from '../support/process.js';
import { PROJECT_ROOT } from '../support/services.js';

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

async function inbox(port: number, user: string) {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    auth: { user, pass: 'secret' },
    logger: false,
  });
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const mails: { subject: string; replyTo: string; text: string }[] = [];
    if ((client.mailbox as { exists: number }).exists === 0) return mails;
    for await (const m of client.fetch('1:*', { envelope: true, source: true }))
      mails.push({
        subject: m.envelope?.subject ?? '',
        replyTo: m.envelope?.replyTo?.[0]?.address ?? '',
        text: m.source?.toString('utf8') ?? '',
      });
    return mails;
  } finally {
    await client.logout();
  }
}

describe('npm run demo', () => {
  it('runs incidesk on local services, answers the sample complaints, and stops on Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, 'scripts/demo.ts'], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, INCIDESK_TOKEN: '', MONGODB_URI: '' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 180_000;
      while (!/Ctrl-C stops everything/.test(out)) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`the demo did not come up:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // The two complaints are taken in at once, so either may get the first number.
      const ann = /(INC-\d{6}) .*ann@example\.com {2}Invoice 2026-11 charged twice/.exec(out)?.[1];
      const raj = /(INC-\d{6}) .*raj@example\.com {2}VPN is down/.exec(out)?.[1];
      expect(ann).toBeDefined();
      expect(raj).toBeDefined();
      expect(ann).not.toBe(raj);
      const annNumber = String(Number(ann!.slice(4)));
      const imapPort = Number(/IMAP client: 127\.0\.0\.1:(\d+)/.exec(out)![1]);
      const smtpPort = Number(/SMTP 127\.0\.0\.1:(\d+)/.exec(out)![1]);

      const [ack] = await inbox(imapPort, 'ann@example.com');
      expect(ack!.subject).toBe(`[${ann}] Re: Invoice 2026-11 charged twice`);
      expect(ack!.replyTo).toMatch(new RegExp(`^support\\+${ann}\\.[a-z0-9]+@example\\.test$`));

      // The customer presses Reply: the plus-address must reach the support mailbox.
      const relay = nodemailer.createTransport({
        host: '127.0.0.1',
        port: smtpPort,
        ignoreTLS: true,
      });
      await relay.sendMail({
        from: 'ann@example.com',
        to: ack!.replyTo,
        subject: `Re: ${ack!.subject}`,
        text: 'Any news on the refund?',
      });
      relay.close();
      const envFile = '.demo/demo.env';
      let assignee = '';
      for (let i = 0; ; i++) {
        const shown = await runIncidesk(
          ['--env-file', envFile, 'incidents', 'show', annNumber, '--json'],
          {},
        );
        const { incident, timeline } = JSON.parse(shown.stdout) as {
          incident: { assignee: string };
          timeline: { text?: string }[];
        };
        assignee = incident.assignee;
        if (timeline.some((e) => e.text?.includes('Any news on the refund?'))) break;
        if (i > 60) throw new Error(`the reply never joined ${ann}`);
        await new Promise((r) => setTimeout(r, 500));
      }

      // The agent answers from their own mailbox; the answer reaches the customer's.
      const plan = parseYaml(readFileSync(`${PROJECT_ROOT}/plan.example.yaml`, 'utf8')) as {
        agents: { id: string; email: string }[];
      };
      const agent = plan.agents.find((a) => a.id === assignee)!.email;
      const assignment = (await inbox(imapPort, agent)).find((m) =>
        m.subject.startsWith(`[${ann}]`),
      )!;
      const agentRelay = nodemailer.createTransport({
        host: '127.0.0.1',
        port: smtpPort,
        ignoreTLS: true,
      });
      await agentRelay.sendMail({
        from: agent,
        to: assignment.replyTo,
        subject: `Re: ${assignment.subject}`,
        text: 'We refunded the second charge today.',
      });
      agentRelay.close();
      for (let i = 0; ; i++) {
        const mails = await inbox(imapPort, 'ann@example.com');
        if (mails.some((m) => m.text.includes('We refunded the second charge today.'))) break;
        if (i > 60) throw new Error("the agent's answer never reached the customer");
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/stopped\.\n$/);
  }, 300_000);
});
