import type { AppContext } from '../context.js';
import { composeMail, threadUnder, type MailSpec } from '../mail/compose.js';
import { NO_REPLY_ADDRESS } from '../domain/sender.js';
import { jobIds } from '../queues.js';
import { enqueueOutbox } from '../store/outbox.js';
import type { OutboxDoc } from '../store/models.js';
import { staffThreadStart } from '../store/threads.js';

/** Write the message to the outbox (once, by its id) and hand it to the notify worker. */
export async function queueMail(ctx: AppContext, spec: MailSpec): Promise<void> {
  await handOver(ctx, spec.kind, await storeMail(ctx, spec));
}

/**
 * Write the message to the outbox, once by its id (inside a transaction, with the change it
 * tells of); null when there is nobody to write to. `handOver` gives it to the notify worker.
 */
export async function storeMail(ctx: AppContext, spec: MailSpec): Promise<OutboxDoc | null> {
  // An incident opened by a message with no usable sender has no one to write to.
  if (spec.to === NO_REPLY_ADDRESS) return null;
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
  return enqueueOutbox(composed);
}

/** Have the notify worker send a stored message, unless it was sent (or failed) before. */
export async function handOver(ctx: AppContext, kind: string, message: OutboxDoc | null) {
  if (message?.state !== 'pending') return;
  await ctx.queues.notify.add(
    kind,
    { outboxId: message._id },
    { jobId: jobIds.notify(message._id) },
  );
}
