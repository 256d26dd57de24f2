/**
 * Classification of a new incident by the plan's rules: category, impact, urgency, the
 * priority they give, and the skills the work needs.
 */
import { domainOf } from './address.js';
import type { ClassificationRules, Level, Matrix, Plan, Priority } from '../plan/schema.js';

/** What classification and routing look at. */
export interface IncidentFacts {
  subject: string;
  body: string;
  /** The sender's address. */
  sender: string;
  senderDomain: string;
  /** The customer's tier, from customerTier(). */
  tier?: string;
  attachmentNames: readonly string[];
}

export interface Classification {
  category: string;
  impact: Level;
  urgency: Level;
  priority: Priority;
  skills: string[];
  /** Names of the rules that matched, in plan order. */
  fired: string[];
}

type Rule = ClassificationRules['rules'][number];
type When = Rule['when'];

const RANK: Record<Level, number> = { low: 1, medium: 2, high: 3 };

function bareAddress(s: string): string {
  return s.trim().replace(/^<|>$/g, '').trim().toLowerCase();
}

/** Whether `domain` is `parent` or one of its subdomains (case-insensitive). */
export function domainMatches(domain: string, parent: string): boolean {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  const p = parent
    .trim()
    .toLowerCase()
    .replace(/^\.|\.$/g, '');
  return p.length > 0 && (d === p || d.endsWith(`.${p}`));
}

function asList<T>(v: T | readonly T[] | undefined): readonly T[] {
  return v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

/**
 * The plan's record of a customer: an address entry wins over a domain entry; a domain entry
 * covers its subdomains, the most specific domain winning.
 */
export function findCustomer(
  plan: Pick<Plan, 'customers'>,
  sender: string,
): Plan['customers'][number] | undefined {
  const address = bareAddress(sender);
  const byAddress = plan.customers.find(
    (c) => c.address !== undefined && c.address.toLowerCase() === address,
  );
  if (byAddress) return byAddress;
  // An address without "@" has no domain to match.
  const domain = address.includes('@') ? domainOf(address) : '';
  if (!domain) return undefined;
  let best: Plan['customers'][number] | undefined;
  for (const c of plan.customers) {
    if (c.domain === undefined || !domainMatches(domain, c.domain)) continue;
    if (!best?.domain || c.domain.length > best.domain.length) best = c;
  }
  return best;
}

/** The tier of a known customer (see findCustomer). */
export function customerTier(plan: Pick<Plan, 'customers'>, sender: string): string | undefined {
  return findCustomer(plan, sender)?.tier;
}

/** Priority from impact (row) and urgency (column) of the plan's matrix. */
export function priorityFor(matrix: Matrix, impact: Level, urgency: Level): Priority {
  const p = matrix[impact]?.[urgency];
  if (!p)
    throw new RangeError(`the matrix has no priority for impact ${impact} × urgency ${urgency}`);
  return p;
}

/**
 * How a priority change is confirmed to the agent: the impact/urgency pair the matrix maps to
 * it, or, when the priority was set directly against the matrix, that it overrides it.
 */
export function priorityConfirmation(
  matrix: Matrix,
  priority: Priority,
  impact: Level,
  urgency: Level,
): string {
  const byMatrix = priorityFor(matrix, impact, urgency);
  return byMatrix === priority
    ? `priority ${priority} (impact ${impact}, urgency ${urgency})`
    : `priority ${priority}, set directly: it overrides the matrix, which gives ${byMatrix} for impact ${impact}, urgency ${urgency}`;
}

interface CompiledWhen {
  subject?: RegExp;
  body?: RegExp;
  text?: RegExp;
  attachmentName?: RegExp;
}

const regexCache = new WeakMap<object, CompiledWhen>();

function compiled(when: When): CompiledWhen {
  let c = regexCache.get(when);
  if (!c) {
    c = {};
    for (const key of ['subject', 'body', 'text', 'attachmentName'] as const) {
      const src = when[key];
      if (src !== undefined) c[key] = new RegExp(src, 'iu');
    }
    regexCache.set(when, c);
  }
  return c;
}

/** Whether every condition of a rule's `when` holds (an empty `when` always holds). */
function matches(when: When, facts: IncidentFacts): boolean {
  const re = compiled(when);
  if (re.subject && !re.subject.test(facts.subject)) return false;
  if (re.body && !re.body.test(facts.body)) return false;
  if (re.text && !re.text.test(facts.subject) && !re.text.test(facts.body)) return false;
  if (re.attachmentName) {
    const r = re.attachmentName;
    if (!facts.attachmentNames.some((n) => r.test(n))) return false;
  }
  if (when.hasAttachment !== undefined && when.hasAttachment !== facts.attachmentNames.length > 0) {
    return false;
  }
  if (when.sender !== undefined) {
    const sender = bareAddress(facts.sender);
    if (!asList(when.sender).some((s) => s.toLowerCase() === sender)) return false;
  }
  if (when.senderDomain !== undefined) {
    if (!asList(when.senderDomain).some((d) => domainMatches(facts.senderDomain, d))) return false;
  }
  if (when.tier !== undefined) {
    const tier = facts.tier;
    if (tier === undefined || !asList(when.tier).includes(tier)) return false;
  }
  return true;
}

/**
 * Applies every rule whose `when` matches. Impact and urgency: the highest value any fired
 * rule sets (so a rule alone can also lower them), else the defaults. Category and skills:
 * from the first fired rule that sets each, else the default category and no skills.
 */
export function classify(
  rules: ClassificationRules,
  matrix: Matrix,
  facts: IncidentFacts,
): Classification {
  let category: string | undefined;
  let skills: string[] | undefined;
  let impact: Level | undefined;
  let urgency: Level | undefined;
  const fired: string[] = [];
  for (const rule of rules.rules) {
    if (!matches(rule.when, facts)) continue;
    fired.push(rule.name);
    const set = rule.set;
    if (category === undefined && set.category !== undefined) category = set.category;
    if (skills === undefined && set.skills !== undefined) skills = [...set.skills];
    if (set.impact !== undefined && (impact === undefined || RANK[set.impact] > RANK[impact])) {
      impact = set.impact;
    }
    if (set.urgency !== undefined && (urgency === undefined || RANK[set.urgency] > RANK[urgency])) {
      urgency = set.urgency;
    }
  }
  const finalImpact = impact ?? rules.defaults.impact;
  const finalUrgency = urgency ?? rules.defaults.urgency;
  return {
    category: category ?? rules.defaults.category,
    impact: finalImpact,
    urgency: finalUrgency,
    priority: priorityFor(matrix, finalImpact, finalUrgency),
    skills: skills ?? [],
    fired,
  };
}
