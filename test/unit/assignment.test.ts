import { describe, it, expect } from 'vitest';
import { chooseAssignee, type Candidate } from '../../src/domain/assignment.js';

const NOBODY = 'no available agent in the group (all away or at capacity)';

function c(id: string, over: Partial<Candidate> = {}): Candidate {
  return { id, skills: [], away: false, open: 0, ...over };
}

describe('chooseAssignee: eligibility', () => {
  it.each(['round-robin', 'least-loaded', 'skill-based'] as const)(
    '%s: nobody eligible → null',
    (strategy) => {
      const r = chooseAssignee({
        strategy,
        candidates: [
          c('a', { away: true }),
          c('b', { open: 3, maxOpen: 3 }),
          c('d', { open: 9, maxOpen: 5 }),
        ],
        requiredSkills: ['vpn'],
      });
      expect(r).toEqual({ agent: null, reason: NOBODY });
    },
  );

  it('an empty group → null', () => {
    expect(
      chooseAssignee({ strategy: 'least-loaded', candidates: [], requiredSkills: [] }),
    ).toEqual({
      agent: null,
      reason: NOBODY,
    });
  });

  it.each(['round-robin', 'least-loaded', 'skill-based'] as const)(
    '%s never picks away or full agents',
    (strategy) => {
      const candidates = [
        c('away', { away: true, skills: ['vpn'] }),
        c('full', { open: 2, maxOpen: 2, skills: ['vpn'] }),
        c('ok', { open: 7, maxOpen: 8 }),
      ];
      expect(chooseAssignee({ strategy, candidates, requiredSkills: ['vpn'] }).agent).toBe('ok');
    },
  );
});

describe('round-robin', () => {
  const team = [c('alice'), c('bob'), c('carol')];

  it('picks the next after the last assignee', () => {
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: team,
        lastAssigned: 'alice',
        requiredSkills: [],
      }),
    ).toEqual({
      agent: 'bob',
      reason: 'round-robin after alice',
    });
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: team,
        lastAssigned: 'bob',
        requiredSkills: [],
      }).agent,
    ).toBe('carol');
  });

  it('wraps around', () => {
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: team,
        lastAssigned: 'carol',
        requiredSkills: [],
      }).agent,
    ).toBe('alice');
  });

  it('starts with the first eligible when there is no or an unknown last assignee', () => {
    const r = chooseAssignee({ strategy: 'round-robin', candidates: team, requiredSkills: [] });
    expect(r.agent).toBe('alice');
    expect(r.reason).toMatch(/round-robin/);
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: team,
        lastAssigned: 'zed',
        requiredSkills: [],
      }).agent,
    ).toBe('alice');
    const awayFirst = [c('alice', { away: true }), c('bob')];
    expect(
      chooseAssignee({ strategy: 'round-robin', candidates: awayFirst, requiredSkills: [] }).agent,
    ).toBe('bob');
  });

  it('skips ineligible members, wrapping if needed', () => {
    const t = [
      c('alice'),
      c('bob', { away: true }),
      c('carol', { open: 1, maxOpen: 1 }),
      c('dave'),
    ];
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: t,
        lastAssigned: 'alice',
        requiredSkills: [],
      }).agent,
    ).toBe('dave');
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: t,
        lastAssigned: 'dave',
        requiredSkills: [],
      }).agent,
    ).toBe('alice');
  });

  it('the last assignee gets it again when they are the only one available', () => {
    const t = [c('alice'), c('bob', { away: true })];
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: t,
        lastAssigned: 'alice',
        requiredSkills: [],
      }).agent,
    ).toBe('alice');
  });

  it('continues after a last assignee who is now away', () => {
    const t = [c('alice'), c('bob', { away: true }), c('carol')];
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: t,
        lastAssigned: 'bob',
        requiredSkills: [],
      }).agent,
    ).toBe('carol');
  });

  it('ignores load and skills', () => {
    const t = [c('alice'), c('bob', { open: 50 }), c('carol', { skills: ['vpn'] })];
    expect(
      chooseAssignee({
        strategy: 'round-robin',
        candidates: t,
        lastAssigned: 'alice',
        requiredSkills: ['vpn'],
      }).agent,
    ).toBe('bob');
  });
});

