/**
 * Full-text search, the pure part: tokenising, light stemming, per-document term weights
 * (BM25's saturated term frequency, with subject and cause fields counting more), the idf of
 * a term, ranking, and the compact binary form of a postings list.
 *
 * The index itself (src/store/search-index.ts) is ours, not the server's: `$text` differs
 * between MongoDB editions and stand-ins, and regular-expression scans read every document.
 */

/** Words too common to tell documents apart (English, plus the usual mail pleasantries). */
const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have he her his ' +
    'how i if in into is it its just me my no not of on or our please she so some than that ' +
    'the their them then there these they this those to too us was we were what when where ' +
    'which who why will with would you your yours hi hello dear thanks thank regards best ' +
    'kind cheers re fw fwd am any all also get got out up about after again still'
  ).split(' '),
);

const MIN_TOKEN_CHARS = 2;
const MAX_TOKEN_CHARS = 40;

/** Lower case, without accents: "Café" and "cafe" are one term. */
export function normalise(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
}

/**
 * Stemming-lite: enough to make "failed", "failing", "fails" and "failure"-free plurals meet,
 * without a dictionary. Deliberately conservative: a wrong merge hurts ranking more than a
 * missed one.
 */
export function stem(word: string): string {
  if (/\d/.test(word) || word.length <= 3) return word;
  let w = word;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('ing') && w.length - 3 >= 3) w = w.slice(0, -3);
  else if (w.endsWith('ed') && w.length - 2 >= 3) w = w.slice(0, -2);
  else if (w.endsWith('ly') && w.length - 2 >= 4) w = w.slice(0, -2);
  // "running" → "runn" → "run"; but keep "ll", "ss", "zz" ("install", "access").
  if (/([^aeiouylsz])\1$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('e') && w.length > 4) w = w.slice(0, -1);
  return w;
}

/** The terms of a text, in order, repeats kept (term frequency counts them). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of normalise(text).matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = m[0];
    if (word.length < MIN_TOKEN_CHARS || word.length > MAX_TOKEN_CHARS) continue;
    if (STOPWORDS.has(word)) continue;
    out.push(stem(word));
  }
  return out;
}

/** What is indexed about an incident or a known error, field by field. */
export interface SearchFields {
  subject?: string;
  /** Message texts (customer and agent mail), in timeline order. */
  bodies?: readonly string[];
  cause?: string;
  fix?: string;
  workaround?: string;
}

/** How much one occurrence in each field counts: the subject and the cause say what it is about. */
export const FIELD_WEIGHTS: Readonly<Record<keyof SearchFields, number>> = {
  subject: 3,
  cause: 2.5,
  workaround: 2,
  fix: 2,
  bodies: 1,
};

/** BM25 parameters; lengths are normalised against a fixed reference (see termWeights). */
const K1 = 1.2;
const B = 0.75;
export const REFERENCE_LENGTH = 80;
/** At most this many terms per document (the heaviest): bounds index writes per update. */
export const MAX_TERMS_PER_DOC = 400;
/** Each field is indexed up to this many characters: a pasted log must not swamp the index. */
export const MAX_FIELD_CHARS = 20_000;

/**
 * Term weights of one document: field-weighted frequency, saturated and length-normalised
 * as BM25 does. The length is compared with a fixed reference instead of the live average,
 * so a weight never changes after it is written (incremental updates stay local); rounded to
 * float32, the precision the postings store.
 */
export function termWeights(fields: SearchFields): Map<string, number> {
  const freq = new Map<string, number>();
  let length = 0;
  const add = (text: string | undefined, weight: number) => {
    if (!text) return;
    for (const term of tokenize(text.slice(0, MAX_FIELD_CHARS))) {
      freq.set(term, (freq.get(term) ?? 0) + weight);
      length++;
    }
  };
  add(fields.subject, FIELD_WEIGHTS.subject);
  for (const body of fields.bodies ?? []) add(body, FIELD_WEIGHTS.bodies);
  add(fields.cause, FIELD_WEIGHTS.cause);
  add(fields.fix, FIELD_WEIGHTS.fix);
  add(fields.workaround, FIELD_WEIGHTS.workaround);
  const norm = K1 * (1 - B + (B * length) / REFERENCE_LENGTH);
  const weights = [...freq].map(
    ([term, f]) => [term, Math.fround((f * (K1 + 1)) / (f + norm))] as const,
  );
  weights.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return new Map(weights.slice(0, MAX_TERMS_PER_DOC));
}

