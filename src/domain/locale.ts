/**
 * The language a customer is written to in: their plan record's, else what their first
 * message says it is written in (Content-Language) or would like to read (Accept-Language),
 * else the default: the locale of the mailbox it wrote to, else the plan's. Chosen once, when the incident is opened.
 */
import { first, type HeaderBag } from './headers.js';

/** A language tag as RFC 5646 writes them, loosely: `de`, `de-AT`, `zh-Hant-TW`. */
export const LANGUAGE_TAG = /^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$/i;

/**
 * The languages a message names, best first: Content-Language (in its order), then
 * Accept-Language and X-Accept-Language by descending q (ties keep their order).
 */
export function messageLanguages(headers: HeaderBag): string[] {
  const content = (first(headers, 'content-language') ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => LANGUAGE_TAG.test(t));
  const accept = ['accept-language', 'x-accept-language']
    .flatMap((name) => (first(headers, name) ?? '').split(','))
    .map((item, order) => {
      const [tag = '', ...params] = item.split(';').map((p) => p.trim());
      const q = params.map((p) => /^q=([0-9.]+)$/i.exec(p)).find(Boolean);
      return { tag, q: q ? Number(q[1]) : 1, order };
    })
    .filter((a) => LANGUAGE_TAG.test(a.tag) && a.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order)
    .map((a) => a.tag);
  return [...content, ...accept];
}

/**
 * The customer's locale: their plan record's as it is (the plan decided; a locale without
 * templates falls back template by template), else the first language of their message that
 * `available` serves, `de-AT` matching `de`; else `fallback`.
 */
export function chooseLocale(
  wanted: { customer?: string; message: readonly string[] },
  available: readonly string[],
  fallback: string,
): string {
  if (wanted.customer) return wanted.customer;
  const served = new Map(available.map((l) => [l.toLowerCase(), l] as const));
  for (const tag of wanted.message) {
    const lower = tag.toLowerCase();
    const hit = served.get(lower) ?? served.get(lower.split('-')[0]!);
    if (hit) return hit;
  }
  return fallback;
}
