/**
 * What the intake writes about a message besides the message itself, decided without I/O:
 * the customer's display name, and the notes that say what the intake had to repair.
 */
import type { LegacyDecoding } from './header-charset.js';
import type { SenderChoice } from './sender.js';

interface NamedAddress {
  address: string;
  name?: string;
}

/** The display name that goes with the chosen address (none when it came from elsewhere). */
export function customerName(
  from: readonly NamedAddress[],
  replyTo: readonly NamedAddress[],
  choice: SenderChoice | null,
): string | undefined {
  if (!choice) return from.find((m) => m.name)?.name;
  return [...from, ...replyTo].find((m) => m.address === choice.address)?.name;
}

/** A header read from a legacy charset, with its bytes (kept so nothing is lost). */
export interface LegacyHeaderNote extends LegacyDecoding {
  field: string;
  raw: Buffer;
}

export interface IntakeNote {
  _id: string;
  at: Date;
  type: 'event';
  event: 'sender-fallback' | 'no-reply-address' | 'legacy-charset';
  rawId: string;
  detail: Record<string, unknown>;
}

/**
 * What the intake had to repair, as timeline entries: a sender taken from somewhere other than
 * the (first) From header, or none at all; headers read from a legacy charset, with their bytes.
 * Their ids derive from the raw message, so a retry writes each once.
 */
export function intakeNotes(
  rawId: string,
  at: Date,
  choice: SenderChoice | null,
  legacyHeaders: readonly LegacyHeaderNote[],
): IntakeNote[] {
  const notes: IntakeNote[] = [];
  if (!choice || choice.source !== 'from' || choice.index > 0) {
    notes.push({
      _id: `sender-${rawId}`,
      at,
      type: 'event',
      event: choice ? 'sender-fallback' : 'no-reply-address',
      rawId,
      detail: choice
        ? { address: choice.address, source: choice.source, reason: choice.reason }
        : { reason: 'no usable address in From, Reply-To, Sender or Return-Path' },
    });
  }
  if (legacyHeaders.length > 0) {
    notes.push({
      _id: `legacy-charset-${rawId}`,
      at,
      type: 'event',
      event: 'legacy-charset',
      rawId,
      detail: {
        headers: legacyHeaders.map((h) => ({
          field: h.field,
          charset: h.charset,
          via: h.via,
          text: h.text,
          raw: h.raw.toString('base64'),
        })),
      },
    });
  }
  return notes;
}
