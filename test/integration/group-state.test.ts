/**
 * What an assignment knows of its group's state without reading it, on real servers: within
 * a process the assignments to a group take turns, so each starts from the state the one
 * before it committed (round-robin pointer, version) and sends no `find group_state`. The
 * claim's compare-and-set still decides: a claim made meanwhile by another process makes the
 * next one here fail, read the state again and choose again; and a transaction that aborts
 * after its claim teaches this process nothing.
 */
import { describe, expect, it } from 'vitest';
import { assignInTurn, assignmentWrites } from '../../src/actions/assign.js';
import { triageIncident } from '../../src/actions/triage.js';
import type { AppContext } from '../../src/context.js';
import { findGroup } from '../../src/plan/load.js';
import { bornFacts } from '../../src/queues.js';
import { afterCommit, atomically, hasTransactions } from '../../src/store/db.js';
import { findIncident, openIncident } from '../../src/store/incidents.js';
import { GroupState } from '../../src/store/models.js';
import { countCommands, monitoredUri } from '../support/db-commands.js';
import { useTestApp } from '../support/harness.js';

const PLAN = `
groups:
  - { id: desk, name: Desk, assignment: round-robin }
agents:
  - { id: ann, name: Ann, email: ann@example.test, groups: [desk] }
  - { id: ben, name: Ben, email: ben@example.test, groups: [desk] }
  - { id: cat, name: Cat, email: cat@example.test, groups: [desk] }
routing: { default: desk }
`;

describe("assignment and its group's state", () => {
  const h = useTestApp({
    plan: PLAN,
    env: { MONGODB_URI: monitoredUri('group_state'), INCIDESK_SLA_SWEEP_SECONDS: '3600' },
  });
  let k = 0;

  /**
   * Open an incident as ingest does (no triage job is queued) and triage it as its job would,
   * in `ctx`'s process; the assignee and the commands the triage sent to `group_state`.
   */
  const triage = async (ctx: AppContext) => {
    const { incident } = await openIncident({
      openedBy: `group-state-${++k}`,
      subject: `Question ${k}`,
      customer: { address: `c${k}@customer.example` },
      at: new Date(),
    });
    const { commands } = await countCommands(() =>
      triageIncident(ctx, {
        incident: incident.number,
        opening: { text: 'Nothing loads.', attachmentIds: [] },
        born: bornFacts(incident),
      }),
    );
    return {
      assignee: (await findIncident(incident.number))?.assignee,
      // A claim is a write to group_state, on its own or in one command with the
      // transaction's other writes (a server with writes across collections).
      commands: commands
        .filter((c) => /[ +]group_state(\+|$)/.test(c))
        .map((c) => (c === 'find group_state' ? c : 'write group_state')),
    };
  };
  const pointer = async () => (await GroupState.findById('desk').lean())?.lastAssigned;

  it('reads the group state once, then knows it: the next assignments send no find', async () => {
    const ctx = h.app.ctx;
    expect(await triage(ctx)).toEqual({
      assignee: 'ann',
      commands: ['find group_state', 'write group_state'],
    });
    expect(await triage(ctx)).toEqual({ assignee: 'ben', commands: ['write group_state'] });
    expect(await triage(ctx)).toEqual({ assignee: 'cat', commands: ['write group_state'] });
    expect(await pointer()).toBe('cat');
  });

  it("after another process's claim, the lost claim reads again and chooses from what it reads", async () => {
    const ctx = h.app.ctx;
    // Another process: the same plan and database, and a memory of its own (it is keyed by
    // the app's context), which knows nothing yet, so it reads.
    const other: AppContext = { ...ctx };
    expect(await triage(other)).toEqual({
      assignee: 'ann',
      commands: ['find group_state', 'write group_state'],
    });
    // This process still knows "after cat": its claim fails, it reads, and Ben is next.
    expect(await triage(ctx)).toEqual({
      assignee: 'ben',
      commands: ['write group_state', 'find group_state', 'write group_state'],
    });
    expect(await triage(ctx)).toEqual({ assignee: 'cat', commands: ['write group_state'] });
    // And the other process, now behind, loses once too: nobody gets a turn twice.
    expect(await triage(other)).toEqual({
      assignee: 'ann',
      commands: ['write group_state', 'find group_state', 'write group_state'],
    });
    expect(await pointer()).toBe('ann');
  });

  it('learns nothing from a claim whose transaction aborted', async (t) => {
    if (!hasTransactions()) t.skip(); // without transactions a claim is never undone
    // A process that has just assigned Ben, so it knows the state.
    const ctx: AppContext = { ...h.app.ctx };
    expect((await triage(ctx)).assignee).toBe('ben');
    const desk = findGroup(ctx.plan, 'desk')!;
    let chosen: string | null = null;
    // A later write of the assignment's transaction fails after the claim (a write conflict,
    // a failing insert): the claim is undone with it.
    const aborted = assignInTurn(ctx, desk, [], undefined, (choice) =>
      atomically(async () => {
        chosen = choice.agent;
        const agent = choice.agent ?? 'nobody';
        await assignmentWrites(ctx, 0, 'desk', { ...choice, agent }, 'test', new Date()).claim();
        throw new Error('a later write failed');
      }),
    );
    await expect(aborted).rejects.toThrow('a later write failed');
    expect(chosen).toBe('cat');
    expect(await pointer()).toBe('ben');
    // Had this process learnt the aborted claim, it would choose Ann, lose, read and choose
    // again: Cat, with one claim and no read, is only what it knew before the abort.
    expect(await triage(ctx)).toEqual({ assignee: 'cat', commands: ['write group_state'] });
  });

  it('runs a commit hook after the commit, and never for an aborted attempt', async (t) => {
    if (!hasTransactions()) t.skip(); // without transactions every write stands alone
    const ran: string[] = [];
    await atomically(async () => {
      afterCommit(() => ran.push('committed'));
      expect(ran).toEqual([]); // not before the commit
    });
    expect(ran).toEqual(['committed']);
    await expect(
      atomically(async () => {
        afterCommit(() => ran.push('aborted'));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    afterCommit(() => ran.push('alone')); // outside a transaction: the write stands already
    expect(ran).toEqual(['committed', 'alone']);
  });
});
