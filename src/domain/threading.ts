import { normalizeAddress } from './address.js';
import {
  subjectIncident,
  tokensFromMessageIds,
  tokensFromRecipients,
  type PresentedToken,
} from './tokens.js';

export type ThreadDecision =
  | {
      kind: 'existing';
      incidentNumber: number;
      via: 'message-token' | 'known-message-id' | 'plus-address' | 'subject-token';
      /**
       * Every valid token of ours the message presents for this incident (Message-IDs and
       * plus-addresses): what decides whether an agent's commands may run.
       */
      tokens: PresentedToken[];
    }
  | { kind: 'new' };

/**
 * Decides which incident an incoming message belongs to. Order, strongest
 * evidence first:
 *  1. one of our signed Message-IDs in In-Reply-To/References;
 *  2. a referenced Message-ID already stored on an incident (`knownReference`,
 *     looked up by the caller), when the sender was a party to that message or is a
 *     participant (`knownReferenceParties`);
 *  3. our signed plus-address among the recipients;
 *  4. a `[INC-n]` subject tag, honoured only when the sender is already a
 *     participant of incident n (the caller fetches those participants using
 *     `subjectIncident(subject)`), so a typed or forged tag cannot inject mail
 *     into someone else's incident;
 *  otherwise a new incident.
 */
export function decideThread(input: {
  secret: string;
  /** Every support mailbox's address: a reply may come back by any of them. */
  supportAddress: string | readonly string[];
  references: readonly string[];
  recipients: readonly string[];
  subject: string;
  sender: string;
  knownReference?: number | null;
  /**
   * Who may follow rule 2: the referenced message's sender and recipients, the incident's
   * participants and agents. A Message-ID is no secret (it can be guessed or seen in a
   * forward), so without the signed token it only threads mail from these people.
   */
  knownReferenceParties?: readonly string[];
  subjectIncidentParticipants?: readonly string[];
}): ThreadDecision {
  const presented = [
    ...tokensFromMessageIds(input.secret, input.references),
    ...[input.supportAddress]
      .flat()
      .flatMap((address) => tokensFromRecipients(address, input.secret, input.recipients)),
  ];
  const existing = (
    incidentNumber: number,
    via: Extract<ThreadDecision, { kind: 'existing' }>['via'],
  ): ThreadDecision => ({
    kind: 'existing',
    incidentNumber,
    via,
    tokens: presented.filter((t) => t.incidentNumber === incidentNumber),
  });
  const fromToken = presented.find((t) => t.source === 'message-id')?.incidentNumber ?? null;
  if (fromToken !== null) return existing(fromToken, 'message-token');

  const sender = normalizeAddress(input.sender);
  const among = (people: readonly string[]) =>
    sender !== '' && people.some((p) => normalizeAddress(p) === sender);
  if (
    input.knownReference !== undefined &&
    input.knownReference !== null &&
    (input.knownReferenceParties === undefined || among(input.knownReferenceParties))
  ) {
    return existing(input.knownReference, 'known-message-id');
  }

  const fromPlus = presented.find((t) => t.source === 'plus-address')?.incidentNumber ?? null;
  if (fromPlus !== null) return existing(fromPlus, 'plus-address');

  const tagged = subjectIncident(input.subject);
  if (tagged !== null && input.subjectIncidentParticipants) {
    if (among(input.subjectIncidentParticipants)) {
      return existing(tagged, 'subject-token');
    }
  }

  return { kind: 'new' };
}
