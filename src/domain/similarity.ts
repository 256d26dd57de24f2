/**
 * Subject similarity, for spotting duplicates (one customer reporting the same thing twice)
 * and outages (several customers reporting the same thing at once). Pure and cheap: it runs
 * on every triaged incident against the few open incidents of a short window.
 */

/** Reply/forward prefixes mail clients add, in the languages we meet most. */
const PREFIX = /^\s*(?:re|fwd?|fw|aw|wg|sv|vs|tr|antw)\s*(?:\[\d+\])?\s*:\s*/i;
/** Bracketed tags anywhere: [INC-000012], [EXTERNAL], [SPAM?]. */
const TAG = /\[[^\]]*\]/g;

/** Words that say nothing about what broke; without them "the VPN is down" ≈ "VPN down". */
const STOPWORDS = new Set([
  'a',
  'an',
  'and',
  'are',
  'at',
  'for',
  'from',
  'in',
  'is',
  'it',
  'of',
  'on',
  'our',
  'the',
  'to',
  'we',
  'with',
]);

/** Lower case, without reply prefixes, bracket tags and punctuation, whitespace collapsed. */
export function normaliseSubject(subject: string): string {
  let s = subject.replace(TAG, ' ');
  for (let prev = ''; prev !== s;) {
    prev = s;
    s = s.replace(PREFIX, '');
  }
  return s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The distinct meaningful words of a subject. */
export function subjectTokens(subject: string): Set<string> {
  return new Set(
    normaliseSubject(subject)
      .split(' ')
      .filter((w) => w.length > 0 && !STOPWORDS.has(w)),
  );
}

/**
 * Token-set similarity in [0, 1]: the mean of Jaccard (shared / all words) and overlap
 * (shared / words of the shorter subject). Jaccard alone punishes a longer rewording of the
 * same problem ("VPN down" vs "VPN down for the whole office"); overlap alone calls any
 * one-word subject contained in another a match. Subjects without words match nothing.
 */
export function subjectSimilarity(a: string, b: string): number {
  const ta = subjectTokens(a);
  const tb = subjectTokens(b);
  if (ta.size === 0 || tb.size === 0) return 0;
  let shared = 0;
  for (const w of ta) if (tb.has(w)) shared++;
  const jaccard = shared / (ta.size + tb.size - shared);
  const overlap = shared / Math.min(ta.size, tb.size);
  return (jaccard + overlap) / 2;
}

export interface SimilarityCandidate {
  number: number;
  subject: string;
  customer: string;
}

/**
 * Likely duplicates of a new incident: open incidents of the SAME customer (address, case
 * insensitive) whose subject is at least `threshold` similar, most similar first.
 */
export function likelyDuplicates(
  incident: SimilarityCandidate,
  open: readonly SimilarityCandidate[],
  threshold: number,
): number[] {
  const who = incident.customer.toLowerCase();
  return open
    .filter((o) => o.number !== incident.number && o.customer.toLowerCase() === who)
    .map((o) => ({ n: o.number, s: subjectSimilarity(incident.subject, o.subject) }))
    .filter((x) => x.s >= threshold)
    .sort((x, y) => y.s - x.s || x.n - y.n)
    .map((x) => x.n);
}

/**
 * A possible outage: the new incident plus the open incidents of OTHER customers with a
 * similar subject, when together they come from at least `minCustomers` distinct customers.
 * Returns the incident numbers of the cluster (ascending), or null.
 */
export function possibleOutage(
  incident: SimilarityCandidate,
  recent: readonly SimilarityCandidate[],
  threshold: number,
  minCustomers: number,
): number[] | null {
  const similar = recent.filter(
    (o) =>
      o.number !== incident.number &&
      o.customer.toLowerCase() !== incident.customer.toLowerCase() &&
      subjectSimilarity(incident.subject, o.subject) >= threshold,
  );
  const customers = new Set([incident, ...similar].map((o) => o.customer.toLowerCase()));
  if (customers.size < minCustomers) return null;
  return [incident.number, ...similar.map((o) => o.number)].sort((a, b) => a - b);
}
