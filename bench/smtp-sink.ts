/**
 * The benchmark's SMTP capture: a real smtp-server, configured like test/support/smtp-capture.ts,
 * that records the moment it accepts each message (just before the 250 reply to DATA) and the
 * message's Message-ID / In-Reply-To.
 *
 * Not the test capture itself: that one runs mailparser's simpleParser over every message
 * before accepting it, which would spend CPU in the very process being measured, and it keeps
 * no acceptance time. This one reads only the header block.
 */
import { performance } from 'node:perf_hooks';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../test/support/services.js';

export interface Accepted {
  /** performance.now() when the message was accepted. */
  at: number;
  /** Date.now() at the same moment (to line up with timestamps the app writes to the store). */
  wallAt: number;
  to: string[];
  messageId?: string;
  inReplyTo?: string;
  size: number;
}

export interface SmtpSink {
  port: number;
  accepted: Accepted[];
  /** Called for every accepted message (after it is recorded). */
  onAccept?: (a: Accepted) => void;
  close(): Promise<void>;
}

const HEADER_LIMIT = 64 * 1024;

function header(block: string, name: string): string | undefined {
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(unfolded);
  return m?.[1]?.trim();
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const sink: SmtpSink = {
    port: 0,
    accepted: [],
    close: async () => undefined,
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 100 * 1024 * 1024,
    onData(stream, session, callback) {
      let head = '';
      let headDone = false;
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (headDone) return;
        head += chunk.toString('latin1');
        const end = head.search(/\r?\n\r?\n/);
        if (end >= 0) {
          head = head.slice(0, end);
          headDone = true;
        } else if (head.length > HEADER_LIMIT) {
          headDone = true;
        }
      });
      stream.on('end', () => {
        const a: Accepted = {
          at: performance.now(),
          wallAt: Date.now(),
          to: session.envelope.rcptTo.map((r) => r.address),
          messageId: header(head, 'message-id'),
          inReplyTo: header(head, 'in-reply-to'),
          size,
        };
        sink.accepted.push(a);
        sink.onAccept?.(a);
        callback();
      });
    },
  });
  sink.port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sink.port, '127.0.0.1', () => resolve());
  });
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
