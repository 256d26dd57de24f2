/**
 * Sending one outbox message over SMTP and recording it on the incident's timeline. A
 * permanent failure (5xx) is recorded on the incident and the address is marked
 * undeliverable; anything else is thrown for the queue to retry.
 */
import { UnrecoverableError } from 'bullmq';
import type { AppContext } from '../context.js';
import { mailboxFor } from '../config.js';
import { PermanentDeliveryError, smtpAccount } from '../mail/outbound.js';
import { attachmentsOf } from '../store/attachments.js';
import { openBlob } from '../store/blobs.js';
import { appendTimeline } from '../store/incidents.js';
import type { OutboxDoc } from '../store/models.js';
import {
  getOutbox,
  markOutboxAttempt,
  markOutboxFailed,
  markOutboxSent,
  markUndeliverable,
} from '../store/outbox.js';

export async function notify(
  ctx: AppContext,
  outboxId: string,
  /** Told the SMTP account that just sent, so a refusal on record can be cleared. */
  signedIn?: (account: string) => Promise<void>,
): Promise<'sent' | 'already-sent' | 'failed'> {
  const message = await getOutbox(outboxId);
  if (!message) throw new UnrecoverableError(`outbox message ${outboxId} does not exist`);
  if (message.state === 'sent') return 'already-sent';
  if (message.state === 'failed') return 'failed';
  const log = ctx.log.child({
    component: 'notify',
    incident: message.incidentNumber,
    outbox: outboxId,
  });
  try {
    const attachments = (await attachmentsOf(message.attachmentIds ?? [])).map((a) => ({
      filename: a.filename ?? undefined,
      contentType: a.contentType ?? undefined,
      content: openBlob(a.blobId),
    }));
    const inline = (message.inline ?? []).map((a) => ({
      filename: a.filename ?? undefined,
      contentType: a.contentType ?? undefined,
      content: bytesOf(a.data),
      cid: a.cid ?? undefined,
    }));
    await ctx.mailer.send(message, [...attachments, ...inline]);
  } catch (err) {
    await markOutboxAttempt(outboxId, (err as Error).message);
    if (err instanceof PermanentDeliveryError) {
      // The address first: once the outbox says "failed", nothing more goes to it.
      await markUndeliverable(message.to, err.message);
      await recordFailure(ctx, message, err.message);
      log.warn({ err: err.message }, 'delivery failed permanently');
      throw new UnrecoverableError(err.message);
    }
    log.info({ err: (err as Error).message }, 'delivery failed, will retry');
    throw err;
  }
  const at = ctx.now();
  const box = mailboxFor(ctx.config, message.from);
  await markOutboxSent(outboxId, at);
  await signedIn?.(smtpAccount(box));
  if (message.incidentNumber === 0) {
    log.info('sent'); // a digest: about no single incident, so no timeline
    return 'sent';
  }
  await appendTimeline(message.incidentNumber, {
    _id: `out-${outboxId}`,
    at,
    type: 'message',
    direction: 'outbound',
    messageId: message.messageId,
    from: box.supportAddress,
    to: [message.to],
    subject: message.subject,
    text: message.text,
    event: message.kind,
  });
  log.info('sent');
  return 'sent';
}

/** A stored Buffer comes back from a lean read as a BSON Binary. */
function bytesOf(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  const b = (data as { buffer?: Uint8Array } | null)?.buffer;
  return b ? Buffer.from(b) : Buffer.alloc(0);
}

/** Called when a transient failure has used up every retry. */
export async function notifyGaveUp(ctx: AppContext, outboxId: string, error: string) {
  const message = await getOutbox(outboxId);
  if (message && message.state === 'pending')
    await recordFailure(ctx, message, `gave up: ${error}`);
}

async function recordFailure(ctx: AppContext, message: OutboxDoc, error: string) {
  // Timeline first: once the outbox says "failed", the incident already shows it.
  await appendTimeline(message.incidentNumber, {
    _id: `failed-${message._id}`,
    at: ctx.now(),
    type: 'event',
    event: 'delivery-failed',
    detail: { to: message.to, kind: message.kind, error },
  });
  await markOutboxFailed(message._id, error);
}
