/**
 * `incidesk review …`: post-incident reviews from the command line, through the same actions
 * as the #lesson / #action / #action-done email commands.
 */
import type { Command } from 'commander';
import type { ChangeResult } from '../actions/outcome.js';
import { addActionItem, addLesson, closeProblems, completeActionItem } from '../actions/review.js';
import { parseDueDate, utcDay } from '../domain/review.js';
import { formatIncidentId, parseIncidentArgument } from '../domain/tokens.js';
import { findIncident } from '../store/incidents.js';
import type { IncidentDoc, ReviewActionDoc } from '../store/models.js';
import { actionItemsOf, openActionItemsDueBy } from '../store/review.js';
import type { AppContext } from '../context.js';
import { CliFailure, cliActor, reporting, withAppContext } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { print, withStore } from './shared.js';

/** The incident an id names, or a failure with the right exit code. */
export async function incidentArg(id: string): Promise<IncidentDoc> {
  const number = parseIncidentArgument(id);
  if (number === null) throw new CliFailure(EXIT.usage, `not an incident id: ${id}`);
  const incident = await findIncident(number);
  if (!incident) throw new CliFailure(EXIT.notFound, `no incident ${id}`);
  return incident;
}

/** Print what was done, or fail with the rule's reason (exit 65). */
export function outcome(what: string, r: ChangeResult): void {
  if (!r.ok) throw new CliFailure(EXIT.refused, `${what}: refused: ${r.reason}`);
  print(`${what}: ${r.done}`);
}

const actionLine = (a: ReviewActionDoc) =>
  `${a._id.padEnd(10)} ${a.doneAt ? 'done   ' : 'open   '} due ${utcDay(a.dueAt)}  ${a.owner}  ${a.text}`;

async function reviewSummary(ctx: AppContext, incident: IncidentDoc) {
  const actions = await actionItemsOf(incident.number);
  const missing = await closeProblems(ctx, incident);
  return { incident, lessons: incident.review?.lessons ?? [], actions, missing };
}

export function registerReviewCommands(program: Command): void {
  const review = program
    .command('review')
    .description('post-incident reviews: lessons learned and action items');

  review
    .command('show <id>')
    .description('lessons, action items and what still keeps the incident from closing')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { json?: boolean }) =>
      reporting(async () => {
        const s = await withAppContext(async (ctx) => reviewSummary(ctx, await incidentArg(id)));
        if (opts.json) {
          print(JSON.stringify({ ...s, incident: s.incident.number }, null, 2));
          return;
        }
        const i = s.incident;
        print(
          [
            `${formatIncidentId(i.number)}  ${i.subject}  (${i.priority ?? '-'}, ${i.status})`,
            'lessons:',
            ...(s.lessons.length
              ? s.lessons.map((l) => `  - ${l.text ?? ''} (${l.by ?? '?'})`)
              : ['  (none)']),
            'action items:',
            ...(s.actions.length ? s.actions.map((a) => `  ${actionLine(a)}`) : ['  (none)']),
            s.missing.length ? `cannot close yet: ${s.missing.join('; ')}` : 'review complete',
          ].join('\n'),
        );
      }),
    );

  review
    .command('lesson <id> <text>')
    .description('record a lesson learned')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((id: string, text: string, opts: { as: string }) =>
      reporting(() =>
        withAppContext(async (ctx) => {
          const actor = cliActor(ctx, opts.as);
          outcome('lesson', await addLesson(ctx, await incidentArg(id), text, actor));
        }),
      ),
    );

  review
    .command('action <id> <text>')
    .description('add an action item with an owner and a due date')
    .requiredOption('--owner <owner>', 'agent id or email address of who does it')
    .requiredOption('--due <date>', 'due date, YYYY-MM-DD (end of that day, UTC)')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((id: string, text: string, opts: { owner: string; due: string; as: string }) =>
      reporting(async () => {
        const due = parseDueDate(opts.due);
        if (!due) throw new CliFailure(EXIT.usage, `--due ${opts.due}: not a date like 2026-12-01`);
        await withAppContext(async (ctx) => {
          const actor = cliActor(ctx, opts.as);
          const incident = await incidentArg(id);
          outcome(
            'action',
            await addActionItem(ctx, incident, { owner: opts.owner, due, text }, actor),
          );
        });
      }),
    );

  review
    .command('done <actionId>')
    .description('mark an action item done, e.g. 42-1')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((actionId: string, opts: { as: string }) =>
      reporting(() =>
        withAppContext(async (ctx) => {
          const actor = cliActor(ctx, opts.as);
          outcome('done', await completeActionItem(ctx, actionId, actor));
        }),
      ),
    );

  review
    .command('overdue')
    .description('open action items past their due date, oldest first')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const now = new Date();
      const rows = (await withStore(() => openActionItemsDueBy(now))).filter(
        (a) => a.dueAt.getTime() < now.getTime(),
      );
      if (opts.json) print(JSON.stringify(rows, null, 2));
      else
        print(
          rows.length
            ? rows.map((a) => `${formatIncidentId(a.incidentNumber)}  ${actionLine(a)}`).join('\n')
            : 'no overdue action items',
        );
    });
}
