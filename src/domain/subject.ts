/**
 * Subject hygiene for every mail incidesk sends about an incident: exactly one tag, ours, in
 * front; at most one "Re:"; none of the reply and forward prefixes that mail clients stack up
 * (in many languages), and no other incident's tag, which a customer's old thread may carry.
 */
import { formatIncidentId } from './tokens.js';

/**
 * Reply and forward prefixes as mail clients write them: English Re/Fwd/FW, German AW/WG,
 * Scandinavian SV/VS, Dutch Antw, each with an optional counter (Re[2]:, Re^2:, Re(2):), and
 * full-width colons. A leading tag of any incident counts as a prefix too.
 */
const LEADING_PREFIX =
  /^(?:(?:re|aw|sv|vs|antw|fwd?|wg)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]|\[INC-\d+\])\s*/i;
const ANY_TAG = /\[INC-\d+\]/gi;

/** The subject without reply/forward prefixes and without any `[INC-…]` tag; spaces collapsed. */
export function cleanSubject(subject: string): string {
  let s = subject.replace(/\s+/g, ' ').trim();
  for (let prev = ''; prev !== s;) {
    prev = s;
    s = s.replace(LEADING_PREFIX, '');
  }
  return s.replace(ANY_TAG, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * The subject line of a mail about incident n: `[INC-000123] <prefix>: <subject>`, the subject
 * cleaned. Staff mail has no prefix, so all of a person's mail about an incident shares one
 * subject (mail clients group by it); customer mail says `Re` or `Resolved`.
 */
export function subjectLine(n: number, subject: string, prefix?: string): string {
  const clean = cleanSubject(subject) || '(no subject)';
  return `[${formatIncidentId(n)}] ${prefix ? `${prefix}: ` : ''}${clean}`;
}

export type SubjectPrefix = 'Re' | 'Resolved';

/** The prefix in the customer's language, as their own mail client would write it. */
const LOCAL_PREFIXES: Record<string, Record<SubjectPrefix, string>> = {
  de: { Re: 'AW', Resolved: 'Gelöst' },
};

export function localPrefix(prefix: SubjectPrefix, locale: string | undefined): string {
  return LOCAL_PREFIXES[locale?.split('-')[0] ?? '']?.[prefix] ?? prefix;
}
