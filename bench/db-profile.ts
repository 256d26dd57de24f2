/**
 * Where the database time goes: the MongoDB driver's command monitoring (switched on with the
 * `monitorCommands=true` URI option, so nothing in src/ changes), summed per command and
 * collection. Durations are as the driver sees them: server time plus the round trip.
 */
import mongoose from 'mongoose';
import { currentActor } from '../src/store/audit.js';
import { collectionsOf } from '../test/support/command-names.js';
import { round } from './util.js';

interface Row {
  count: number;
  ms: number;
  maxMs: number;
}

export interface DbProfile {
  commands: number;
  totalMs: number;
  top: { op: string; count: number; totalMs: number; avgMs: number; maxMs: number }[];
  /** Every command by the stage that sent it (the worker whose job ran it, else `intake/other`). */
  stages: { stage: string; commands: number; ops: { op: string; count: number }[] }[];
}

/**
 * The stage a command belongs to: workers run each job as their own actor (src/app.ts), an
 * AsyncLocalStorage context that the driver's synchronous command event still sees.
 */
function stageNow(): string {
  const { actor } = currentActor();
  return actor.kind === 'worker' ? actor.id : 'intake/other';
}

/**
 * The server's winning plan, in one line: `FETCH < IXSCAN status_1_createdAt_-1`, `COLLSCAN`.
 * An aggregate names the plan of its first stage's query.
 */
export function planSummary(explained: Record<string, unknown>): string {
  const planner = (explained.queryPlanner ??
    (explained.stages as Record<string, Record<string, unknown>>[] | undefined)?.[0]?.$cursor
      ?.queryPlanner) as { winningPlan?: Record<string, unknown> } | undefined;
  const names: string[] = [];
  for (let s = planner?.winningPlan; s; s = s.inputStage as Record<string, unknown> | undefined)
    names.push(s.indexName ? `${String(s.stage)} ${String(s.indexName)}` : String(s.stage));
  return names.join(' < ') || 'unknown';
}

const CRUD = new Set([
  'find',
  'insert',
  'update',
  'delete',
  'findAndModify',
  'count',
  'aggregate',
  'distinct',
  'getMore',
  // Writes to several collections in one command (MongoDB 8.0).
  'bulkWrite',
  // A transaction's end is a round trip of its own.
  'commitTransaction',
  'abortTransaction',
]);
const TRANSACTION_ENDS = new Set(['commitTransaction', 'abortTransaction']);

export function startDbProfile() {
  const client = mongoose.connection.getClient();
  const pending = new Map<number, string>();
  const rows = new Map<string, Row>();
  const byStage = new Map<string, Map<string, number>>();
  /** The first command of each find/count/aggregate shape, to explain afterwards. */
  const samples = new Map<string, Record<string, unknown>>();
  const started = (e: {
    requestId: number;
    commandName: string;
    command: Record<string, unknown>;
  }) => {
    if (!CRUD.has(e.commandName)) return;
    const coll = collectionsOf(e.command, e.commandName);
    let shape = '';
    if (e.commandName === 'find' || e.commandName === 'count') {
      const filter = (e.command.filter ?? e.command.query ?? {}) as Record<string, unknown>;
      shape = `{${Object.keys(filter).join(',')}}`;
    } else if (e.commandName === 'update' || e.commandName === 'delete') {
      const first = (
        (e.command.updates ?? e.command.deletes) as { q?: Record<string, unknown> }[] | undefined
      )?.[0];
      shape = `{${Object.keys(first?.q ?? {}).join(',')}}`;
    } else if (e.commandName === 'aggregate') {
      const match = (e.command.pipeline as Record<string, unknown>[] | undefined)?.[0]?.$match;
      shape = `[${Object.keys((match ?? {}) as Record<string, unknown>).join(',')}]`;
    } else if (e.commandName === 'findAndModify') {
      shape = `{${Object.keys((e.command.query ?? {}) as Record<string, unknown>).join(',')}}`;
    }
    const op = TRANSACTION_ENDS.has(e.commandName)
      ? e.commandName
      : `${e.commandName} ${coll} ${shape}`.trim();
    if (['find', 'count', 'aggregate'].includes(e.commandName) && !samples.has(op))
      samples.set(op, e.command);
    pending.set(e.requestId, op);
    const stage = stageNow();
    const ops = byStage.get(stage) ?? new Map<string, number>();
    ops.set(op, (ops.get(op) ?? 0) + 1);
    byStage.set(stage, ops);
  };
  const finished = (e: { requestId: number; duration: number }) => {
    const key = pending.get(e.requestId);
    if (!key) return;
    pending.delete(e.requestId);
    const row = rows.get(key) ?? { count: 0, ms: 0, maxMs: 0 };
    row.count++;
    row.ms += e.duration;
    row.maxMs = Math.max(row.maxMs, e.duration);
    rows.set(key, row);
  };
  client.on('commandStarted', started);
  client.on('commandSucceeded', finished);
  client.on('commandFailed', finished);
  return {
    /** The winning plan of each read shape seen, from the server's own explain. */
    async plans(): Promise<{ op: string; plan: string }[]> {
      const db = mongoose.connection.db!;
      const out: { op: string; plan: string }[] = [];
      for (const [op, command] of samples) {
        // The session and cluster fields belong to the original command, not to explain.
        const plain = Object.fromEntries(
          Object.entries(command).filter(
            ([k]) => !['lsid', '$clusterTime', '$db', 'txnNumber'].includes(k),
          ),
        );
        const explained = await db.command({ explain: plain, verbosity: 'queryPlanner' });
        out.push({ op, plan: planSummary(explained) });
      }
      return out;
    },
    stop(limit = 12): DbProfile {
      client.off('commandStarted', started);
      client.off('commandSucceeded', finished);
      client.off('commandFailed', finished);
      const all = [...rows.entries()].map(([op, r]) => ({
        op,
        count: r.count,
        totalMs: Math.round(r.ms),
        avgMs: round(r.ms / r.count, 2),
        maxMs: Math.round(r.maxMs),
      }));
      all.sort((a, b) => b.totalMs - a.totalMs);
      return {
        commands: all.reduce((n, r) => n + r.count, 0),
        totalMs: all.reduce((n, r) => n + r.totalMs, 0),
        top: all.slice(0, limit),
        stages: [...byStage.entries()]
          .map(([stage, ops]) => ({
            stage,
            commands: [...ops.values()].reduce((n, c) => n + c, 0),
            ops: [...ops.entries()]
              .map(([op, count]) => ({ op, count }))
              .sort((a, b) => b.count - a.count),
          }))
          .sort((a, b) => b.commands - a.commands),
      };
    },
  };
}
