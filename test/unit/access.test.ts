import { describe, expect, it } from 'vitest';
import {
  cliMinimum,
  COMMAND_ACTIONS,
  mayRunCommand,
  operatorForToken,
  roleOnIncident,
  ROLES,
  sha256Hex,
  atLeast,
  type CommandAction,
  type Role,
} from '../../src/domain/access.js';

const plan = {
  agents: [
    { id: 'ann', email: 'ann@x.test', groups: ['desk'] },
    { id: 'lee', email: 'lee@x.test', groups: ['desk'] },
    { id: 'net', email: 'net@x.test', groups: ['network'] },
    { id: 'max', email: 'max@x.test', groups: ['network'] },
    { id: 'adm', email: 'adm@x.test', groups: [] },
  ],
  groups: [
    { id: 'desk', lead: 'lee', manager: 'max' },
    { id: 'network', lead: 'net' },
  ],
  access: { administrators: ['adm'] },
};
const deskIncident = { group: 'desk', assignee: 'ann' };

describe('roles on an incident', () => {
  it('derives every role from the plan', () => {
    expect(roleOnIncident(plan, 'stranger@y.test', deskIncident)).toBe('customer');
    expect(roleOnIncident(plan, 'ANN@x.test', deskIncident)).toBe('agent');
    expect(roleOnIncident(plan, 'lee@x.test', deskIncident)).toBe('lead');
    expect(roleOnIncident(plan, 'max@x.test', deskIncident)).toBe('manager');
    expect(roleOnIncident(plan, 'adm@x.test', deskIncident)).toBe('administrator');
  });

  it('gives another group’s agent (even its lead) no role, unless the incident is theirs', () => {
    expect(roleOnIncident(plan, 'net@x.test', deskIncident)).toBeNull();
    expect(roleOnIncident(plan, 'net@x.test', { group: 'desk', assignee: 'net' })).toBe('agent');
    expect(roleOnIncident(plan, 'ann@x.test', { group: null, assignee: null })).toBeNull();
  });
});

describe('the command matrix (every role × action)', () => {
  const leadOnly = new Set<CommandAction>([
    'assign-other',
    'transfer',
    'priority-p1',
    'merge',
    'protocol-approval',
  ]);
  const expected = (role: Role | null, action: CommandAction): boolean => {
    if (role === null || role === 'customer') return false;
    if (role === 'agent') return !leadOnly.has(action);
    return true;
  };
  for (const role of [...ROLES, null] as const) {
    for (const action of COMMAND_ACTIONS) {
      it(`${role ?? 'other group'} ${expected(role, action) ? 'may' : 'may not'} ${action}`, () => {
        const d = mayRunCommand(role, action);
        expect(d.allowed).toBe(expected(role, action));
        if (!d.allowed) expect(d.reason).toMatch(/\w/);
      });
    }
  }

  it('a plan can hand lead-level actions to agents, never to customers or outsiders', () => {
    expect(mayRunCommand('agent', 'transfer', ['transfer']).allowed).toBe(true);
    expect(mayRunCommand('agent', 'merge', ['transfer']).allowed).toBe(false);
    expect(mayRunCommand('customer', 'transfer', ['transfer']).allowed).toBe(false);
    expect(mayRunCommand(null, 'transfer', ['transfer']).allowed).toBe(false);
  });

  it('names the role a refused action needs', () => {
    expect(mayRunCommand('agent', 'priority-p1')).toEqual({
      allowed: false,
      reason: 'raising to P1 needs the group’s lead or above',
    });
  });
});

describe('CLI operators', () => {
  const ops = [
    { name: 'root', role: 'administrator' as const, tokenSha256: sha256Hex('admin-token') },
    { name: 'desk', role: 'agent' as const, tokenSha256: sha256Hex('agent-token') },
  ];

  it('finds an operator by the sha256 of the token, nothing for a wrong or missing one', () => {
    expect(operatorForToken(ops, 'admin-token')?.name).toBe('root');
    expect(operatorForToken(ops, 'agent-token')?.name).toBe('desk');
    expect(operatorForToken(ops, 'admin-token ')).toBeNull();
    expect(operatorForToken(ops, sha256Hex('admin-token'))).toBeNull(); // the hash is not a token
    expect(operatorForToken(ops, '')).toBeNull();
    expect(operatorForToken(ops, undefined)).toBeNull();
  });

  it('needs an administrator for any command not in the table', () => {
    expect(cliMinimum('incidents list')).toBe('agent');
    expect(cliMinimum('audit verify')).toBe('administrator');
    expect(cliMinimum('backup create')).toBe('administrator');
    expect(cliMinimum('check')).toBeNull();
    expect(cliMinimum('operator token')).toBeNull();
  });

  it('orders roles', () => {
    expect(atLeast('administrator', 'agent')).toBe(true);
    expect(atLeast('agent', 'administrator')).toBe(false);
    expect(atLeast('lead', 'lead')).toBe(true);
  });
});
