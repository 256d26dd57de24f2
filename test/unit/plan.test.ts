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

  it('applies acknowledgement defaults', () => {
    expect(parsePlan('version: 2\norganisation: X\n').acknowledgements).toEqual({ perIncidentMinutes: 10, perSenderPerHour: 5 });
  });

  it('names every broken reference and unknown key', () => {
    const list = problems(`version: 1
organisation: X
colour: blue
groups: [{ id: net, name: Network, lead: zoe }, { id: net, name: Again }]
agents: [{ id: al, name: Al, email: al@example.test, groups: [nope] }]
`);
    expect(list.join('\n')).toMatch(/colour/);
    expect(list).toContain('groups.0.lead: unknown agent "zoe"');
    expect(list).toContain('groups: duplicate group id "net"');
    expect(list).toContain('agents.0.groups.0: unknown group "nope"');
  });

  it('reports YAML syntax errors with the line', () => {
    expect(problems('version: 1\norganisation: [unclosed\n')[0]).toMatch(/not valid YAML \(line \d+\)/);
  });
});
