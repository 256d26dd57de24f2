/**
 * The first decision about an inbound message: can it be used at all, and is it a person, a
 * robot or a delivery report? Pure: the caller has parsed the message already.
 */
import { normalizeAddress } from './address.js';
import { detectAutomatic, type AutomaticKind } from './automail.js';
import { isDeliveryReport, isQmailBounce } from './bounce.js';
import type { HeaderBag, HeaderSectionEnd } from './headers.js';
import { chooseSender, type SenderChoice } from './sender.js';

export type InboundVerdict =
  | { kind: 'quarantine'; reason: string }
  | { kind: 'delivery-report' }
  | { kind: 'own-mail'; reason: string }
  | {
      kind: 'message';
      /** null: no usable address in From, Reply-To, Sender or Return-Path. */
      sender: SenderChoice | null;
      automatic: { kind: AutomaticKind; reason: string } | null;
    };

export interface InboundFacts {
  headers: HeaderBag;
  contentType?: string;
  /** Every support mailbox's address. */
  supportAddress: string | readonly string[];
  /** How the raw header section ends; 'truncated' when it breaks off mid-line. */
  headerSection?: HeaderSectionEnd;
  /** The decoded text body (plain-text bounces are only recognisable by it). */
  text?: string;
}

/**
 * Fields at least one of which every real message carries (RFC 5322, RFC 2045). Trace fields
 * (Return-Path, Received, Delivered-To) do not count: the delivering server adds them to
 * whatever it delivers, junk included.
 */
const MESSAGE_FIELDS = [
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
];

export function assessInbound(m: InboundFacts): InboundVerdict {
  if (m.headers.size === 0)
    return { kind: 'quarantine', reason: 'no header block: not an email message' };
  if (!MESSAGE_FIELDS.some((name) => m.headers.has(name))) {
    // Binary junk parses into "fields" too (whatever precedes a colon); without a single
    // field a message has, it is not mail: there is nothing to open an incident about.
    return { kind: 'quarantine', reason: 'no message header field: not an email message' };
  }
  if (m.headerSection === 'truncated') {
    // What is there parses, but the message stops in the middle of its header section.
    return {
      kind: 'quarantine',
      reason:
        'truncated message: the header block is never terminated and its last line is cut off',
    };
  }
  if (isDeliveryReport(m.contentType)) return { kind: 'delivery-report' };
  // No usable sender anywhere is no reason to lose what a customer wrote: the message opens
  // an incident with no reply address (and is never acknowledged).
  const sender = chooseSender(m.headers);
  if (sender && [m.supportAddress].flat().some((a) => normalizeAddress(a) === sender.address)) {
    // Our own mail coming back (a forwarding loop or a copy to ourselves): record, never answer.
    return { kind: 'own-mail', reason: 'sent from the support address itself' };
  }
  const automatic = detectAutomatic(m.headers, sender?.address);
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
