import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePlan, PlanError } from '../../src/plan/load.js';

const problems = (text: string) => {
  try {
    parsePlan(text);
  } catch (err) {
    expect(err).toBeInstanceOf(PlanError);
    return (err as PlanError).problems;
  }
  throw new Error('expected a PlanError');
};

describe('incident response plan', () => {
  it('the shipped example is valid and fingerprinted by version and content', () => {
    const text = readFileSync(new URL('../../plan.example.yaml', import.meta.url), 'utf8');
    const plan = parsePlan(text);
    expect(plan.groups.length).toBeGreaterThan(0);
    expect(plan.fingerprint).toMatch(/^v1-[0-9a-f]{12}$/);
    expect(parsePlan(`${text}\n# edited\n`).fingerprint).not.toBe(plan.fingerprint);
  });

  it('applies defaults: acknowledgement limits, the ITIL matrix, SLA targets', () => {
    const plan = parsePlan('version: 2\norganisation: X\n');
    expect(plan.acknowledgements).toEqual({ perSenderPerHour: 5 });
    expect(plan.matrix.high.high).toBe('P1');
    expect(plan.matrix.low.low).toBe('P4');
    expect(plan.sla.P1).toEqual({ firstResponse: '15m', resolution: '4h' });
  });

  it('requires routing once groups exist, and members in every group', () => {
    const list = problems('version: 1\norganisation: X\ngroups: [{ id: a, name: A }]\n');
    expect(list).toContain(
      'routing: required when groups are defined: at least `routing: { default: <group> }`',
    );
    expect(list).toContain('groups.0: group "a" has no members');
  });

  it('checks digest recipients', () => {
    const list = problems(
      'version: 1\norganisation: X\ndigests: { recipients: [{ agent: ghost, hour: 25, timezone: Moon/Base }] }\n',
    );
    expect(list.join('\n')).toMatch(/digests.recipients.0.hour/);
    expect(list).toContain('digests.recipients.0.agent: unknown agent "ghost"');
    expect(list).toContain('digests.recipients.0.timezone: unknown time zone "Moon/Base"');
  });

  it('rejects an unknown time zone', () => {
    expect(problems('version: 1\norganisation: X\ntimezone: Nowhere/Land\n')).toEqual([
      'timezone: unknown time zone "Nowhere/Land"',
    ]);
  });

  it('names every broken reference and unknown key', () => {
    const list = problems(`version: 1
organisation: X
colour: blue
groups: [{ id: net, name: Network, lead: zoe }, { id: net, name: Again }]
agents: [{ id: al, name: Al, email: al@example.test, groups: [nope, net] }]
routing: { default: nowhere }
escalation: { chain: [lead, { transfer: ghost }] }
sla: { P1: { firstResponse: soon, resolution: 4h }, P2: { firstResponse: 1h, resolution: 8h }, P3: { firstResponse: 4h, resolution: 3d }, P4: { firstResponse: 1d, resolution: 10d } }
calendars: { office: { timezone: Mars/Olympus, hours: { mon: ['9-5'] } } }
`);
    expect(list.join('\n')).toMatch(/colour/);
    expect(list).toContain('groups.0.lead: unknown agent "zoe"');
    expect(list).toContain('groups: duplicate group id "net"');
    expect(list).toContain('agents.0.groups.0: unknown group "nope"');
    expect(list).toContain('routing.default: unknown group "nowhere"');
    expect(list).toContain('escalation.chain.1.transfer: unknown group "ghost"');
    expect(list.join('\n')).toMatch(/sla.P1.firstResponse: a duration like 15m/);
    expect(list.join('\n')).toMatch(/calendars.office.hours.mon.0: a range like 09:00-17:30/);
  });

  it('reports YAML syntax errors with the line', () => {
    expect(problems('version: 1\norganisation: [unclosed\n')[0]).toMatch(
      /not valid YAML \(line \d+\)/,
    );
  });
});

