/**
 * The incident response plan: who works on what, how incidents are classified, routed,
 * assigned, timed and escalated. One YAML file, validated here with every problem reported.
 */
import { z } from 'zod';
import { DEFAULT_RETENTION } from '../domain/retention.js';

/** A retention period in whole days. */
const days = z.number().int().min(1);
import { COMMAND_ACTIONS, OPERATOR_ROLES } from '../domain/access.js';
import { AGENT_MAIL_MODES } from '../domain/agent-mail.js';
import { durationPattern } from '../domain/duration.js';
import { PHASES, phaseOrderProblems, STEP_OWNERS } from '../domain/playbook.js';

/**
 * sha256 of operator tokens that earlier releases printed in their examples
 * (`example-admin-token-replace-me`): anyone can read them, so no plan may admit them.
 */
const PUBLISHED_TOKEN_HASHES = new Set([
  'cc4c6100bfc3649fa1dfd872fe8d9b3141e5971f8af8efeb790256304601586c',
]);

const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and - only');
const email = z
  .string()
  .regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address')
  .transform((s) => s.toLowerCase());
const duration = z
  .string()
  .regex(durationPattern, 'a duration like 15m, 4h, 1h30m or 2d')
  .refine((s) => s.length > 0, 'a duration like 15m, 4h, 1h30m or 2d');
/** A calendar day, YYYY-MM-DD. */
const day = z.string().superRefine((s, ctx) => {
  const t = Date.parse(`${s}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s))
    ctx.addIssue({ code: 'custom', message: 'a date like 2027-03-01' });
  else if (Number.isNaN(t) || !new Date(t).toISOString().startsWith(s))
    ctx.addIssue({ code: 'custom', message: 'not a calendar date' });
});
const regex = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s, 'iu');
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid regular expression: ${(err as Error).message}`,
    });
  }
});
const list = <T extends z.ZodTypeAny>(item: T) =>
  z.union([item, z.array(item)]).transform((v) => ([] as z.output<T>[]).concat(v));

