/** Picking the agent for an incident within its group. */

export interface Candidate {
  id: string;
  skills: readonly string[];
  away: boolean;
  /** Open incidents assigned to this agent now. */
  open: number;
  maxOpen?: number;
}

export type AssignmentChoice = { agent: string; reason: string } | { agent: null; reason: string };

/**
 * A group's members as assignment candidates: `open` from their open incidents now, `away`
 * from the plan or from `alsoAway` (a drill's agents who do not answer).
 */
export function candidatesOf(
  members: readonly { id: string; skills: readonly string[]; away: boolean; maxOpen?: number }[],
  open: (agent: string) => number,
  alsoAway: (agent: string) => boolean = () => false,
): Candidate[] {
  return members.map((a) => ({
    id: a.id,
    skills: a.skills,
    away: a.away || alsoAway(a.id),
    open: open(a.id),
    maxOpen: a.maxOpen,
  }));
}

/** Whether a candidate can take a new incident now. */
export function isAvailable(c: Candidate): boolean {
  return !c.away && (c.maxOpen === undefined || c.open < c.maxOpen);
}

const NOBODY = 'no available agent in the group (all away or at capacity)';

const eligible = isAvailable;

/** The first candidate with the fewest open incidents. */
function leastLoaded(cs: readonly Candidate[]): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of cs) if (!best || c.open < best.open) best = c;
  return best;
}

/**
 * Chooses an assignee among a group's members (in plan order). Away agents and agents at or
 * over their maxOpen are never chosen.
 * - round-robin: the next eligible member after `lastAssigned`, wrapping around (the first
 *   eligible one when `lastAssigned` is absent or not a member);
 * - least-loaded: fewest open incidents, ties by list order;
 * - skill-based: least-loaded among those with all required skills, else among those with
 *   the most of them; no required skills (or nobody with any) is least-loaded.
 */
export function chooseAssignee(input: {
  strategy: 'round-robin' | 'least-loaded' | 'skill-based';
  candidates: readonly Candidate[];
  lastAssigned?: string;
  requiredSkills: readonly string[];
}): AssignmentChoice {
  const { candidates } = input;
  const pool = candidates.filter(eligible);
  if (pool.length === 0) return { agent: null, reason: NOBODY };

  switch (input.strategy) {
    case 'round-robin': {
      const last =
        input.lastAssigned === undefined
          ? -1
          : candidates.findIndex((c) => c.id === input.lastAssigned);
      if (last < 0) {
        const first = pool[0] as Candidate;
        return { agent: first.id, reason: 'round-robin, first available' };
      }
      for (let k = 1; k <= candidates.length; k++) {
        const c = candidates[(last + k) % candidates.length] as Candidate;
        if (eligible(c)) return { agent: c.id, reason: `round-robin after ${input.lastAssigned}` };
      }
      return { agent: null, reason: NOBODY }; // unreachable: pool is not empty
    }
    case 'least-loaded': {
      const c = leastLoaded(pool) as Candidate;
      return { agent: c.id, reason: `least loaded (${c.open} open)` };
    }
    case 'skill-based': {
      const required = [...new Set(input.requiredSkills.map((s) => s.toLowerCase()))];
      if (required.length === 0) {
        const c = leastLoaded(pool) as Candidate;
        return { agent: c.id, reason: `no skills required; least loaded (${c.open} open)` };
      }
      const scored = pool.map((c) => {
        const own = new Set(c.skills.map((s) => s.toLowerCase()));
        return { c, has: required.filter((s) => own.has(s)) };
      });
      const most = Math.max(...scored.map((x) => x.has.length));
      if (most === 0) {
        const c = leastLoaded(pool) as Candidate;
        return {
          agent: c.id,
          reason: `nobody has skills ${required.join(', ')}; least loaded (${c.open} open)`,
        };
      }
      const top = scored.filter((x) => x.has.length === most);
      const c = leastLoaded(top.map((x) => x.c)) as Candidate;
      const has = (top.find((x) => x.c === c) as { has: string[] }).has;
      const reason =
        most === required.length
          ? `has skills ${has.join(', ')}; least loaded (${c.open} open)`
          : `has ${most} of ${required.length} skills (${has.join(', ')}); least loaded (${c.open} open)`;
      return { agent: c.id, reason };
    }
    default: {
      const never: never = input.strategy;
      throw new RangeError(`unknown assignment strategy ${JSON.stringify(never)}`);
    }
  }
}
