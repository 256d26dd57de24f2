/** Known errors: an underlying cause, its workaround and permanent fix, and the incidents it explains. */

export const KNOWN_ERROR_STATUSES = ['open', 'fixed'] as const;
export type KnownErrorStatus = (typeof KNOWN_ERROR_STATUSES)[number];

/** KE-0007 (at least four digits). */
export function formatKnownErrorId(n: number): string {
  return `KE-${String(n).padStart(4, '0')}`;
}

/** Accepts KE-0007, ke-7 and 7; null for anything else. */
export function parseKnownErrorId(text: string): number | null {
  const m = /^(?:ke-?)?0*(\d{1,9})$/i.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 ? n : null;
}
