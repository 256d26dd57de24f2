/**
 * `incidesk incidents merge|group`: merging duplicates and grouping an outage's reports, through
 * the same actions as the #merge and #parent email commands.
 */
import type { Command } from 'commander';
import { mergeIncident } from '../actions/changes.js';
import { groupUnder } from '../actions/links.js';
import { formatIncidentId } from '../domain/tokens.js';
import { CliFailure, cliActor, reporting, withAppContext } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { incidentArg, outcome } from './review.js';
import { print } from './shared.js';

export function registerLinkCommands(program: Command): void {
  const incidents =
    program.commands.find((c) => c.name() === 'incidents') ?? program.command('incidents');

  incidents
    .command('merge <duplicate> <target>')
    .description('merge a duplicate into another incident (it closes; its messages stay visible)')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((duplicate: string, target: string, opts: { as: string }) =>
      reporting(() =>
        withAppContext(async (ctx) => {
          const actor = cliActor(ctx, opts.as);
          const dup = await incidentArg(duplicate);
          const into = await incidentArg(target);
          outcome(formatIncidentId(dup.number), await mergeIncident(ctx, dup, into.number, actor));
        }),
      ),
    );

  incidents
    .command('group <parent> <children...>')
    .description('group reports of one outage under a parent; resolving it resolves them all')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((parent: string, children: string[], opts: { as: string }) =>
      reporting(() =>
        withAppContext(async (ctx) => {
          const actor = cliActor(ctx, opts.as);
          const p = await incidentArg(parent);
          const refusals: string[] = [];
          for (const id of children) {
            const child = await incidentArg(id);
            const r = await groupUnder(ctx, child, p.number, actor);
            if (r.ok) print(`${formatIncidentId(child.number)}: ${r.done}`);
            else refusals.push(`${formatIncidentId(child.number)}: refused: ${r.reason}`);
          }
          if (refusals.length) throw new CliFailure(EXIT.refused, refusals.join('\n'));
        }),
      ),
    );
}
