/**
 * Who may do what. Roles, weakest first: customer, agent, lead, manager, administrator.
 * Agent, lead and manager come from the plan's groups; administrators and CLI operators from
 * its `access` key. Pure: the email commands (src/actions/replies.ts) and the CLI
 * (src/cli/auth.ts) ask here and nowhere else.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const ROLES = ['customer', 'agent', 'lead', 'manager', 'administrator'] as const;
export type Role = (typeof ROLES)[number];
/** Roles a CLI operator can hold (a customer never runs the CLI). */
export const OPERATOR_ROLES = ['agent', 'lead', 'manager', 'administrator'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export const atLeast = (role: Role, minimum: Role) => ROLES.indexOf(role) >= ROLES.indexOf(minimum);

/** What an email command does, as far as permission goes. */
export type CommandAction =
  | 'assign-self'
  | 'assign-other'
  | 'transfer'
  | 'priority' // a new priority (or impact/urgency) that does not make it P1
  | 'priority-p1' // anything that makes the incident P1: it pages people
  | 'status'
  | 'resolve'
  | 'note'
  | 'escalate'
  | 'merge'
  | 'parent' // group this report under an outage's parent incident
  | 'lesson'
  | 'action'
  | 'action-done'
  | 'known-error'
  | 'playbook-step' // #done / #skip: tick off a step of the incident's playbook
  | 'protocol-approval'; // #approve / #reject a held communication-protocol message

export const COMMAND_ACTIONS = [
  'assign-self',
  'assign-other',
  'transfer',
  'priority',
  'priority-p1',
  'status',
  'resolve',
  'note',
  'escalate',
  'merge',
  'parent',
  'lesson',
  'action',
  'action-done',
  'known-error',
  'playbook-step',
  'protocol-approval',
] as const satisfies readonly CommandAction[];

/**
 * The least role an action needs on an incident. Agents work the incidents of their own
 * groups (or assigned to them); moving work between people or groups, raising to P1 and
 * merging incidents is for the group's lead and above.
 */
const COMMAND_MINIMUM: Record<CommandAction, Role> = {
  'assign-self': 'agent',
  'assign-other': 'lead',
  transfer: 'lead',
  priority: 'agent',
  'priority-p1': 'lead',
  status: 'agent',
  resolve: 'agent',
  note: 'agent',
  escalate: 'agent',
  merge: 'lead',
  parent: 'agent',
  // Post-incident review: whoever works the incident records what was learned.
  lesson: 'agent',
  action: 'agent',
  'action-done': 'agent',
  'known-error': 'agent',
  'playbook-step': 'agent',
  // What the company says, to customers above all, is for the lead (a message may ask more).
  'protocol-approval': 'lead',
};

export interface AccessPlan {
  agents: readonly { id: string; email: string; groups: readonly string[] }[];
  groups: readonly { id: string; lead?: string; manager?: string }[];
  access: {
    administrators: readonly string[];
    /** Lead-level actions a plan hands to every agent of the group (e.g. transfer). */
    agentsMay?: readonly CommandAction[];
  };
}

/**
 * The role a sender holds on one incident. `null` means an agent of the plan with no
 * relation to the incident (another group's agent): they may do nothing to it.
 */
export function roleOnIncident(
  plan: AccessPlan,
  senderEmail: string,
  incident: { group?: string | null; assignee?: string | null },
): Role | null {
  const email = senderEmail.toLowerCase();
  const agent = plan.agents.find((a) => a.email === email);
  if (!agent) return 'customer';
  if (plan.access.administrators.includes(agent.id)) return 'administrator';
  // A manager of any group is a manager everywhere: managers answer for the whole desk.
  if (plan.groups.some((g) => g.manager === agent.id)) return 'manager';
  const group = incident.group ? plan.groups.find((g) => g.id === incident.group) : undefined;
  if (group?.lead === agent.id) return 'lead';
  if ((incident.group && agent.groups.includes(incident.group)) || incident.assignee === agent.id)
    return 'agent';
  return null;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

/** May someone holding `role` on the incident do `action`? */
export function mayRunCommand(
  role: Role | null,
  action: CommandAction,
  agentsMay: readonly CommandAction[] = [],
): Decision {
  if (role === null)
    return {
      allowed: false,
      reason: 'you are not a member of the incident’s group and it is not assigned to you',
    };
  if (role === 'customer')
    return { allowed: false, reason: 'commands are only accepted from agents' };
  const minimum = agentsMay.includes(action) ? 'agent' : COMMAND_MINIMUM[action];
  return atLeast(role, minimum)
    ? { allowed: true }
    : { allowed: false, reason: `${describeAction(action)} needs the group’s ${minimum} or above` };
}

function describeAction(action: CommandAction): string {
  switch (action) {
    case 'assign-other':
      return 'assigning to someone else';
    case 'priority-p1':
      return 'raising to P1';
    default:
      return action;
  }
}

// --- CLI operators ----------------------------------------------------------------------

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export interface Operator {
  name: string;
  role: OperatorRole;
  tokenSha256: string;
}

/** The operator a presented token belongs to; every stored hash is compared in constant time. */
export function operatorForToken(
  operators: readonly Operator[],
  token: string | undefined,
): Operator | null {
  if (!token) return null;
  const presented = Buffer.from(sha256Hex(token), 'hex');
  let found: Operator | null = null;
  for (const op of operators) {
    const stored = Buffer.from(op.tokenSha256, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) found = op;
  }
  return found;
}

/**
 * The least role each CLI command needs, by command path ("incidents list"). A command not
 * listed needs an administrator, so a command added later is closed until someone opens it.
 * `null`: no operator identity at all (help, version, checking a plan, making a token).
 */
export const CLI_MINIMUM: Readonly<Record<string, OperatorRole | null>> = {
  check: null,
  help: null,
  'operator token': null,
  'mailbox authorize': null, // touches no store: it turns a consent into a refresh token
  'incidents list': 'agent',
  'incidents show': 'agent',
  'attachments get': 'agent',
  'incidents merge': 'lead', // as by email: merging needs a lead
  'incidents group': 'agent',
  'review show': 'agent',
  'review overdue': 'agent',
  'review lesson': 'agent',
  'review action': 'agent',
  'review done': 'agent',
  'playbook show': 'agent',
  'plan review': 'manager', // reading it too: the review is the managers' business
  'plan versions': 'manager',
  evidence: 'manager', // what an auditor gets: managers and administrators
  'evidence verify': 'manager',
  drill: 'lead', // exercises the plan; stores the run and may mail one mailbox
  'drill list': 'agent',
  'drill show': 'agent',
  'playbook done': 'agent',
  'playbook skip': 'agent',
  'protocol pending': 'agent',
  'protocol log': 'agent',
  'protocol approve': 'lead', // as by email: what the company says is for the lead
  'protocol reject': 'lead',
  status: 'agent',
  'dlq list': 'agent',
  search: 'agent',
  report: 'agent',
  'known-errors list': 'agent',
  'known-errors show': 'agent',
  'known-errors add': 'agent',
  'known-errors link': 'agent',
  'known-errors fix': 'agent',
  'digest preview': 'manager',
  'digest send': 'manager',
  'audit verify': 'administrator',
  'audit export': 'administrator',
  start: null, // the service runs on its configuration; tokens are for people
};

export function cliMinimum(commandPath: string): OperatorRole | null {
  return commandPath in CLI_MINIMUM ? CLI_MINIMUM[commandPath]! : 'administrator';
}
