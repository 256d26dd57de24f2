import type { AppContext } from '../context.js';
import { composeMail, type MailSpec } from '../mail/compose.js';
import { NO_REPLY_ADDRESS } from '../domain/sender.js';
import { atomically } from '../store/db.js';
import { appendTimeline } from '../store/incidents.js';
import { decidedMail, enqueueOutbox, type DecidedMail, type OutboxClaim } from '../store/outbox.js';
import type { OutboxDoc } from '../store/models.js';
import { handOver, sendOrHandOver } from './notify.js';

/**
 * Write the message to the outbox (once, by its id) and hand it to the notify worker; with a
 * `claim`, the job that is storing it sends it itself (see sendOrHandOver).
 */
export async function queueMail(
  ctx: AppContext,
  spec: MailSpec,
  claim?: OutboxClaim,
): Promise<void> {
  const stored = await storeMail(ctx, spec, claim);
  await (claim ? sendOrHandOver(ctx, spec.kind, stored, claim) : handOver(ctx, spec.kind, stored));
}

/**
 * Compose a mail and its timeline entry, dated `at`; null when there is nobody to write to. A
 * caller that writes timeline entries of its own writes `entry` with them, in the same
 * command, and then stores `message`; storeDecided does both for any other.
 */
export function decideMail(ctx: AppContext, spec: MailSpec, at = ctx.now()): DecidedMail | null {
  // An incident opened by a message with no usable sender has no one to write to.
  if (spec.to === NO_REPLY_ADDRESS) return null;
  return decidedMail(composeMail(ctx, spec), at);
}

/**
 * Write the message to the outbox, once by its id, with its timeline entry (inside a
 * transaction, with the change it tells of when there is one); null when there is nobody to
 * write to. `handOver` (src/actions/notify.ts) gives it to the notify worker.
 */
export async function storeMail(
  ctx: AppContext,
  spec: MailSpec,
  claim?: OutboxClaim,
): Promise<OutboxDoc | null> {
  const mail = decideMail(ctx, spec);
  return mail && storeDecided(mail, claim);
}

/**
 * A decided mail's timeline entry and outbox message in one transaction; `claim` as for
 * enqueueOutbox. Without transactions the entry goes first: a crash before the insert leaves a
 * mail the timeline names and the outbox lacks until the producer's retry stores it, never a
 * mail sent that the timeline does not show.
 */
export async function storeDecided(
  { message, entry }: DecidedMail,
  claim?: OutboxClaim,
): Promise<OutboxDoc> {
  return atomically(async () => {
    if (entry) await appendTimeline(message.incidentNumber, entry);
    return enqueueOutbox(message, claim);
  });
}
