import { createHmac, timingSafeEqual } from 'node:crypto';

import { normalizeAddress } from './address.js';

/**
 * Threading tokens: every outgoing Message-ID and Reply-To plus-address names
 * the incident and carries an HMAC of the server secret, so a reply threads
 * back to the right incident and a forged reference is refused.
 *
 * Two formats are read:
 *  - issued (current, 19 chars): a role letter (`a` agent, `c` customer), 8 chars of
 *    HMAC(`thread:n`) that let any holder thread mail to incident n, and 10 chars of
 *    HMAC(`issued:n:role:address`) that say to whom the token was given. Only the second
 *    part can authorise an agent's commands, and only for the address it was issued to.
 *  - legacy (10 chars, HMAC(`incident:n`)): what was sent before tokens were bound to their
 *    recipient. It still threads mail to its incident but never authorises a command.
 */

const TOKEN_LENGTH = 10;
const THREAD_PART = 8;
const ISSUED_PART = 10;
/** Length of an issued token: role letter + thread part + issued part. */
export const ISSUED_TOKEN_LENGTH = 1 + THREAD_PART + ISSUED_PART;
const TOKEN_PATTERN = `[a-z2-7]{${TOKEN_LENGTH}}|[ac][a-z2-7]{${THREAD_PART + ISSUED_PART}}`;
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

const mac = (secret: string, text: string) =>
  base32(createHmac('sha256', secret).update(text).digest());

/**
 * The legacy per-incident token: first 10 base32 chars (50 bits) of
 * HMAC-SHA256(secret, `incident:${n}`). No longer issued; read so that replies to mail sent
 * before recipient-bound tokens still thread.
 */
export function incidentToken(secret: string, incidentNumber: number): string {
  assertIncidentNumber(incidentNumber);
  const mac = createHmac('sha256', secret).update(`incident:${incidentNumber}`).digest();
  return base32(mac).slice(0, TOKEN_LENGTH);
}

export type TokenRole = 'customer' | 'agent';
/** Who a token is given to: the recipient's address and what they are to the incident. */
export interface TokenRecipient {
  address: string;
  role: TokenRole;
}
const ROLE_LETTER: Record<TokenRole, string> = { agent: 'a', customer: 'c' };

/**
 * The token for mail to `recipient` about incident n (19 chars, see the top of this file).
 * The address is normalised first, so `Bob <BOB@Example.test>` and `bob@example.test` get one.
 */
