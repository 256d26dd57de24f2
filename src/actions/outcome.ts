/** What a change to an incident reports back: done, or refused with the reason. */

export interface Refusal {
  ok: false;
  reason: string;
  /** Another writer changed the incident first: worth running again, unlike a refusal. */
  raced?: true;
}

export type ChangeResult = { ok: true; done: string } | Refusal;

export interface Actor {
  /** Agent id, or 'escalation' / 'system'. */
  by: string;
  /** Unique per occasion: makes a retried change record itself once. */
  cause: string;
}

export const refused = (reason: string): ChangeResult => ({ ok: false, reason });

export const changedMeanwhile = (): Refusal => ({
  ok: false,
  reason: 'the incident changed meanwhile; try again',
  raced: true,
});

/**
 * For changes made by jobs: a lost race throws, so the job runs again (every step is keyed by
 * its cause, so the rerun does only what is missing); a refusal stands.
 */
export function retryIfRaced<T extends { ok: true } | Refusal>(result: T): T {
  const r: { ok: true } | Refusal = result;
  if (!r.ok && r.raced) throw new Error(r.reason);
  return result;
}
