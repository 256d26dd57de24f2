import type { AppContext } from '../context.js';
import { composeMail, threadUnder, type MailSpec } from '../mail/compose.js';
import { NO_REPLY_ADDRESS } from '../domain/sender.js';
import { jobIds } from '../queues.js';
import { enqueueOutbox } from '../store/outbox.js';
import { staffThreadStart } from '../store/threads.js';

/** Write the message to the outbox (once, by its id) and hand it to the notify worker. */
export async function queueMail(ctx: AppContext, spec: MailSpec): Promise<void> {
  // An incident opened by a message with no usable sender has no one to write to.
  if (spec.to === NO_REPLY_ADDRESS) return;
  let composed = composeMail(ctx, spec);
  if (spec.audience === 'staff') {
    const first = await staffThreadStart(
      spec.incident.number,
      spec.to,
      composed.messageId,
      ctx.now(),
    );
    composed = threadUnder(composed, first);
  }
  const message = await enqueueOutbox(composed);
  if (message.state !== 'pending') return;
  await ctx.queues.notify.add(
    spec.kind,
    { outboxId: message._id },
    { jobId: jobIds.notify(message._id) },
  );
}
