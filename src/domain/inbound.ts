/**
 * The first decision about an inbound message: can it be used at all, and is it a person, a
 * robot or a delivery report? Pure: the caller has parsed the message already.
 */
import { isValidAddress, normalizeAddress } from './address.js';
import { detectAutomatic, type AutomaticKind } from './automail.js';
import { isDeliveryReport } from './bounce.js';
import type { HeaderBag } from './headers.js';

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
}

export function assessInbound(m: InboundFacts): InboundVerdict {
  if (m.headers.size === 0) return { kind: 'quarantine', reason: 'no header block: not an email message' };
  if (isDeliveryReport(m.contentType)) return { kind: 'delivery-report' };
  const from = m.from[0]?.address;
  if (!from) return { kind: 'quarantine', reason: 'no sender: the From header is missing or has no address' };
  const sender = normalizeAddress(from);
  if (!isValidAddress(sender)) {
    return { kind: 'quarantine', reason: `unusable sender address "${from.slice(0, 200)}"` };
  }
  if (sender === normalizeAddress(m.supportAddress)) {
    // Our own mail coming back (a forwarding loop or a copy to ourselves): record, never answer.
    return { kind: 'own-mail', reason: 'sent from the support address itself' };
  }
  return { kind: 'message', sender, automatic: detectAutomatic(m.headers, sender) };
}
