import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Threading tokens: every outgoing Message-ID and Reply-To plus-address names
 * the incident and carries an HMAC of the server secret, so a reply threads
 * back to the right incident and a forged reference is refused.
 */

const TOKEN_LENGTH = 10;
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const MAX_DIGITS = 15;
const UNIQUE_PART = /^[a-z0-9-]+$/;
const DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

function assertIncidentNumber(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`incident number must be a non-negative integer, got ${n}`);
  }
}

/** RFC 4648 base32, lower-case, no padding. */
function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** First 10 base32 chars (50 bits) of HMAC-SHA256(secret, `incident:${n}`). */
export function incidentToken(secret: string, incidentNumber: number): string {
  assertIncidentNumber(incidentNumber);
  const mac = createHmac('sha256', secret).update(`incident:${incidentNumber}`).digest();
  return base32(mac).slice(0, TOKEN_LENGTH);
}

/** Constant-time check of a presented token (case-insensitive: base32 has one case). */
function tokenMatches(secret: string, n: number, presented: string): boolean {
  const expected = Buffer.from(incidentToken(secret, n), 'utf8');
  const given = Buffer.from(presented.toLowerCase(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** 123 → "INC-000123"; at least 6 digits, more when needed. */
export function formatIncidentId(n: number): string {
  assertIncidentNumber(n);
  return `INC-${String(n).padStart(6, '0')}`;
}

function toNumber(digits: string): number | null {
  if (digits.length > MAX_DIGITS) return null;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : null;
}

/** "INC-000123", "inc-123" → 123; anything else → null. */
export function parseIncidentId(s: string): number | null {
  const m = /^INC-(\d+)$/i.exec(s.trim());
  return m ? toNumber(m[1] as string) : null;
}

/**
 * What a person types on the command line: also a bare number ("123"). Not for mail, where a
 * bare number in `#merge 42` is more likely a typo than an incident.
 */
export function parseIncidentArgument(s: string): number | null {
  const digits = /^\d+$/.exec(s.trim());
  return digits ? toNumber(digits[0]) : parseIncidentId(s);
}

/** `<INC-000123.${uniquePart}.${token}@${domain}>`; uniquePart must match [a-z0-9-]+. */
export function outboundMessageId(
  secret: string,
  n: number,
  uniquePart: string,
  domain: string,
): string {
  if (!UNIQUE_PART.test(uniquePart)) {
    throw new TypeError(`uniquePart must match [a-z0-9-]+, got ${JSON.stringify(uniquePart)}`);
  }
  if (!DOMAIN.test(domain)) {
    throw new TypeError(`domain is not a host name: ${JSON.stringify(domain)}`);
  }
  return `<${formatIncidentId(n)}.${uniquePart}.${incidentToken(secret, n)}@${domain}>`;
}

const OUR_MESSAGE_ID = /^INC-(\d+)\.[a-z0-9-]+\.([a-z2-7]{10})@[^\s@<>]+$/i;

/**
 * The incident named by the first of `ids` that is one of our Message-IDs with
 * a valid token, else null. Ids may carry angle brackets; an entry holding
 * several ids (a raw References value) is split on whitespace and commas.
 */
export function incidentFromMessageIds(secret: string, ids: readonly string[]): number | null {
  for (const entry of ids) {
    for (const piece of entry.split(/[\s,]+/)) {
      const id = piece.replace(/^<|>$/g, '');
      const m = OUR_MESSAGE_ID.exec(id);
      if (!m) continue;
      const n = toNumber(m[1] as string);
      if (n !== null && tokenMatches(secret, n, m[2] as string)) return n;
    }
  }
  return null;
}

function splitAddress(address: string): { local: string; domain: string } {
  const a = address.trim().replace(/^<|>$/g, '').trim();
  const at = a.lastIndexOf('@');
  if (at <= 0 || at === a.length - 1) {
    throw new TypeError(`not an e-mail address: ${JSON.stringify(address)}`);
  }
  return { local: a.slice(0, at), domain: a.slice(at + 1) };
}

/** "support@example.test" → "support+INC-000123.<token>@example.test". */
export function plusAddress(supportAddress: string, secret: string, n: number): string {
  const { local, domain } = splitAddress(supportAddress);
  return `${local}+${formatIncidentId(n)}.${incidentToken(secret, n)}@${domain}`;
}

const PLUS_TAG = /^INC-(\d+)\.([a-z2-7]{10})$/i;

/**
 * The incident named by any recipient that is the support mailbox's
 * plus-address with a valid token (local part and domain compared
 * case-insensitively), else null.
 */
export function incidentFromRecipients(
  supportAddress: string,
  secret: string,
  recipients: readonly string[],
): number | null {
  const support = splitAddress(supportAddress);
  const prefix = `${support.local.toLowerCase()}+`;
  const domain = support.domain.toLowerCase();
  for (const recipient of recipients) {
    let r = recipient.trim();
    const bracketed = /<([^<>]*)>\s*$/.exec(r);
    if (bracketed) r = bracketed[1] ?? '';
    const at = r.lastIndexOf('@');
    if (at <= 0) continue;
    const local = r.slice(0, at);
    if (r.slice(at + 1).toLowerCase() !== domain) continue;
    if (!local.toLowerCase().startsWith(prefix)) continue;
    const m = PLUS_TAG.exec(local.slice(prefix.length));
    if (!m) continue;
    const n = toNumber(m[1] as string);
    if (n !== null && tokenMatches(secret, n, m[2] as string)) return n;
  }
  return null;
}

const SUBJECT_TAG = /\[INC-(\d+)\]/i;

/** The incident named by the first `[INC-000123]` tag (brackets required) in a subject. */
export function subjectIncident(subject: string): number | null {
  const m = SUBJECT_TAG.exec(subject);
  return m ? toNumber(m[1] as string) : null;
}

/**
 * Ensures the subject carries exactly one `[INC-000123]` tag for incident n.
 * An existing tag for n (any case or zero padding) is kept in place and
 * canonicalised, duplicates removed; otherwise the tag is prefixed. "Re:" and
 * the like are kept as they are. Empty subjects become "(no subject)".
 */
export function tagSubject(subject: string, n: number): string {
  const tag = formatIncidentId(n);
  const placeholder = '\u0000';
  let placed = false;
  const replaced = subject.replace(/\[INC-(\d+)\]/gi, (whole, digits: string) => {
    if (toNumber(digits) !== n) return whole;
    if (placed) return '';
    placed = true;
    return placeholder;
  });
  const collapsed = replaced.replace(/\s+/g, ' ').trim();
  const rest = collapsed.replace(placeholder, '').trim();
  if (!rest) return `[${tag}] (no subject)`;
  if (!placed) return `[${tag}] ${collapsed}`;
  return collapsed.replace(placeholder, `[${tag}]`);
}