describe('least-loaded', () => {
  it('picks the fewest open incidents', () => {
    const t = [c('a', { open: 3 }), c('b', { open: 1 }), c('d', { open: 2 })];
    expect(chooseAssignee({ strategy: 'least-loaded', candidates: t, requiredSkills: [] })).toEqual(
      {
        agent: 'b',
        reason: 'least loaded (1 open)',
      },
    );
  });

  it('breaks ties by list order', () => {
    const t = [c('a', { open: 3 }), c('b', { open: 1 }), c('d', { open: 1 })];
    expect(
      chooseAssignee({ strategy: 'least-loaded', candidates: t, requiredSkills: [] }).agent,
    ).toBe('b');
  });

  it('ignores lastAssigned', () => {
    const t = [c('a'), c('b')];
    expect(
      chooseAssignee({
        strategy: 'least-loaded',
        candidates: t,
        lastAssigned: 'a',
        requiredSkills: [],
      }).agent,
    ).toBe('a');
  });

  it('passes over a less loaded agent who is at capacity', () => {
    const t = [c('a', { open: 5 }), c('b', { open: 1, maxOpen: 1 })];
    expect(
      chooseAssignee({ strategy: 'least-loaded', candidates: t, requiredSkills: [] }).agent,
    ).toBe('a');
  });
});

describe('skill-based', () => {
  const team = [
    c('alice', { open: 0, skills: [] }),
    c('bob', { open: 4, skills: ['vpn', 'dns'] }),
    c('carol', { open: 2, skills: ['vpn', 'dns', 'bgp'] }),
    c('dave', { open: 1, skills: ['vpn'] }),
  ];

  it('least loaded among those with all required skills', () => {
    const r = chooseAssignee({
      strategy: 'skill-based',
      candidates: team,
      requiredSkills: ['vpn', 'dns'],
    });
    expect(r.agent).toBe('carol');
    expect(r.reason).toMatch(/has skills vpn, dns/);
    expect(r.reason).toMatch(/2 open/);
  });

  it('a single skill', () => {
    const r = chooseAssignee({
      strategy: 'skill-based',
      candidates: team,
      requiredSkills: ['vpn'],
    });
    expect(r.agent).toBe('dave');
    expect(r.reason).toMatch(/has skills vpn/);
  });

  it('skills compare case-insensitively and duplicates do not matter', () => {
    expect(
      chooseAssignee({ strategy: 'skill-based', candidates: team, requiredSkills: ['BGP', 'bgp'] })
        .agent,
    ).toBe('carol');
  });

  it('if nobody has all, those with the most matching skills, least loaded', () => {
    const r = chooseAssignee({
      strategy: 'skill-based',
      candidates: team,
      requiredSkills: ['vpn', 'dns', 'ipv6'],
    });
    expect(r.agent).toBe('carol'); // bob and carol have 2 of 3; carol has fewer open
    expect(r.reason).toMatch(/2 of 3/);
  });

  it('nobody with any skill: least loaded of everybody', () => {
    const r = chooseAssignee({
      strategy: 'skill-based',
      candidates: team,
      requiredSkills: ['cobol'],
    });
    expect(r.agent).toBe('alice');
    expect(r.reason).toMatch(/least loaded/);
  });

  it('no required skills: least loaded', () => {
    expect(
      chooseAssignee({ strategy: 'skill-based', candidates: team, requiredSkills: [] }).agent,
    ).toBe('alice');
  });

  it('skilled agents who are away or full are passed over for the next best', () => {
    const t = team.map((x) =>
      x.id === 'carol' ? { ...x, away: true } : x.id === 'dave' ? { ...x, maxOpen: 1 } : x,
    );
    expect(
      chooseAssignee({ strategy: 'skill-based', candidates: t, requiredSkills: ['vpn', 'dns'] })
        .agent,
    ).toBe('bob');
    expect(
      chooseAssignee({ strategy: 'skill-based', candidates: t, requiredSkills: ['vpn'] }).agent,
    ).toBe('bob');
  });

  it('ties among the skilled go by list order', () => {
    const t = [c('x', { open: 1, skills: ['a'] }), c('y', { open: 1, skills: ['a'] })];
    expect(
      chooseAssignee({ strategy: 'skill-based', candidates: t, requiredSkills: ['a'] }).agent,
    ).toBe('x');
  });
});
