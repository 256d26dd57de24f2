/**
 * A table-top drill scenario (`incidesk drill --scenario FILE.yaml`): the incidents as they
 * would arrive and what people do, minute by minute. One YAML file, validated here with every
 * problem reported, like the plan. The simulation is src/domain/drill.ts.
 */
import { z } from 'zod';
import { durationPattern, parseDuration } from '../domain/duration.js';
import { validateYaml } from './load.js';
import { LEVELS, PRIORITIES } from './schema.js';

/** Minutes after the drill starts: "0m", "45m", "2h30m". */
const offset = z
  .string()
  .regex(durationPattern, 'a time after the start like 0m, 45m or 2h30m')
  .transform((s) => (s === '' ? 0 : Math.floor(parseDuration(s) / 60_000)));
const key = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and - only');

/** What people do during the drill. Without `respond`, nobody answers and the clocks run. */
export const DRILL_ACTIONS = ['respond', 'done', 'skip', 'resolve', 'nobody-answers'] as const;

const incidentSchema = z
  .object({
    /** How events name it. */
    id: key,
    at: offset.default(0),
    from: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address'),
    subject: z.string().min(1),
    body: z.string().default(''),
    attachments: z.array(z.string().min(1)).default([]),
    /** How many customers report it (the first is `from`): one incident, grouped as an outage. */
    reporters: z.number().int().min(1).default(1),
    /** Set instead of what the plan's rules would decide (as an agent's #priority would). */
    category: z.string().min(1).optional(),
    impact: z.enum(LEVELS).optional(),
    urgency: z.enum(LEVELS).optional(),
  })
  .strict();

const eventSchema = z
  .object({
    at: offset,
    /** Which incident (its `id`); default: the scenario's first. */
    incident: key.optional(),
    do: z.enum(DRILL_ACTIONS).optional(),
    /** A priority change, as `#priority P1`. */
    priority: z.enum(PRIORITIES).optional(),
    /** The playbook step of `done` / `skip`. */
    step: z.number().int().min(1).optional(),
    reason: z.string().min(1).optional(),
    /** `nobody-answers`: this group's agents (default: the incident's group). */
    group: key.optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if ((e.do === undefined) === (e.priority === undefined))
      issue('give exactly one of `do` or `priority`');
    if ((e.do === 'done' || e.do === 'skip') && e.step === undefined)
      issue(`\`do: ${e.do}\` needs \`step\``);
    if (e.do === 'skip' && !e.reason) issue('`do: skip` needs a `reason`');
  });

export const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** When the simulated clock starts (ISO 8601); default: when the drill runs. */
    start: z.iso.datetime({ offset: true }).optional(),
    /** How long the clock runs at most; it stops earlier once every incident is resolved. */
    duration: z
      .string()
      .regex(durationPattern, 'a duration like 8h or 2d')
      .default('24h')
      .transform((s) => Math.ceil(parseDuration(s) / 60_000)),
    incidents: z.array(incidentSchema).min(1),
    events: z.array(eventSchema).default([]),
  })
  .strict()
  .superRefine((s, ctx) => {
    const ids = s.incidents.map((i) => i.id);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i)
        ctx.addIssue({
          code: 'custom',
          path: ['incidents', i, 'id'],
          message: `duplicate "${id}"`,
        });
    });
    s.events.forEach((e, i) => {
      const target = s.incidents.find((x) => x.id === (e.incident ?? ids[0]));
      if (!target)
        ctx.addIssue({
          code: 'custom',
          path: ['events', i, 'incident'],
          message: `no incident "${e.incident}" in the scenario`,
        });
      else if (e.at < target.at)
        ctx.addIssue({
          code: 'custom',
          path: ['events', i, 'at'],
          message: `before incident "${target.id}" arrives (at ${target.at}m)`,
        });
      if (e.at > s.duration)
        ctx.addIssue({
          code: 'custom',
          path: ['events', i, 'at'],
          message: `after the drill ends (duration ${s.duration}m)`,
        });
    });
  });

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioIncident = Scenario['incidents'][number];
export type ScenarioEvent = Scenario['events'][number];

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid drill scenario ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parse and validate scenario text; `file` only names it in errors. */
export function parseScenario(text: string, file = 'scenario'): Scenario {
  const parsed = validateYaml(scenarioSchema, text);
  if (!parsed.ok) throw new ScenarioError(file, parsed.problems);
  return parsed.value;
}
