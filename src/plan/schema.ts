import { z } from 'zod';

const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and - only');
const email = z
  .string()
  .regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address')
  .transform((s) => s.toLowerCase());

export const planSchema = z
  .object({
    /** Bump on every edit; recorded with every decision the plan drives. */
    version: z.number().int().positive(),
    organisation: z.string().min(1),
    timezone: z.string().min(1).default('UTC'),
    acknowledgements: z
      .object({
        /** At most one acknowledgement per incident in this many minutes. */
        perIncidentMinutes: z.number().int().min(0).default(10),
        /** At most this many acknowledgements to one sender per rolling hour. */
        perSenderPerHour: z.number().int().min(1).default(5),
      })
      .strict()
      .default({ perIncidentMinutes: 10, perSenderPerHour: 5 }),
    agents: z
      .array(
        z
          .object({
            id,
            name: z.string().min(1),
            email,
            groups: z.array(id).default([]),
          })
          .strict(),
      )
      .default([]),
    groups: z
      .array(z.object({ id, name: z.string().min(1), lead: id.optional() }).strict())
      .default([]),
  })
  .strict()
  .superRefine((plan, ctx) => {
    const groupIds = new Set(plan.groups.map((g) => g.id));
    const agentIds = new Set(plan.agents.map((a) => a.id));
    const dup = (ids: string[]) => ids.filter((x, i) => ids.indexOf(x) !== i);
    for (const d of dup(plan.groups.map((g) => g.id)))
      ctx.addIssue({ code: 'custom', path: ['groups'], message: `duplicate group id "${d}"` });
    for (const d of dup(plan.agents.map((a) => a.id)))
      ctx.addIssue({ code: 'custom', path: ['agents'], message: `duplicate agent id "${d}"` });
    for (const d of dup(plan.agents.map((a) => a.email)))
      ctx.addIssue({ code: 'custom', path: ['agents'], message: `duplicate agent email "${d}"` });
    plan.agents.forEach((a, i) =>
      a.groups.forEach((g, j) => {
        if (!groupIds.has(g))
          ctx.addIssue({
            code: 'custom',
            path: ['agents', i, 'groups', j],
            message: `unknown group "${g}"`,
          });
      }),
    );
    plan.groups.forEach((g, i) => {
      if (g.lead && !agentIds.has(g.lead))
        ctx.addIssue({ code: 'custom', path: ['groups', i, 'lead'], message: `unknown agent "${g.lead}"` });
    });
  });

export type PlanInput = z.input<typeof planSchema>;
export type PlanBody = z.output<typeof planSchema>;
/** A validated plan plus the fingerprint recorded with every decision it drives. */
export type Plan = PlanBody & { fingerprint: string };
