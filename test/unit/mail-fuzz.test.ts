/**
 * Generated hostile mail through the parse → decide → compose → render path, without servers:
 * thousands of cases in seconds. Every case must parse or be quarantined with a reason, and
 * every mail we would send in answer must have exactly our header set (no injected field),
 * one recipient, and no active content in its HTML. The seed is printed; FUZZ_SEED replays it.
 */
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { describeAttachment } from '../../src/domain/attachments.js';
import { assessInbound } from '../../src/domain/inbound.js';
import { composeAcknowledgement, composeMail } from '../../src/mail/compose.js';
import { mailOptions } from '../../src/mail/outbound.js';
import { parseMessage, type AttachmentInfo, type ParsedMessage } from '../../src/mail/parse.js';
import type { OutboxDoc } from '../../src/store/models.js';
import { fuzzCase, fuzzSeed, outgoingProblems, prng } from '../support/mail-fuzz.js';

const CASES = Number(process.env.FUZZ_CASES ?? 500);
const config = loadConfig({
  MONGODB_URI: 'mongodb://127.0.0.1/fuzz',
  REDIS_URL: 'redis://127.0.0.1',
  IMAP_HOST: 'imap.example.test',
  IMAP_USER: 'support',
  IMAP_PASS: 'x',
  SMTP_HOST: 'smtp.example.test',
  SUPPORT_ADDRESS: 'support@example.test',
  SUPPORT_NAME: 'Example Support',
  INCIDESK_SECRET: 'fuzz-secret-0123456789',
  INCIDESK_PLAN: 'plan.yaml',
});
const ctx = { config, plan: { organisation: 'Example Corp', agents: [] } } as unknown as Parameters<
  typeof composeMail
>[0];
const renderer = nodemailer.createTransport({
  streamTransport: true,
  buffer: true,
  newline: 'windows',
});

async function render(m: ReturnType<typeof composeMail>, attachments: AttachmentInfo[] = []) {
  const doc = { ...m, state: 'pending', attempts: 0 } as unknown as OutboxDoc;
  const files = attachments.map((a) => ({
    filename: a.filename,
    contentType: a.contentType,
    content: Readable.from([Buffer.from('attachment bytes')]),
  }));
  const info = (await renderer.sendMail(mailOptions(config, doc, files))) as { message: Buffer };
  return info.message;
}

/** Everything we send that can carry text the customer (or an agent quoting them) wrote. */
function answers(
  parsed: ParsedMessage,
  sender: string,
  n: number,
  attachments: readonly AttachmentInfo[],
) {
  const name = parsed.from[0]?.name;
  const incident = {
    number: n,
    subject: parsed.subject.trim() || '(no subject)',
    customer: { address: sender, name },
    lastMessageAt: new Date(0),
  };
  const text = parsed.text.slice(0, 20_000);
  const data = {
    name: 'Ann Agent',
    agentName: 'Ann Agent',
    customerName: name ?? '',
    customer: name ? `${name} <${sender}>` : sender,
    from: sender,
    body: `${text}\n${parsed.html ?? ''}`,
    message: text,
    priority: 'P3',
    category: 'general',
    impact: 'medium',
    urgency: 'medium',
    group: 'Desk',
    firstResponseDue: '-',
    resolutionDue: '-',
    status: 'in-progress',
    reopened: true,
    resumed: false,
    fix: parsed.subject,
    workaround: parsed.html ?? text,
    reopenDays: 14,
    resolvedAt: new Date(0),
    // Hostile attachment names go through the same lists agents see.
    files: {
      attached: attachments.map((a) =>
        describeAttachment({ id: `a${a.index}`, n: a.index + 1, ...a, size: 1000 }),
      ),
      listed: [],
      fetch: `incidesk attachments get INC-${n} N -o DIR`,
    },
  };
  const spec = (kind: string, template: string, to: string) =>
    composeMail(ctx, {
      id: `${kind}-fuzz-${n}`,
      kind,
      incident,
      to,
      audience: 'customer',
      subjectPrefix: 'Re',
      template,
      data,
      inReplyTo: parsed.messageId,
      references: parsed.references,
    });
  return [
    { mail: composeAcknowledgement(ctx, incident, parsed, `raw${n}`), to: sender, relay: false },
    { mail: spec('agent-reply', 'agent-reply', sender), to: sender, relay: true },
    { mail: spec('resolved', 'resolved', sender), to: sender, relay: false },
    {
      mail: spec('customer-reply', 'customer-reply', 'ann@example.test'),
      to: 'ann@example.test',
      relay: true,
    },
    {
      mail: spec('assignment', 'assignment', 'ann@example.test'),
      to: 'ann@example.test',
      relay: false,
    },
  ];
}

