/**
 * Child process of bench/intake.ts: builds the big-attachment message and APPENDs it, so that
 * its ~35 MB buffer lives in this process and not in the one whose memory is being measured.
 * Arguments arrive as one JSON object in argv[2]; the result goes back over IPC.
 */
import { performance } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import { largeMessage } from './messages.js';

interface Args {
  host: string;
  port: number;
  user: string;
  pass: string;
  mailbox: string;
  run: string;
  attachmentBytes: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const send = (m: unknown) => process.send?.(m);

try {
  const msg = largeMessage(args.run, args.attachmentBytes);
  const client = new ImapFlow({
    host: args.host,
    port: args.port,
    secure: false,
    auth: { user: args.user, pass: args.pass },
    logger: false,
  });
  client.on('error', (err: Error) => send({ type: 'error', message: err.message }));
  await client.connect();
  send({ type: 'ready', size: msg.raw.length, messageId: msg.messageId });
  // Wait for the go-ahead, so that the parent can take its baseline with this process idle.
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const t0 = performance.now();
  const res = await client.append(args.mailbox, msg.raw);
  const appendMs = performance.now() - t0;
  send({
    type: 'appended',
    size: msg.raw.length,
    appendMs,
    uid: res ? res.uid : undefined,
    wallAt: Date.now(),
  });
  await client.logout();
  process.disconnect?.();
} catch (err) {
  send({ type: 'error', message: (err as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