describe('playbooks', () => {
  const plan = (playbooks: string) => `version: 1\norganisation: X\nplaybooks:\n${playbooks}`;

  it('defaults: no playbooks, P1/P2 gated, overdue steps chased hourly', () => {
    expect(parsePlan('version: 1\norganisation: X\n').playbooks).toEqual({
      requiredFor: ['P1', 'P2'],
      remindEvery: '1h',
      categories: {},
    });
  });

  it('reads ordered steps with defaults for owner and mandatory', () => {
    const p = parsePlan(
      plan(`  categories:
    security:
      - { phase: containment, title: Isolate the host, deadline: 30m, mandatory: true }
      - { phase: verification, title: Confirm, owner: lead }
`),
    );
    expect(p.playbooks.categories.security).toEqual([
      {
        phase: 'containment',
        title: 'Isolate the host',
        owner: 'assignee',
        deadline: '30m',
        mandatory: true,
      },
      { phase: 'verification', title: 'Confirm', owner: 'lead', mandatory: false },
    ]);
  });

  it('names bad phases, owners, deadlines, empty playbooks and phases out of order', () => {
    const list = problems(
      plan(`  categories:
    security:
      - { phase: recovery, title: Restore }
      - { phase: containment, title: Isolate, deadline: soon }
    outage:
      - { phase: triage, title: Look, owner: ceo }
    billing: []
`),
    );
    expect(list).toContain(
      'playbooks.categories.security.1.deadline: a duration like 15m, 4h, 1h30m or 2d',
    );
    expect(list.some((p) => p.startsWith('playbooks.categories.outage.0.phase'))).toBe(true);
    expect(list.some((p) => p.startsWith('playbooks.categories.outage.0.owner'))).toBe(true);
    expect(list.some((p) => p.startsWith('playbooks.categories.billing'))).toBe(true);
    const order = problems(
      plan(`  categories:
    security:
      - { phase: recovery, title: Restore }
      - { phase: containment, title: Isolate }
`),
    );
    expect(order).toEqual([
      'playbooks.categories.security: step 2 (containment) comes after a recovery step',
    ]);
  });
});

describe('docs/configuration.md', () => {
  it('shows the shipped example plan verbatim', () => {
    const readme = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../plan.example.yaml', import.meta.url), 'utf8');
    expect(readme).toContain('```yaml\n' + example + '```');
  });

  it('checks access: administrators are agents, operators have unique names and token hashes', () => {
    const hash = 'a'.repeat(64);
    const list = problems(`version: 1
organisation: X
access:
  administrators: [ghost]
  agentsMay: [transfer]
  operators:
    - { name: ops, role: administrator, tokenSha256: ${hash} }
    - { name: ops, role: agent, tokenSha256: ${hash} }
`);
    expect(list).toContain('access.administrators.0: unknown agent "ghost"');
    expect(list).toContain('access.operators: duplicate operator name "ops"');
    expect(list.some((p) => p.startsWith('access.operators: two operators share'))).toBe(true);
    const shape = problems(`version: 1
organisation: X
access:
  operators: [{ name: bad, role: root, tokenSha256: not-a-hash }]
`);
    expect(shape.some((p) => p.startsWith('access.operators.0.role'))).toBe(true);
    expect(shape).toContain(
      'access.operators.0.tokenSha256: the sha256 of the token, 64 hex digits',
    );
    expect(parsePlan('version: 1\norganisation: X\n').access).toEqual({
      administrators: [],
      agentsMay: [],
      agentMail: 'dmarc',
      operators: [],
    });
  });

  it('checks agentMail: a known mode, and trusted-relay names its authserv-id', () => {
    const issues = (access: string) => {
      const text = `version: 1\norganisation: X\naccess: ${access}\n`;
      try {
        parsePlan(text);
        return '';
      } catch {
        return problems(text).join('\n');
      }
    };
    expect(issues('{ agentMail: spf }')).toMatch(/access\.agentMail/);
    expect(issues('{ agentMail: trusted-relay }')).toMatch(
      /access\.authservId: agentMail: trusted-relay needs the authserv-id/,
    );
    expect(issues('{ agentMail: trusted-relay, authservId: mx.example.com }')).toBe('');
    expect(issues('{ agentMail: token-only }')).toBe('');
  });
});
