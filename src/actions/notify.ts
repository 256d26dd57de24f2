/**
 * Sending one outbox message over SMTP and marking it sent (its timeline entry was written
 * when it was decided). A permanent failure (5xx) is recorded on the incident and the address
 * is marked undeliverable; anything else is thrown for the queue to retry.
 */
import { UnrecoverableError } from 'bullmq';
import type { AppContext } from '../context.js';
import { mailboxFor } from '../config.js';
import { jobIds, QUEUES } from '../queues.js';
import { PermanentDeliveryError, smtpAccount } from '../mail/outbound.js';
import { attachmentsOf } from '../store/attachments.js';
import { withActor } from '../store/audit.js';
import { openBlob } from '../store/blobs.js';
import { appendTimeline } from '../store/incidents.js';
import type { OutboxDoc } from '../store/models.js';
import { clearSignInRefused } from '../store/sign-in.js';
import {
  claimOutbox,
  getOutbox,
  markOutboxAttempt,
  markOutboxFailed,
  markOutboxSent,
  markUndeliverable,
  outboundEntry,
  type OutboxClaim,
} from '../store/outbox.js';

/**
 * Per running app, the SMTP accounts that have sent since this process last saw them refused:
 * a refusal on record (from an earlier run, or another process) is cleared by each account's
 * first good send, once, not on every mail.
 */
const signedInAccounts = new WeakMap<AppContext, Set<string>>();

async function signedIn(ctx: AppContext, account: string): Promise<void> {
  const accounts = signedInAccounts.get(ctx) ?? new Set<string>();
  signedInAccounts.set(ctx, accounts);
  if (accounts.has(account)) return;
  await clearSignInRefused('smtp', account);
  accounts.add(account);
}

/** The account's credentials were refused: its next good send clears the record again. */
export function signInRefused(ctx: AppContext, account: string): void {
  signedInAccounts.get(ctx)?.delete(account);
}

/** The notify job: claim the message (its read and the attempt's start in one command), send it. */
export async function notify(ctx: AppContext, outboxId: string): Promise<'sent' | 'already-sent'> {
  const message = await claimOutbox(outboxId, jobIds.notify(outboxId), ctx.now());
  if (!message) {
    // Not pending, or another job is sending it: only now is it read, to say which.
    const held = await getOutbox(outboxId);
    if (!held) throw new UnrecoverableError(`outbox message ${outboxId} does not exist`);
    if (held.state === 'pending')
      // Retried with backoff: that job sends it, or its claim runs out and this one does.
      throw new Error(`outbox message ${outboxId} is being sent by ${held.claimedBy ?? '?'}`);
    if (held.state === 'failed')
      // A dead letter, which `incidesk dlq replay` sends again once the cause is mended.
      throw new UnrecoverableError(`delivery failed for good: ${held.lastError ?? 'unknown'}`);
    return 'already-sent';
  }
  try {
    await deliver(ctx, message);
  } catch (err) {
    if (err instanceof PermanentDeliveryError) throw new UnrecoverableError(err.message);
    throw err;
  }
  return 'sent';
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

/**
 * Send a mail the job `claim.by` stored claimed, right after storing it: the ingest job's
 * acknowledgement, triage's mail to the agent and to the lead. No queue hop and no claim
 * command (the claim was taken in the insert), and nothing read back: one command a mail, the
 * "sent" mark. It runs as the notifier, whose work it is. Any failure goes to the notify
 * queue, which retries with backoff (and waits out a refused SMTP sign-in) or, for one that
 * failed for good (recorded by then), keeps it as a dead letter for `incidesk dlq replay`.
 *
 * A process killed before the "sent" mark leaves the job unfinished: its rerun (the same job
 * id, so the same claim) finds the mail pending and claims it again (that run's claim is not
 * the one on record) before sending, so that a recovery sweep which took the claim once it ran
 * out (SEND_CLAIM_MS) cannot send it at the same time. A mail another job holds is that job's
 * to send (or its rerun's, or the sweep's once the claim runs out); one nobody holds (stored
 * unclaimed, or let go by a failed attempt) goes to the notify queue.
 */
export async function sendOrHandOver(
  ctx: AppContext,
  kind: string,
  message: OutboxDoc | null,
  claim: OutboxClaim,
): Promise<void> {
  if (message?.state !== 'pending') return;
  if (message.claimedBy === claim.by) {
    const mine =
      message.lastAttemptAt?.getTime() === claim.at.getTime()
        ? message // born claimed by this run's own write
        : await claimOutbox(message._id, claim.by, ctx.now());
    try {
      if (mine)
        return await withActor({ kind: 'worker', id: QUEUES.notify }, `${kind} ${mine._id}`, () =>
          deliver(ctx, mine),
        );
    } catch {
      // Recorded by deliver, and the claim let go: the notify job takes it from here.
    }
  } else if (message.claimedBy) {
    return; // another job's to send (or its rerun's, or the sweep's once the claim runs out)
  }
  await handOver(ctx, kind, message);
}

/**
 * Send a pending message in hand and record it: the notify job's work, and that of a job
 * sending mail it has just stored claimed (sendOrHandOver: no queue hop, no read). A permanent
 * failure is recorded (the address undeliverable, the incident's timeline, the message failed)
 * and then thrown; any other is thrown as it came, for a retry.
 *
 * Recorded in one command, the "sent" mark: its timeline entry was written when the mail was
 * decided (`onTimeline`), so a reply can thread to it even before this mark. A process killed
 * between SMTP's acceptance and the mark sends the message again on the retry (the same
 * Message-ID; SMTP is at-least-once anyway), and the history holds it once. A message stored
 * before entries were written at the decision gets its entry here, before the mark (a keyed
 * upsert, so a retry writes it once).
 */
export async function deliver(ctx: AppContext, message: OutboxDoc): Promise<void> {
  const log = ctx.log.child({
    component: 'notify',
    incident: message.incidentNumber,
    outbox: message._id,
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
    await markOutboxAttempt(message._id, (err as Error).message);
    if (err instanceof PermanentDeliveryError) {
      // The address first: once the outbox says "failed", nothing more goes to it.
      await markUndeliverable(message.to, err.message);
      await recordFailure(ctx, message, err.message);
      log.warn({ err: err.message }, 'delivery failed permanently');
    } else {
      log.info({ err: (err as Error).message }, 'delivery failed, will retry');
    }
    throw err;
  }
  const at = ctx.now();
  const box = mailboxFor(ctx.config, message.from);
  const entry = message.onTimeline
    ? null
    : outboundEntry({ ...message, from: box.supportAddress }, message.createdAt ?? at);
  if (entry) await appendTimeline(message.incidentNumber, entry);
  await markOutboxSent(message._id, at);
  await signedIn(ctx, smtpAccount(box));
  log.info('sent');
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
