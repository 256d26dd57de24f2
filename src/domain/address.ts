/**
 * Canonical form of an e-mail address for comparison and storage: trimmed,
 * lower-cased, angle brackets removed ("Name <a@b>" yields "a@b"). Plus parts
 * (`user+tag@…`) are kept: they are meaningful to us (threading tokens).
 */
export function normalizeAddress(a: string): string {
  let s = a.trim();
  const bracketed = /<([^<>]*)>\s*$/.exec(s);
  if (bracketed) s = bracketed[1] ?? '';
  return s.trim().toLowerCase();
}

/** The part after the last "@" as written (the whole string when there is none). */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

const MAX_ADDRESS_LENGTH = 254;
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\s\u0000-\u001f\u007f<>()[\]\\,;:"]/u;
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?$/u;

/**
 * Pragmatic validity check (not a full RFC 5321 parser): exactly one "@", a
 * non-empty local part, a domain that contains a dot or is `localhost`, no
 * whitespace, control or address-list special characters, at most 254 chars.
 */
export function isValidAddress(a: string): boolean {
  if (a.length === 0 || a.length > MAX_ADDRESS_LENGTH) return false;
  if (FORBIDDEN.test(a)) return false;
  const parts = a.split('@');
  if (parts.length !== 2) return false;
  const [local = '', domain = ''] = parts;
  if (!local || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  if (domain.toLowerCase() === 'localhost') return true;
  if (!domain.includes('.')) return false;
  return domain.split('.').every((label) => DOMAIN_LABEL.test(label));
}
