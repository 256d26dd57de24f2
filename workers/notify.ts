/**
 * notify: send one outbox message (src/actions/notify.ts). Transient failures are retried by
 * BullMQ with backoff; a refused SMTP sign-in waits without using up the message's attempts.
 */
import { DelayedError, type Job } from 'bullmq';
import { notify, signInRefused } from '../src/actions/notify.js';
import { AUTH_RETRY_MS } from '../src/constants.js';
import type { AppContext } from '../src/context.js';
import { SmtpSignInError } from '../src/mail/outbound.js';
import { recordSignInRefused } from '../src/store/sign-in.js';
import type { NotifyJob } from '../src/queues.js';

export function notifyProcessor(ctx: AppContext) {
  return async (job: Job<NotifyJob>, token?: string) => {
    try {
      return await notify(ctx, job.data.outboxId);
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
      signInRefused(ctx, err.account);
      await job.moveToDelayed(Date.now() + AUTH_RETRY_MS, token);
      throw new DelayedError();
    }
  };
}
