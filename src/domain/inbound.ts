/**
 * The first decision about an inbound message: can it be used at all, and is it a person, a
 * robot or a delivery report? Pure: the caller has parsed the message already.
 */
import { isValidAddress, normalizeAddress } from './address.js';
import { detectAutomatic, type AutomaticKind } from './automail.js';
import { isDeliveryReport, isQmailBounce } from './bounce.js';
import type { HeaderBag, HeaderSectionEnd } from './headers.js';

export type InboundVerdict =
  | { kind: 'quarantine'; reason: string }
  | { kind: 'delivery-report' }
  | { kind: 'own-mail'; reason: string }
  | { kind: 'message'; sender: string; automatic: { kind: AutomaticKind; reason: string } | null };

export interface InboundFacts {
  headers: HeaderBag;
  contentType?: string;
  from: readonly { address: string }[];
  supportAddress: string;
  /** How the raw header section ends; 'truncated' when it breaks off mid-line. */
  headerSection?: HeaderSectionEnd;
  /** The decoded text body (plain-text bounces are only recognisable by it). */
  text?: string;
}

export function assessInbound(m: InboundFacts): InboundVerdict {
  if (m.headers.size === 0)
    return { kind: 'quarantine', reason: 'no header block: not an email message' };
  if (m.headerSection === 'truncated') {
    // What is there parses, but the message stops in the middle of its header section.
    return {
      kind: 'quarantine',
      reason:
        'truncated message: the header block is never terminated and its last line is cut off',
    };
  }
  if (isDeliveryReport(m.contentType)) return { kind: 'delivery-report' };
  const from = m.from[0]?.address;
  if (!from)
    return {
      kind: 'quarantine',
      reason: 'no sender: the From header is missing or has no address',
    };
  const sender = normalizeAddress(from);
  if (!isValidAddress(sender)) {
    return { kind: 'quarantine', reason: `unusable sender address "${from.slice(0, 200)}"` };
  }
  if (sender === normalizeAddress(m.supportAddress)) {
    // Our own mail coming back (a forwarding loop or a copy to ourselves): record, never answer.
    return { kind: 'own-mail', reason: 'sent from the support address itself' };
  }
  const automatic = detectAutomatic(m.headers, sender);
  // qmail bounces are plain text, not multipart/report: a mail system account (or the null
  // sender) sending the QSBMF layout is a delivery report all the same.
  if (
    (automatic?.kind === 'mailer-daemon' || automatic?.kind === 'null-sender') &&
    isQmailBounce(m.text)
  ) {
    return { kind: 'delivery-report' };
  }
  return { kind: 'message', sender, automatic };
}
