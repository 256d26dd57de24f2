/** Raw RFC 5322 messages for the benchmark: small customer mails and one with a big attachment. */
import { randomBytes } from 'node:crypto';

export const SUPPORT = 'support@example.test';

export interface BenchMessage {
  messageId: string;
  from: string;
  raw: Buffer;
}

const BODY = [
  'Hello,',
  '',
  'since this morning the invoice portal answers every request with an error 500.',
  'We tried two browsers and cleared the cache; colleagues in the other office see the',
  'same thing. Could you please have a look? The monthly run is due tomorrow.',
  '',
  'Thanks and kind regards,',
].join('\r\n');

/**
 * `BENCH_MAIL=varied`: every message about something else, so no two look like one outage
 * (the typical day); by default they all report the same failure, the worst case: outage
 * detection fires for each, and its suggestion to the lead is one more mail a message.
 */
const VARIED = process.env.BENCH_MAIL === 'varied';
const WHAT = ['printer', 'laptop', 'VPN', 'mailbox', 'badge', 'phone', 'monitor', 'licence'];
const HOW = ['broken', 'slow', 'locked', 'missing', 'offline', 'noisy', 'expired'];
const WHERE = ['Berlin', 'Lyon', 'Porto', 'Graz', 'Turin', 'Ghent', 'Split', 'Brno', 'Cork'];

function subjectOf(phase: string, i: number): string {
  if (!VARIED) return `Invoice portal returns 500 (${phase} #${i})`;
  // Strides coprime to each list's length: neighbours share no word.
  const word = (list: string[], stride: number) => list[(i * stride) % list.length]!;
  return `${word(WHAT, 3)} ${word(HOW, 2)}, ${word(WHERE, 4)} ${phase}${i}`;
}

/** A ~1 KB plain-text customer message from a sender of its own. */
export function customerMessage(run: string, phase: string, i: number): BenchMessage {
  const from = `${phase}-${i}@customer-${run}.example`;
  const messageId = `<${phase}-${i}.${run}@customer.example>`;
  const raw = [
    `From: "Customer ${phase} ${i}" <${from}>`,
    `To: Example Support <${SUPPORT}>`,
    `Subject: ${subjectOf(phase, i)}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    'User-Agent: incidesk-bench',
    '',
    BODY,
    `Customer ${phase} ${i}`,
    '',
  ].join('\r\n');
  return { messageId, from, raw: Buffer.from(raw) };
}

/** The same customer's follow-up to incident `incident`, threaded by its subject tag. */
export function customerReply(
  run: string,
  phase: string,
  i: number,
  incident: number,
): BenchMessage {
  const first = customerMessage(run, phase, i);
  const messageId = `<${phase}-${i}.reply.${run}@customer.example>`;
  const tag = `INC-${String(incident).padStart(6, '0')}`;
  const raw = first.raw
    .toString()
    .replace(/^Subject: (.*)$/m, `Subject: Re: [${tag}] $1`)
    .replace(/^Message-ID: .*$/m, `Message-ID: ${messageId}`)
    .replace(/\r\n\r\n/, `\r\nIn-Reply-To: ${first.messageId}\r\n\r\n`);
  return { messageId, from: first.from, raw: Buffer.from(raw) };
}

/** A multipart message with one `attachmentBytes`-byte binary attachment, base64 in 76-char lines. */
export function largeMessage(run: string, attachmentBytes: number): BenchMessage {
  const from = `large@customer-${run}.example`;
  const messageId = `<large.${run}@customer.example>`;
  const boundary = `----bench-${run}`;
  const head = [
    `From: "Customer Large" <${from}>`,
    `To: Example Support <${SUPPORT}>`,
    `Subject: Crash dump attached (${run})`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    'The application crashed again; the dump is attached.',
    '',
    `--${boundary}`,
    'Content-Type: application/octet-stream; name="crash.dmp"',
    'Content-Disposition: attachment; filename="crash.dmp"',
    'Content-Transfer-Encoding: base64',
    '',
    '',
  ].join('\r\n');
  const b64 = randomBytes(attachmentBytes).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  const tail = `\r\n--${boundary}--\r\n`;
  const raw = Buffer.concat([
    Buffer.from(head),
    Buffer.from(lines.join('\r\n')),
    Buffer.from(tail),
  ]);
  return { messageId, from, raw };
}
