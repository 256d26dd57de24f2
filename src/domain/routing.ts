/** Routing: which group owns an incident, by the plan's first matching routing rule. */
import type { Priority, RoutingRules } from '../plan/schema.js';
import { domainMatches } from './classify.js';

function asList<T>(v: T | readonly T[] | undefined): readonly T[] {
  return v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

/**
 * The group of the first rule whose `when` holds (every key must match; a list matches if
 * any element does; a sender domain covers its subdomains), else the default group.
 */
export function route(
  routing: RoutingRules,
  facts: { category: string; priority: Priority; tier?: string; senderDomain: string },
): { group: string; rule: string } {
  for (const rule of routing.rules) {
    const w = rule.when;
    if (w.category !== undefined && !asList(w.category).includes(facts.category)) continue;
    if (w.priority !== undefined && !asList(w.priority).includes(facts.priority)) continue;
    if (w.tier !== undefined && (facts.tier === undefined || !asList(w.tier).includes(facts.tier)))
      continue;
    if (
      w.senderDomain !== undefined &&
      !asList(w.senderDomain).some((d) => domainMatches(facts.senderDomain, d))
    ) {
      continue;
    }
    return { group: rule.group, rule: rule.name };
  }
  return { group: routing.default, rule: 'default' };
}
