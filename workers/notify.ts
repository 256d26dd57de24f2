/**
 * notify: send one outbox message over SMTP and record it on the incident's timeline.
 * Transient failures are retried by BullMQ with backoff; a permanent one (5xx) is recorded on
 * the incident and the address is marked undeliverable, and the job stops retrying.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { AUTH_RETRY_MS } from '../src/constants.js';
import type { AppContext } from '../src/context.js';
import { mailboxFor } from '../src/config.js';
import { PermanentDeliveryError, SmtpSignInError, smtpAccount } from '../src/mail/outbound.js';
import { clearSignInRefused, recordSignInRefused } from '../src/store/sign-in.js';
import type { NotifyJob } from '../src/queues.js';
import { attachmentsOf } from '../src/store/attachments.js';
import { openBlob } from '../src/store/blobs.js';
import { appendTimeline } from '../src/store/incidents.js';
import type { OutboxDoc } from '../src/store/models.js';
import {
  getOutbox,
  markOutboxAttempt,
  markOutboxFailed,
  markOutboxSent,
  markUndeliverable,
} from '../src/store/outbox.js';

export function notifyProcessor(ctx: AppContext) {
  // A refusal may be on record from an earlier run: each account's first good send clears it.
  const clear = new Set<string>();
  const signedIn = async (account: string) => {
    if (clear.has(account)) return;
    await clearSignInRefused('smtp', account);
    clear.add(account);
  };
  return async (job: Job<NotifyJob>, token?: string) => {
    try {
      return await notify(ctx, job.data.outboxId, signedIn);
    } catch (err) {
      if (!(err instanceof SmtpSignInError) || !token) throw err;
      // Our credentials, not the message, are at fault: wait without using up its attempts.
      ctx.log.error(
        { component: 'notify', account: err.account, err: err.message, retryInMs: AUTH_RETRY_MS },
        err.oauth
          ? 'SMTP sign-in refused: check the OAUTH_ settings and that the app may send as this mailbox'
          : 'SMTP sign-in refused: check SMTP_USER and SMTP_PASS',
      );
      await recordSignInRefused('smtp', err.account, err.message, ctx.now());
      clear.delete(err.account);
      await job.moveToDelayed(Date.now() + AUTH_RETRY_MS, token);
      throw new DelayedError();
    }
  };
}

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
