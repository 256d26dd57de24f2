import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { planSchema, type Plan, type PlanAgent, type PlanGroup } from './schema.js';

export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid incident response plan ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * YAML text validated by `schema`: the value, or every problem with its place (a YAML syntax
 * error with its line). Shared by the plan and the drill scenarios.
 */
export function validateYaml<S extends z.ZodTypeAny>(
  schema: S,
  text: string,
): { ok: true; value: z.output<S> } | { ok: false; problems: string[] } {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const where =
      err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    return {
      ok: false,
      problems: [`not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`],
    };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data as z.output<S> };
  return {
    ok: false,
    problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`),
  };
}

/** Parse and validate plan text; `file` only names it in errors. */
export function parsePlan(text: string, file = 'plan'): Plan {
  const parsed = validateYaml(planSchema, text);
  if (!parsed.ok) throw new PlanError(file, parsed.problems);
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const plan = { ...parsed.value, fingerprint: `v${parsed.value.version}-${digest}` };
  sources.set(plan, text);
  return plan;
}

/** The YAML a plan was parsed from, kept beside it (not in it) for the plan version history. */
const sources = new WeakMap<Plan, string>();

export function planSource(plan: Plan): string | undefined {
  return sources.get(plan);
}

export async function loadPlan(file: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PlanError(file, [`cannot read: ${(err as Error).message}`]);
  }
  return parsePlan(text, file);
}

export function agentByEmail(plan: Plan, email: string): PlanAgent | undefined {
  return plan.agents.find((a) => a.email === email.toLowerCase());
}

/** An agent named by id or by email address, as people write them in commands. */
export function findAgent(plan: Plan, idOrEmail: string): PlanAgent | undefined {
  const key = idOrEmail.toLowerCase();
  return plan.agents.find((a) => a.id === key || a.email === key);
}

export function findGroup(plan: Plan, id: string): PlanGroup | undefined {
  return plan.groups.find((g) => g.id === id);
}

export function groupMembers(plan: Plan, group: string): PlanAgent[] {
  return plan.agents.filter((a) => a.groups.includes(group));
}

/**
 * The zone a group's customers read times in: its calendar's. The built-in `always`
 * calendar names no place, so it (and no group yet) means the plan's zone.
 */
export function groupTimeZone(plan: Plan, groupId: string | null | undefined): string {
  const group = groupId ? findGroup(plan, groupId) : undefined;
  return (group && plan.calendars[group.calendar]?.timezone) ?? plan.timezone;
}

/** The zone an agent reads times in: their own, else their first group's, else the plan's. */
export function agentTimeZone(plan: Plan, agent: PlanAgent): string {
  return agent.timezone ?? groupTimeZone(plan, agent.groups[0]);
}
