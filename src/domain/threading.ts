import { normalizeAddress } from './address.js';
import { incidentFromMessageIds, incidentFromRecipients, subjectIncident } from './tokens.js';

export type ThreadDecision =
  | {
      kind: 'existing';
      incidentNumber: number;
      via: 'message-token' | 'known-message-id' | 'plus-address' | 'subject-token';
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
  supportAddress: string;
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
  const fromToken = incidentFromMessageIds(input.secret, input.references);
  if (fromToken !== null) {
    return { kind: 'existing', incidentNumber: fromToken, via: 'message-token' };
  }

  const sender = normalizeAddress(input.sender);
  const among = (people: readonly string[]) =>
    sender !== '' && people.some((p) => normalizeAddress(p) === sender);
  if (
    input.knownReference !== undefined &&
    input.knownReference !== null &&
    (input.knownReferenceParties === undefined || among(input.knownReferenceParties))
  ) {
    return { kind: 'existing', incidentNumber: input.knownReference, via: 'known-message-id' };
  }

  const fromPlus = incidentFromRecipients(input.supportAddress, input.secret, input.recipients);
  if (fromPlus !== null) {
    return { kind: 'existing', incidentNumber: fromPlus, via: 'plus-address' };
  }

  const tagged = subjectIncident(input.subject);
  if (tagged !== null && input.subjectIncidentParticipants) {
    if (among(input.subjectIncidentParticipants)) {
      return { kind: 'existing', incidentNumber: tagged, via: 'subject-token' };
    }
  }

  return { kind: 'new' };
}
