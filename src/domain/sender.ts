/**
 * Who to answer: the first usable address in the message's sender headers, read leniently.
 * Real mail arrives with no From, two From headers, `From: "我" <>`, a trailing dot after the
 * domain or a display name with broken quotes; the person behind it still deserves to be
 * heard. Pure: header values in, a choice (and why) out.
 */
import { isUtf8 } from 'node:buffer';
import { isValidAddress } from './address.js';
import type { HeaderBag } from './headers.js';

/** The header a sender was taken from, in the order they are tried. */
export type SenderSource = 'from' | 'reply-to' | 'sender' | 'return-path';

export interface SenderChoice {
  address: string;
  source: SenderSource;
  /** Which value of that header (0 = the first From header, 1 = the second, …). */
  index: number;
  /** Why this one, for the timeline. */
  reason: string;
}

/** The customer of an incident opened by a message with no usable sender at all. */
export const NO_REPLY_ADDRESS = 'no reply address';

const SOURCES: readonly { source: SenderSource; header: string; name: string }[] = [
  { source: 'from', header: 'from', name: 'From' },
  { source: 'reply-to', header: 'reply-to', name: 'Reply-To' },
  { source: 'sender', header: 'sender', name: 'Sender' },
  { source: 'return-path', header: 'return-path', name: 'Return-Path (envelope sender)' },
];

/** `<addr>` in a header value; empty brackets (`<>`) count as "no address here". */
const BRACKETED = /<\s*([^<>]*?)\s*>/g;
/** Something shaped like an address, anywhere in the value (last resort). */
const BARE = /[^\s<>()"',;:[\]]+@[^\s<>()"',;:[\]]+/g;

/**
 * Repairs the small damage real senders do to an address: surrounding quotes or brackets,
 * a `mailto:` prefix, trailing dots (`claudia.shu@yahoo.com.`), upper case.
 */
export function cleanAddress(candidate: string): string {
  return candidate
    .trim()
    .replace(/^mailto:/i, '')
    .replace(/^["'<(]+|["'>),;]+$/g, '')
    .replace(/\.+$/, '')
    .toLowerCase();
}

/**
 * The usable addresses in one header value, in order. Bracketed addresses first: they are
 * what the sender meant even when the display name's quoting is broken, and a display name
 * may itself contain something that looks like an address. Otherwise any address-shaped word.
 */
export function addressesIn(value: string): string[] {
  const withoutComments = value.replace(/\([^()]*\)/g, ' ');
  const bracketed = [...withoutComments.matchAll(BRACKETED)].map((m) => cleanAddress(m[1] ?? ''));
  const fromBrackets = bracketed.filter(isValidAddress);
  if (fromBrackets.length > 0) return fromBrackets;
  return [...withoutComments.matchAll(BARE)].map((m) => cleanAddress(m[0])).filter(isValidAddress);
}

function ordinal(index: number): string {
  return ['first', 'second', 'third'][index] ?? `${index + 1}th`;
}

/** Header values are kept as raw bytes (latin1); an address in UTF-8 is read as UTF-8. */
function asText(value: string): string {
  const bytes = Buffer.from(value, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : value;
}

/**
 * The first usable address in From (every From header), then Reply-To, Sender and the
 * envelope's Return-Path; null when there is none anywhere.
 */
export function chooseSender(headers: HeaderBag): SenderChoice | null {
  const skipped: string[] = [];
  for (const { source, header, name } of SOURCES) {
    const values = headers.get(header) ?? [];
    const label = (i: number) => (values.length > 1 ? `the ${ordinal(i)} ${name} header` : name);
    for (const [index, value] of values.entries()) {
      const address = addressesIn(asText(value))[0];
      if (!address) {
        skipped.push(`${label(index)} has no usable address`);
        continue;
      }
      const reason =
        skipped.length === 0
          ? `${label(index)} holds a usable address`
          : `${skipped.join('; ')}; took ${label(index)}`;
      return { address, source, index, reason };
    }
    if (values.length === 0) skipped.push(`no ${name} header`);
  }
  return null;
}
