/** Rules for merging duplicates and grouping the reports of one outage. Pure. */
import type { Status } from './lifecycle.js';
import { formatIncidentId } from './tokens.js';

export interface LinkSide {
  number: number;
  status: Status;
  parent?: number | null;
  children?: readonly number[] | null;
  mergedInto?: number | null;
}

/**
 * Why `child` cannot be grouped under `parent`, or null when it can. One level only: a
 * parent is never itself a child, so resolving a parent reaches every report directly.
 */
export function groupingProblem(child: LinkSide, parent: LinkSide): string | null {
  const c = formatIncidentId(child.number);
  const p = formatIncidentId(parent.number);
  if (child.number === parent.number) return 'an incident cannot be its own parent';
  if (parent.mergedInto) return `${p} was merged into ${formatIncidentId(parent.mergedInto)}`;
  if (child.mergedInto) return `${c} was merged into ${formatIncidentId(child.mergedInto)}`;
  if (parent.parent) return `${p} is itself grouped under ${formatIncidentId(parent.parent)}`;
  if (child.children?.length)
    return `${c} is the parent of ${child.children.length} incident(s); it cannot become a child`;
  if (child.parent && child.parent !== parent.number)
    return `${c} is already grouped under ${formatIncidentId(child.parent)}`;
  for (const [id, s] of [
    [p, parent.status],
    [c, child.status],
  ] as const) {
    if (s === 'resolved' || s === 'closed') return `${id} is ${s}`;
  }
  return null;
}

/**
 * Why `merged` may not be merged into `target` as far as the post-incident review goes, or
 * null. Merging closes `merged` without its review; that is right only when the survivor
 * must be reviewed too, so an incident that needs a review goes only into one that does.
 */
export function mergeReviewProblem(
  merged: { number: number; priority?: string | null },
  target: { number: number; priority?: string | null },
  reviewRequiredFor: readonly string[],
): string | null {
  const needs = (p?: string | null) => !!p && reviewRequiredFor.includes(p);
  if (!needs(merged.priority) || needs(target.priority)) return null;
  const m = formatIncidentId(merged.number);
  const t = formatIncidentId(target.number);
  return `${m} is ${merged.priority} and needs a post-incident review, which ${t} (${target.priority ?? 'no priority'}) does not: merge ${t} into ${m}, or raise ${t}'s priority first`;
}

/**
 * Who is told that an outage is resolved: one notice per distinct reporter address, about
 * the first of the given incidents (in the order given: the parent first) they reported.
 */
export function reportersToNotify<T extends { number: number; address: string }>(
  incidents: readonly T[],
): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const i of incidents) {
    const key = i.address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(i);
  }
  return out;
}