/** BM25's idf: rare terms count, a term in most documents counts almost nothing. */
export function idf(docFreq: number, totalDocs: number): number {
  const n = Math.max(totalDocs, docFreq);
  return Math.log(1 + (n - docFreq + 0.5) / (docFreq + 0.5));
}

/** The postings of one query term: document ids and their weights for the term. */
export interface TermPostings {
  term: string;
  ids: ArrayLike<number>;
  weights: ArrayLike<number>;
  /** How many documents hold the term, when `ids` are only its highest-impact postings. */
  docFreq?: number;
}

const docFreqOf = (p: TermPostings) => p.docFreq ?? p.ids.length;

export interface Hit {
  id: number;
  score: number;
  /** How many distinct query terms the document contains. */
  matched: number;
}

/**
 * Rank documents for a query: the sum over query terms of idf × weight. Equal scores go to
 * the newer document (ids grow with time; known errors, negative ids, sort by their own
 * number the same way).
 */
export function rank(postings: readonly TermPostings[], totalDocs: number, limit: number): Hit[] {
  const hits = new Map<number, Hit>();
  for (const p of postings) {
    const termIdf = idf(docFreqOf(p), totalDocs);
    for (let i = 0; i < p.ids.length; i++) {
      const id = p.ids[i] as number;
      const hit = hits.get(id);
      const add = termIdf * (p.weights[i] as number);
      if (hit) {
        hit.score += add;
        hit.matched++;
      } else hits.set(id, { id, score: add, matched: 1 });
    }
  }
  return [...hits.values()].sort(compareHits).slice(0, limit);
}

const recency = (id: number) => (id < 0 ? -id : id);

export function compareHits(a: Hit, b: Hit): number {
  return b.score - a.score || recency(b.id) - recency(a.id) || a.id - b.id;
}

/** The best score a document could get for these query terms: the scale for "similar enough". */
export function idealScore(postings: readonly TermPostings[], totalDocs: number): number {
  return postings.reduce((sum, p) => sum + idf(docFreqOf(p), totalDocs) * (K1 + 1), 0);
}

/**
 * The query for "incidents like this one": its most telling terms (subject first), at most
 * `maxTerms`, so the lookup stays bounded whatever the customer wrote.
 */
export function similarityQuery(fields: SearchFields, maxTerms: number): string[] {
  return [...termWeights(fields).keys()].slice(0, maxTerms);
}

/** Distinct query terms, in the order given. */
export function queryTerms(query: string): string[] {
  return [...new Set(tokenize(query))];
}

/**
 * Postings are stored by impact: a term's chunks are numbered tier × TIER_CHUNKS + sequence,
 * the tier growing with the weight, so reading a term's chunks from the highest number down
 * reads its heaviest postings first. A query reads only the first few chunks of a term: for
 * a term in most documents that skips postings whose idf × weight adds next to nothing.
 */
export const IMPACT_TIERS = 16;
export const TIER_CHUNKS = 1_000_000;

/** The impact tier of a weight (weights lie in (0, k1 + 1)). */
export function impactTier(weight: number): number {
  return Math.min(IMPACT_TIERS - 1, Math.max(0, Math.floor((weight / (K1 + 1)) * IMPACT_TIERS)));
}

export const chunkNumber = (tier: number, sequence: number) => tier * TIER_CHUNKS + sequence;
export const tierOfChunk = (k: number) => Math.floor(k / TIER_CHUNKS);

/** Postings are stored packed: int32 id + float32 weight per document, little-endian. */
const POSTING_BYTES = 8;

export function encodePostings(ids: readonly number[], weights: readonly number[]): Buffer {
  const buf = Buffer.alloc(ids.length * POSTING_BYTES);
  for (let i = 0; i < ids.length; i++) {
    buf.writeInt32LE(ids[i] as number, i * POSTING_BYTES);
    buf.writeFloatLE(weights[i] as number, i * POSTING_BYTES + 4);
  }
  return buf;
}

export function decodePostings(buf: Uint8Array): { ids: number[]; weights: number[] } {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const ids: number[] = [];
  const weights: number[] = [];
  for (let off = 0; off + POSTING_BYTES <= view.length; off += POSTING_BYTES) {
    ids.push(view.readInt32LE(off));
    weights.push(view.readFloatLE(off + 4));
  }
  return { ids, weights };
}

/** Known errors share the id space with incidents as negative numbers: KE-0007 is -7. */
export const knownErrorDocId = (keNumber: number) => -keNumber;