export const LEVELS = ['high', 'medium', 'low'] as const;
export type Level = (typeof LEVELS)[number];
export const PRIORITIES = ['P1', 'P2', 'P3', 'P4'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export const ASSIGNMENT_STRATEGIES = ['round-robin', 'least-loaded', 'skill-based'] as const;

const level = z.enum(LEVELS);
/** A similarity threshold: 0 (anything) exclusive to 1 (identical words). */
const share = z.number().gt(0).max(1);
const priority = z.enum(PRIORITIES);
/** A mail locale: the name of a folder in templates/, such as `en` or `de` (or `de-AT`). */
const locale = z
  .string()
  .regex(/^[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/, 'a language tag like en, de or de-AT');
const hhmmRange = z
  .string()
  .regex(/^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, 'a range like 09:00-17:30');

const calendarSchema = z
  .object({
    timezone: z.string().min(1),
    /** "24x7", or opening hours per weekday; a day not listed is closed. */
    hours: z.union([z.literal('24x7'), z.partialRecord(z.enum(WEEKDAYS), z.array(hhmmRange))]),
    holidays: z
      .array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like 2026-12-25'))
      .default([]),
  })
  .strict();

const agentSchema = z
  .object({
    id,
    name: z.string().min(1),
    email,
    groups: z.array(id).default([]),
    skills: z.array(z.string().min(1)).default([]),
    /** Away agents are never picked for new assignments. */
    away: z.boolean().default(false),
    /** Most open incidents this agent takes before assignment passes them over. */
    maxOpen: z.number().int().positive().optional(),
    /** The zone this agent reads times in; default: their first group's calendar's. */
    timezone: z.string().min(1).optional(),
  })
  .strict();

const escalationStep = z.union([
  z.literal('lead'),
  z.literal('manager'),
  z.object({ transfer: id }).strict(),
]);

const groupSchema = z
  .object({
    id,
    name: z.string().min(1),
    lead: id.optional(),
    manager: id.optional(),
    calendar: id.default('always'),
    assignment: z.enum(ASSIGNMENT_STRATEGIES).default('round-robin'),
    /** Overrides the plan's escalation chain for incidents of this group. */
    escalation: z.array(escalationStep).optional(),
  })
  .strict();

const match = z
  .object({
    subject: regex.optional(),
    body: regex.optional(),
    /** Subject or body. */
    text: regex.optional(),
    sender: list(email).optional(),
    senderDomain: list(
      z
        .string()
        .min(1)
        .transform((s) => s.toLowerCase()),
    ).optional(),
    tier: list(z.string().min(1)).optional(),
    hasAttachment: z.boolean().optional(),
    attachmentName: regex.optional(),
  })
  .strict();

const classificationRule = z
  .object({
    name: z.string().min(1),
    when: match,
    set: z
      .object({
        category: z.string().min(1).optional(),
        impact: level.optional(),
        urgency: level.optional(),
        skills: z.array(z.string().min(1)).optional(),
      })
      .strict(),
  })
  .strict();

const routingRule = z
  .object({
    name: z.string().min(1),
    when: z
      .object({
        category: list(z.string().min(1)).optional(),
        priority: list(priority).optional(),
        tier: list(z.string().min(1)).optional(),
        senderDomain: list(
          z
            .string()
            .min(1)
            .transform((s) => s.toLowerCase()),
        ).optional(),
      })
      .strict(),
    group: id,
  })
  .strict();

const DEFAULT_MATRIX = {
  high: { high: 'P1', medium: 'P2', low: 'P3' },
  medium: { high: 'P2', medium: 'P3', low: 'P4' },
  low: { high: 'P3', medium: 'P4', low: 'P4' },
} as const;

const DEFAULT_SLA = {
  P1: { firstResponse: '15m', resolution: '4h' },
  P2: { firstResponse: '1h', resolution: '8h' },
  P3: { firstResponse: '4h', resolution: '3d' },
  P4: { firstResponse: '1d', resolution: '10d' },
} as const;

const playbookStep = z
  .object({
    phase: z.enum(PHASES),
    title: z.string().min(1),
    owner: z.enum(STEP_OWNERS).default('assignee'),
    /** Wall-clock time after the incident opened by which the step is due. */
    deadline: duration.optional(),
    /** P1/P2 (`requiredFor`) resolve only once the step is done or skipped with a reason. */
    mandatory: z.boolean().default(false),
  })
  .strict();

// The vocabulary of communication protocols (src/domain/protocols.ts applies them).
/** The moments a plan names in `at`; `interval` is the plan's `every`. */
export const EVENT_MOMENTS = ['opened', 'priority-changed', 'resolved'] as const;
export type EventMoment = (typeof EVENT_MOMENTS)[number];
/** Roles of the incident's group (or the incident itself, for the assignee). */
export const RECIPIENT_ROLES = ['assignee', 'lead', 'manager'] as const;
export type RecipientRole = (typeof RECIPIENT_ROLES)[number];
export const AUDIENCES = ['internal', 'external'] as const;
export type Audience = (typeof AUDIENCES)[number];
/** Who releases a held message: the group's lead (or its manager, or an administrator), or its manager. */
export const APPROVERS = ['lead', 'manager'] as const;
export type Approver = (typeof APPROVERS)[number];

/** Who a protocol message goes to: a role of the incident's group, an address, a list, or the reporters. */
const protocolRecipient = z.union([
  z.enum(RECIPIENT_ROLES),
  z.literal('customers'),
  z.object({ address: email }).strict(),
  z.object({ list: id }).strict(),
]);

const protocolMessage = z
  .object({
    to: z.array(protocolRecipient).min(1),
    /** internal: staff and named stakeholders; external: customers (the only audience they may be in). */
    audience: z.enum(AUDIENCES),
    /** templates/<locale>/<template>.{text,html}.hbs */
    template: id,
    /** The moments of the incident at which this message goes out. */
    at: z.array(z.enum(EVENT_MOMENTS)).default([]),
    /** Also every this long while the incident is open, counted from when it opened. */
    every: duration.optional(),
    /** Held until the incident's group lead (or manager) approves it with #approve. */
    approval: z.enum(APPROVERS).optional(),
  })
  .strict()
  .refine((m) => m.at.length > 0 || m.every, 'give `at` moments, `every`, or both');

const protocolSchema = z
  .object({
    name: id,
    /** Which incidents this protocol covers; a missing key matches any. */
    when: z
      .object({
        priority: list(priority).optional(),
        category: list(z.string().min(1)).optional(),
      })
      .strict()
      .default({}),
    messages: z.array(protocolMessage).min(1),
  })
  .strict();

const slaTargets = z.object({ firstResponse: duration, resolution: duration }).strict();

export const planSchema = z
  .object({
    /** Bump on every edit; recorded with every decision the plan drives. */
    version: z.number().int().positive(),
    organisation: z.string().min(1),
    /** The annual review (src/domain/plan-review.ts): `incidesk plan review --approve` sets these. */
    reviewedAt: day.optional(),
    reviewedBy: z.string().min(1).optional(),
    nextReviewDue: day.optional(),
    timezone: z.string().min(1).default('UTC'),
    /** The language of customer mail when nothing says which the customer reads. */
    locale: locale.default('en'),
    acknowledgements: z
      .object({
        /** At most this many acknowledgements to one sender per rolling hour. */
        perSenderPerHour: z.number().int().min(1).default(5),
      })
      .strict()
      .default({ perSenderPerHour: 5 }),
    calendars: z.record(id, calendarSchema).default({}),
    agents: z.array(agentSchema).default([]),
    groups: z.array(groupSchema).default([]),
    /** Known customers by domain or address, with a tier rules can match on. */
    customers: z
      .array(
        z
          .object({
            domain: z
              .string()
              .min(1)
              .transform((s) => s.toLowerCase())
              .optional(),
            address: email.optional(),
            name: z.string().optional(),
            tier: z.string().min(1),
            /** The language this customer is written to in (templates/<locale>/). */
            locale: locale.optional(),
          })
          .strict()
          .refine(
            (c) => (c.domain ? 1 : 0) + (c.address ? 1 : 0) === 1,
            'give exactly one of domain or address',
          ),
      )
      .default([]),
    classification: z
      .object({
        defaults: z
          .object({ category: z.string().min(1), impact: level, urgency: level })
          .strict()
          .default({ category: 'general', impact: 'medium', urgency: 'medium' }),
        rules: z.array(classificationRule).default([]),
      })
      .strict()
      .default({
        defaults: { category: 'general', impact: 'medium', urgency: 'medium' },
        rules: [],
      }),
    /** Priority from impact (rows) × urgency (columns). */
    matrix: z.record(level, z.record(level, priority)).default(DEFAULT_MATRIX),
    routing: z
      .object({ rules: z.array(routingRule).default([]), default: id })
      .strict()
      .optional(),
    sla: z
      .object({
        P1: slaTargets,
        P2: slaTargets,
        P3: slaTargets,
        P4: slaTargets,
        /** Warn the assignee when this fraction of a target has elapsed. */
        warnAt: z.number().gt(0).lt(1).default(0.75),
      })
      .strict()
      .default({ ...DEFAULT_SLA, warnAt: 0.75 }),
    /** What happens at each breach, in order; a step repeats after `repeatAfter` if still breached. */
    escalation: z
      .object({
        chain: z.array(escalationStep).default(['lead', 'manager']),
        repeatAfter: duration.default('30m'),
      })
      .strict()
      .default({ chain: ['lead', 'manager'], repeatAfter: '30m' }),
    /** Who receives the manager digests, and when (their local time). */
    digests: z
      .object({
        recipients: z
          .array(
            z
              .object({
                agent: id,
                hour: z.number().int().min(0).max(23).default(7),
                timezone: z.string().min(1).optional(),
                periods: z
                  .array(z.enum(['daily', 'weekly', 'monthly']))
                  .min(1)
                  .default(['daily']),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({ recipients: [] }),
    attachments: z
      .object({
        /**
         * Customer files ride along with the mail that tells agents about a message, up to
         * this total per mail (MB); larger ones are listed, for `incidesk attachments get`.
         */
        toAgentsMaxMB: z.number().min(0).max(100).default(10),
      })
      .strict()
      .default({ toAgentsMaxMB: 10 }),
    lifecycle: z
      .object({
        /** A customer writing this long after closure gets a new incident linked to the old one. */
        reopenWindowDays: z.number().int().min(0).default(14),
      })
      .strict()
      .default({ reopenWindowDays: 14 }),
    /** Post-incident review, duplicate and outage detection (src/actions/review.ts, links.ts). */
    review: z
      .object({
        /** Incidents of these priorities close only with lessons learned and action items. */
        requiredFor: z.array(priority).default(['P1', 'P2']),
        /** Remind an action item's owner this long before it is due (then daily while overdue). */
        remindBefore: duration.default('1d'),
        duplicates: z
          .object({ within: duration.default('7d'), similarity: share.default(0.6) })
          .strict()
          .default({ within: '7d', similarity: 0.6 }),
        outages: z
          .object({
            within: duration.default('1h'),
            similarity: share.default(0.6),
            minCustomers: z.number().int().min(2).default(3),
          })
          .strict()
          .default({ within: '1h', similarity: 0.6, minCustomers: 3 }),
      })
      .strict()
      .default({
        requiredFor: ['P1', 'P2'],
        remindBefore: '1d',
        duplicates: { within: '7d', similarity: 0.6 },
        outages: { within: '1h', similarity: 0.6, minCustomers: 3 },
      }),
    /** Response strategies per incident category (src/actions/playbook.ts). */
    playbooks: z
      .object({
        /** Incidents of these priorities resolve only when no mandatory step is open. */
        requiredFor: z.array(priority).default(['P1', 'P2']),
        /** Chase an overdue step's owner when it falls overdue, then again this often. */
        remindEvery: duration.default('1h'),
        /** Category → ordered steps (phases in order: containment … verification). */
        categories: z.record(z.string().min(1), z.array(playbookStep).min(1)).default({}),
      })
      .strict()
      .default({ requiredFor: ['P1', 'P2'], remindEvery: '1h', categories: {} }),
    /** Communication protocols: who is told what, when (src/domain/protocols.ts). */
    communication: z
      .object({
        /** Named distribution lists: one message to all of a list's addresses. */
        lists: z.record(id, z.array(email).min(1)).default({}),
        /** Every protocol whose `when` matches an incident applies to it. */
        protocols: z.array(protocolSchema).default([]),
      })
      .strict()
      .default({ lists: {}, protocols: [] }),
    /** What `incidesk maintenance run` archives and purges (src/domain/retention.ts). */
    retention: z
      .object({
        archiveClosedAfterDays: days.default(DEFAULT_RETENTION.archiveClosedAfterDays),
        purge: z
          .object({
            rawMessagesOfClosedAfterDays: days.default(
              DEFAULT_RETENTION.purge.rawMessagesOfClosedAfterDays,
            ),
            quarantinedAfterDays: days.default(DEFAULT_RETENTION.purge.quarantinedAfterDays),
            sentOutboxAfterDays: days.default(DEFAULT_RETENTION.purge.sentOutboxAfterDays),
          })
          .strict()
          .default(DEFAULT_RETENTION.purge),
        orphanBlobGraceHours: z
          .number()
          .int()
          .min(1)
          .default(DEFAULT_RETENTION.orphanBlobGraceHours),
      })
      .strict()
      .default(DEFAULT_RETENTION),
    /**
     * Who may act beyond their groups, and who may run the `incidesk` command. Agents, leads
     * and managers come from `groups`; administrators (agent ids) may do anything by email;
     * operators are CLI identities, known only by the sha256 of their token.
     */
    access: z
      .object({
        administrators: z.array(id).default([]),
        /** Lead-level email commands every agent of the group may use too. */
        agentsMay: z.array(z.enum(COMMAND_ACTIONS)).default([]),
        /**
         * How mail claiming to be from an agent is proven genuine before its commands run
         * (src/domain/agent-mail.ts, docs/security.md). token-only is weaker and warned about.
         */
        agentMail: z.enum(AGENT_MAIL_MODES).default('dmarc'),
        /** trusted-relay: the authserv-id your receiving MTA stamps Authentication-Results with. */
        authservId: z
          .string()
          .regex(/^[^\s;()"]+$/, 'an authserv-id: a host name or token, no spaces')
          .optional(),
        operators: z
          .array(
            z
              .object({
                name: z.string().min(1),
                role: z.enum(OPERATOR_ROLES),
                tokenSha256: z
                  .string()
                  .regex(/^[0-9a-fA-F]{64}$/, 'the sha256 of the token, 64 hex digits')
                  .transform((s) => s.toLowerCase()),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({ administrators: [], agentsMay: [], agentMail: 'dmarc', operators: [] }),
  })
  .strict()
  .superRefine((plan, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    const groupIds = new Set(plan.groups.map((g) => g.id));
    const agentIds = new Set(plan.agents.map((a) => a.id));
    const calendarIds = new Set(['always', ...Object.keys(plan.calendars)]);
    const dup = (ids: string[]) => [...new Set(ids.filter((x, i) => ids.indexOf(x) !== i))];
    for (const d of dup(plan.groups.map((g) => g.id)))
      issue(['groups'], `duplicate group id "${d}"`);
    for (const d of dup(plan.agents.map((a) => a.id)))
      issue(['agents'], `duplicate agent id "${d}"`);
    for (const d of dup(plan.agents.map((a) => a.email)))
      issue(['agents'], `duplicate agent email "${d}"`);
    plan.agents.forEach((a, i) =>
      a.groups.forEach((g, j) => {
        if (!groupIds.has(g)) issue(['agents', i, 'groups', j], `unknown group "${g}"`);
      }),
    );
    const checkChain = (chain: z.infer<typeof escalationStep>[], path: (string | number)[]) =>
      chain.forEach((step, k) => {
        if (typeof step === 'object' && !groupIds.has(step.transfer))
          issue([...path, k, 'transfer'], `unknown group "${step.transfer}"`);
      });
    plan.groups.forEach((g, i) => {
      for (const role of ['lead', 'manager'] as const) {
        const who = g[role];
        if (who && !agentIds.has(who)) issue(['groups', i, role], `unknown agent "${who}"`);
      }
      if (!calendarIds.has(g.calendar))
        issue(['groups', i, 'calendar'], `unknown calendar "${g.calendar}"`);
      if (g.escalation) checkChain(g.escalation, ['groups', i, 'escalation']);
      if (plan.agents.every((a) => !a.groups.includes(g.id)))
        issue(['groups', i], `group "${g.id}" has no members`);
    });
    checkChain(plan.escalation.chain, ['escalation', 'chain']);
    if (plan.reviewedAt && plan.nextReviewDue && plan.nextReviewDue <= plan.reviewedAt)
      issue(['nextReviewDue'], `must come after reviewedAt (${plan.reviewedAt})`);
    for (const [category, steps] of Object.entries(plan.playbooks.categories))
      for (const p of phaseOrderProblems(steps)) issue(['playbooks', 'categories', category], p);
    for (const d of dup(plan.communication.protocols.map((p) => p.name)))
      issue(['communication', 'protocols'], `duplicate protocol name "${d}"`);
    plan.communication.protocols.forEach((p, i) =>
      p.messages.forEach((m, j) =>
        m.to.forEach((r, k) => {
          const path = ['communication', 'protocols', i, 'messages', j, 'to', k];
          if (
            typeof r === 'object' &&
            'list' in r &&
            !Object.hasOwn(plan.communication.lists, r.list)
          )
            issue(path, `unknown list "${r.list}"`);
          if (r === 'customers' && m.audience !== 'external')
            issue(path, 'customers receive only external messages (audience: external)');
        }),
      ),
    );
    plan.access.administrators.forEach((a, i) => {
      if (!agentIds.has(a)) issue(['access', 'administrators', i], `unknown agent "${a}"`);
    });
    if (plan.access.agentMail === 'trusted-relay' && !plan.access.authservId)
      issue(
        ['access', 'authservId'],
        'agentMail: trusted-relay needs the authserv-id your receiving MTA stamps',
      );
    for (const d of dup(plan.access.operators.map((o) => o.name)))
      issue(['access', 'operators'], `duplicate operator name "${d}"`);
    for (const d of dup(plan.access.operators.map((o) => o.tokenSha256)))
      issue(['access', 'operators'], `two operators share the token hash ${d.slice(0, 12)}…`);
    plan.access.operators.forEach((o, i) => {
      if (PUBLISHED_TOKEN_HASHES.has(o.tokenSha256))
        issue(
          ['access', 'operators', i],
          `operator "${o.name}" uses a token published in incidesk's own examples; make a new one with \`incidesk operator token\``,
        );
    });
    plan.digests.recipients.forEach((r, i) => {
      if (!agentIds.has(r.agent))
        issue(['digests', 'recipients', i, 'agent'], `unknown agent "${r.agent}"`);
      if (r.timezone && !validTimeZone(r.timezone))
        issue(['digests', 'recipients', i, 'timezone'], `unknown time zone "${r.timezone}"`);
    });
    plan.agents.forEach((a, i) => {
      if (a.timezone && !validTimeZone(a.timezone))
        issue(['agents', i, 'timezone'], `unknown time zone "${a.timezone}"`);
    });
    for (const [name, cal] of Object.entries(plan.calendars)) {
      if (!validTimeZone(cal.timezone))
        issue(['calendars', name, 'timezone'], `unknown time zone "${cal.timezone}"`);
    }
    if (!validTimeZone(plan.timezone)) issue(['timezone'], `unknown time zone "${plan.timezone}"`);
    for (const l of LEVELS) {
      for (const u of LEVELS) {
        if (!plan.matrix[l]?.[u])
          issue(['matrix', l, u], 'missing: every impact × urgency pair needs a priority');
      }
    }
    if (plan.routing) {
      if (!groupIds.has(plan.routing.default))
        issue(['routing', 'default'], `unknown group "${plan.routing.default}"`);
      plan.routing.rules.forEach((r, i) => {
        if (!groupIds.has(r.group))
          issue(['routing', 'rules', i, 'group'], `unknown group "${r.group}"`);
      });
    } else if (plan.groups.length > 0) {
      issue(
        ['routing'],
        'required when groups are defined: at least `routing: { default: <group> }`',
      );
    }
  });

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export type PlanInput = z.input<typeof planSchema>;
export type PlanBody = z.output<typeof planSchema>;
/** A validated plan plus the fingerprint recorded with every decision it drives. */
export type Plan = PlanBody & { fingerprint: string };
export type PlanAgent = Plan['agents'][number];
export type PlanGroup = Plan['groups'][number];
export type PlanCalendar = Plan['calendars'][string];
export type ClassificationRules = Plan['classification'];
export type RoutingRules = NonNullable<Plan['routing']>;
export type EscalationStep = Plan['escalation']['chain'][number];
export type Matrix = Plan['matrix'];
export type Playbooks = Plan['playbooks'];
export type Communication = Plan['communication'];
export type Protocol = Communication['protocols'][number];
export type ProtocolMessage = Protocol['messages'][number];
export type ProtocolRecipient = ProtocolMessage['to'][number];
