/** Mail servers that refuse our credentials, recorded so that `status` and `/healthz` say so. */
import { SignInProblem } from './models.js';

export type MailService = 'imap' | 'smtp';

export interface SignInRefusal {
  service: MailService;
  account: string;
  response: string;
  since: Date;
  lastAt: Date;
}

const keyOf = (service: MailService, account: string) => `${service} ${account}`;

export async function recordSignInRefused(
  service: MailService,
  account: string,
  response: string,
  at: Date,
): Promise<void> {
  await SignInProblem.updateOne(
    { _id: keyOf(service, account) },
    { $set: { service, response, lastAt: at }, $setOnInsert: { since: at } },
    { upsert: true },
  );
}

export async function clearSignInRefused(service: MailService, account: string): Promise<void> {
  await SignInProblem.deleteOne({ _id: keyOf(service, account) });
}

export async function signInRefusals(): Promise<SignInRefusal[]> {
  const rows = await SignInProblem.find().lean();
  return rows.map((r) => ({
    service: r.service as MailService,
    account: String(r._id).slice(String(r.service).length + 1),
    response: r.response ?? '',
    since: r.since ?? new Date(0),
    lastAt: r.lastAt ?? new Date(0),
  }));
}