export function issuedToken(secret: string, n: number, recipient: TokenRecipient): string {
  assertIncidentNumber(n);
  const address = normalizeAddress(recipient.address);
  if (!address) throw new TypeError(`not an e-mail address: ${JSON.stringify(recipient.address)}`);
  return (
    ROLE_LETTER[recipient.role] +
    mac(secret, `thread:${n}`).slice(0, THREAD_PART) +
    mac(secret, `issued:${n}:${recipient.role}:${address}`).slice(0, ISSUED_PART)
  );
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Constant-time check that a presented token threads to incident n, in either format. */
function tokenMatches(secret: string, n: number, presented: string): boolean {
  const given = presented.toLowerCase();
  if (given.length === TOKEN_LENGTH) return same(given, incidentToken(secret, n));
  if (given.length !== ISSUED_TOKEN_LENGTH) return false;
  return same(given.slice(1, 1 + THREAD_PART), mac(secret, `thread:${n}`).slice(0, THREAD_PART));
}

/** A token found in a message that threads it to its incident. */
export interface PresentedToken {
  incidentNumber: number;
  token: string;
  source: 'message-id' | 'plus-address';
}

/** What a presented token says about the sender, for incident n. */
export type TokenEvidence =
  /** No token of ours for this incident at all. */
  | 'none'
  /** Only legacy tokens: they thread, but were issued to nobody in particular. */
  | 'legacy'
  /** A current token, but issued to someone else (or to this address as a customer). */
  | 'issued-to-other'
  /** A current token issued to exactly this address as an agent. */
  | 'issued-to-sender';

/**
 * The strongest evidence among `tokens` (already checked to thread) for incident n and this
 * sender acting as an agent. Constant-time per token.
 */
export function tokenEvidence(
  secret: string,
  n: number,
  tokens: readonly PresentedToken[],
  sender: string,
): TokenEvidence {
  const address = normalizeAddress(sender);
  const mine = address ? issuedToken(secret, n, { address, role: 'agent' }) : null;
  let best: TokenEvidence = 'none';
  for (const t of tokens) {
    if (t.incidentNumber !== n) continue;
    const token = t.token.toLowerCase();
    if (token.length === TOKEN_LENGTH) {
      if (best === 'none') best = 'legacy';
    } else if (mine !== null && same(token, mine)) {
      return 'issued-to-sender';
    } else {
      best = 'issued-to-other';
    }
  }
  return best;
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

/**
 * `<INC-000123.${uniquePart}.${token}@${domain}>` for mail to `recipient`; uniquePart must
 * match [a-z0-9-]+.
 */
export function outboundMessageId(
  secret: string,
  n: number,
  uniquePart: string,
  domain: string,
  recipient: TokenRecipient,
): string {
  return messageIdWith(issuedToken(secret, n, recipient), n, uniquePart, domain);
}

/** A Message-ID in the legacy format (tests and history; no longer sent). */
export function legacyMessageId(
  secret: string,
  n: number,
  uniquePart: string,
  domain: string,
): string {
  return messageIdWith(incidentToken(secret, n), n, uniquePart, domain);
}

function messageIdWith(token: string, n: number, uniquePart: string, domain: string): string {
  if (!UNIQUE_PART.test(uniquePart)) {
    throw new TypeError(`uniquePart must match [a-z0-9-]+, got ${JSON.stringify(uniquePart)}`);
  }
  if (!DOMAIN.test(domain)) {
    throw new TypeError(`domain is not a host name: ${JSON.stringify(domain)}`);
  }
  return `<${formatIncidentId(n)}.${uniquePart}.${token}@${domain}>`;
}

const OUR_MESSAGE_ID = new RegExp(`^INC-(\\d+)\\.[a-z0-9-]+\\.(${TOKEN_PATTERN})@[^\\s@<>]+$`, 'i');

/**
 * The incident named by the first of `ids` that is one of our Message-IDs with
 * a valid token, else null. Ids may carry angle brackets; an entry holding
 * several ids (a raw References value) is split on whitespace and commas.
 */
export function incidentFromMessageIds(secret: string, ids: readonly string[]): number | null {
  return tokensFromMessageIds(secret, ids)[0]?.incidentNumber ?? null;
}

/** Every valid token of ours in `ids`, in order (see incidentFromMessageIds). */
export function tokensFromMessageIds(secret: string, ids: readonly string[]): PresentedToken[] {
  const found: PresentedToken[] = [];
  for (const entry of ids) {
    for (const piece of entry.split(/[\s,]+/)) {
      const id = piece.replace(/^<|>$/g, '');
      const m = OUR_MESSAGE_ID.exec(id);
      if (!m) continue;
      const n = toNumber(m[1] as string);
      const token = m[2] as string;
      if (n !== null && tokenMatches(secret, n, token))
        found.push({ incidentNumber: n, token, source: 'message-id' });
    }
  }
  return found;
}

function splitAddress(address: string): { local: string; domain: string } {
  const a = address.trim().replace(/^<|>$/g, '').trim();
  const at = a.lastIndexOf('@');
  if (at <= 0 || at === a.length - 1) {
    throw new TypeError(`not an e-mail address: ${JSON.stringify(address)}`);
  }
  return { local: a.slice(0, at), domain: a.slice(at + 1) };
}

/** "support@example.test" → "support+INC-000123.<token issued to recipient>@example.test". */
export function plusAddress(
  supportAddress: string,
  secret: string,
  n: number,
  recipient: TokenRecipient,
): string {
  return plusAddressWith(supportAddress, n, issuedToken(secret, n, recipient));
}

/** A plus-address in the legacy format (tests and history; no longer sent). */
export function legacyPlusAddress(supportAddress: string, secret: string, n: number): string {
  return plusAddressWith(supportAddress, n, incidentToken(secret, n));
}

function plusAddressWith(supportAddress: string, n: number, token: string): string {
  const { local, domain } = splitAddress(supportAddress);
  return `${local}+${formatIncidentId(n)}.${token}@${domain}`;
}

const PLUS_TAG = new RegExp(`^INC-(\\d+)\\.(${TOKEN_PATTERN})$`, 'i');

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
  return tokensFromRecipients(supportAddress, secret, recipients)[0]?.incidentNumber ?? null;
}

/** Every valid token of ours among the recipients' plus-addresses, in order. */
export function tokensFromRecipients(
  supportAddress: string,
  secret: string,
  recipients: readonly string[],
): PresentedToken[] {
  const found: PresentedToken[] = [];
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
    const token = m[2] as string;
    if (n !== null && tokenMatches(secret, n, token))
      found.push({ incidentNumber: n, token, source: 'plus-address' });
  }
  return found;
}

const SUBJECT_TAG = /\[INC-(\d+)\]/i;

/** The incident named by the first `[INC-000123]` tag (brackets required) in a subject. */
export function subjectIncident(subject: string): number | null {
  const m = SUBJECT_TAG.exec(subject);
  return m ? toNumber(m[1] as string) : null;
}