describe('fuzzing the parse and compose path with generated hostile mail', () => {
  it(`handles ${CASES} generated cases`, { timeout: 240_000 }, async () => {
    const seed = fuzzSeed();
    const rng = prng(seed);
    const outcomes = { incident: 0, quarantined: 0, report: 0, ownMail: 0 };
    const mutations = new Map<string, number>();
    let rendered = 0;
    const failures: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const c = fuzzCase(rng, i);
      for (const m of c.mutations) mutations.set(m, (mutations.get(m) ?? 0) + 1);
      const attachments: AttachmentInfo[] = [];
      let parsed: ParsedMessage;
      try {
        parsed = await parseMessage(Readable.from([c.raw]), async (info, content) => {
          for await (const _ of content) void _;
          attachments.push(info);
        });
      } catch (err) {
        // ingest quarantines exactly this: "unparseable MIME: <message>"
        expect((err as Error).message, `case ${i}`).toBeTruthy();
        outcomes.quarantined++;
        continue;
      }
      const verdict = assessInbound({
        headers: parsed.headers,
        contentType: parsed.contentType,
        supportAddress: config.supportAddress,
        headerSection: parsed.headerSection,
        text: parsed.text,
      });
      if (verdict.kind === 'quarantine' || verdict.kind === 'own-mail') {
        expect(verdict.reason.length, `case ${i}: quarantine reason`).toBeGreaterThan(0);
        outcomes.quarantined++;
        continue;
      }
      if (verdict.kind === 'delivery-report') {
        outcomes.report++; // recorded on an incident, or quarantined when not about our mail
        continue;
      }
      outcomes.incident++;
      // No usable sender: an incident with no reply address, to which nothing is ever sent.
      if (!verdict.sender) continue;
      for (const a of answers(parsed, verdict.sender.address, i + 1, attachments)) {
        const raw = await render(a.mail, a.relay ? attachments : []);
        rendered++;
        const problems = await outgoingProblems(raw, a.to);
        if (problems.length)
          failures.push(
            `case ${i} [${c.mutations.join(',')}] ${a.mail.kind}: ${problems.join('; ')}`,
          );
      }
    }
    console.log(
      `mail fuzz: seed ${seed}, ${CASES} cases (${outcomes.incident} accepted, ${outcomes.quarantined} quarantined, ${outcomes.report} delivery reports), ${rendered} outgoing mails rendered and checked; mutations ${JSON.stringify(Object.fromEntries(mutations))}`,
    );
    expect(failures, `seed ${seed}`).toEqual([]);
    expect(outcomes.incident + outcomes.quarantined + outcomes.report).toBe(CASES);
    // The generator really produced the hostile kinds it claims to.
    for (const kind of [
      'header-injection',
      'huge-header',
      'deep-nesting',
      'broken-boundary',
      'active-html',
    ])
      expect(mutations.get(kind) ?? 0, kind).toBeGreaterThan(0);
  });

  it('the checker itself catches an injected header and active HTML', async () => {
    const raw = Buffer.from(
      [
        'From: Support <support@example.test>',
        'To: a@example.com',
        'Bcc: injected@evil.test',
        'Subject: x',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p onclick="x()">hi</p><script>alert(1)</script><a href="javascript:alert(1)">x</a>',
      ].join('\r\n'),
    );
    const problems = await outgoingProblems(raw, 'a@example.com');
    expect(problems).toEqual(
      expect.arrayContaining([
        'unexpected header bcc',
        'cc/bcc present',
        '<script> in HTML',
        'on* handler in HTML',
        'javascript: URL in HTML',
      ]),
    );
  });
});
