/**
 * May this message run commands (or speak to the customer) on an agent's behalf? Pure: the
 * ingest worker gathers the evidence (tokens, authentication) and asks here.
 */
import type { AuthVerdict } from './authentication-results.js';
import type { TokenEvidence } from './tokens.js';

/**
 * How a deployment decides that mail claiming to be from an agent is genuine (plan
 * `access.agentMail`):
 *  - dmarc: incidesk verifies DKIM and the From domain's DMARC record; DMARC must pass.
 *  - dkim: incidesk verifies DKIM; a valid signature aligned with the From domain must exist.
 *  - trusted-relay: the receiving MTA verified it; its Authentication-Results header (the
 *    topmost one with `access.authservId`) must say dmarc=pass or aligned dkim=pass.
 *  - token-only: nothing is verified; the token in the reply must have been issued to that
 *    agent. Weaker: whoever can read an agent's mail can act as that agent.
 */
export const AGENT_MAIL_MODES = ['dmarc', 'dkim', 'trusted-relay', 'token-only'] as const;
export type AgentMailMode = (typeof AGENT_MAIL_MODES)[number];

export type RefusalReason = 'unauthenticated-sender' | 'token-not-issued-to-sender';

export type CommandPermission =
  | { allowed: true; basis: 'authenticated-sender' | 'token-issued-to-sender' }
  | {
      allowed: false;
      reason: RefusalReason;
      /** For the agent: why, in a sentence. */
      explanation: string;
      /** A DNS failure or the like: sending the same mail again later may succeed. */
      temporary: boolean;
    };

/** Modes in which incidesk (or the relay) authenticates the sender. */
export const authenticates = (mode: AgentMailMode) => mode !== 'token-only';

/**
 * The decision for a message from an agent's address that threads to incident n by one of
 * our tokens (`evidence` is not 'none'). With sender authentication (every mode but
 * token-only) the verdict decides; with token-only the token must be issued to that agent.
 * A legacy token authorises nothing by itself.
 */
export function mayActAsAgent(input: {
  mode: AgentMailMode;
  evidence: Exclude<TokenEvidence, 'none'>;
  authentication: AuthVerdict | null;
}): CommandPermission {
  if (authenticates(input.mode)) {
    const v = input.authentication ?? { status: 'none', detail: 'not checked' };
    if (v.status === 'pass') return { allowed: true, basis: 'authenticated-sender' };
    return {
      allowed: false,
      reason: 'unauthenticated-sender',
      explanation:
        v.status === 'temperror'
          ? `the sender could not be verified just now (${v.detail}); send it again later`
          : `the sender could not be verified (${input.mode}: ${v.detail})`,
      temporary: v.status === 'temperror',
    };
  }
  if (input.evidence === 'issued-to-sender')
    return { allowed: true, basis: 'token-issued-to-sender' };
  return {
    allowed: false,
    reason: 'token-not-issued-to-sender',
    explanation:
      input.evidence === 'legacy'
        ? 'the reply carries an old incident token that was issued to nobody in particular; reply to a newer mail from incidesk'
        : 'the reply carries an incident token that was issued to someone else; reply to the mail incidesk sent you',
    temporary: false,
  };
}
