/**
 * `incidesk playbook …`: an incident's playbook steps from the command line, through the same
 * action as the #done / #skip email commands.
 */
import type { Command } from 'commander';
import { closePlaybookStep, playbookGate } from '../actions/playbook.js';
import { parseStepNumber } from '../domain/playbook.js';
import { formatIncidentId } from '../domain/tokens.js';
import type { PlaybookStepDoc } from '../store/models.js';
import { stepsOf } from '../store/playbook.js';
import { CliFailure, cliActor, reporting, withAppContext } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { incidentArg, outcome } from './review.js';
import { print } from './shared.js';

const stepLine = (s: PlaybookStepDoc) =>
  [
    `${String(s.step).padStart(2)}. ${s.state.padEnd(7)} [${s.phase}] ${s.title} (owner ${s.owner}`,
    s.dueAt ? `due ${s.dueAt.toISOString().replace('T', ' ').slice(0, 16)} UTC` : '',
    s.mandatory ? 'mandatory' : '',
    s.by ? `by ${s.by}` : '',
    s.reason ? `because: ${s.reason}` : '',
  ]
    .filter(Boolean)
    .join(', ') + ')';

function stepArg(n: string): number {
  const step = parseStepNumber(n);
  if (step === null) throw new CliFailure(EXIT.usage, `not a playbook step number: ${n}`);
  return step;
}

export function registerPlaybookCommands(program: Command): void {
  const playbook = program
    .command('playbook')
    .description("an incident's playbook: its steps, and ticking them off");

  playbook
    .command('show <id>')
    .description('the steps, their state, and whether they keep the incident from resolving')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { json?: boolean }) =>
      reporting(async () => {
        const { incident, steps, gate } = await withAppContext(async (ctx) => {
          const incident = await incidentArg(id);
          const steps = await stepsOf(incident.number);
          return { incident, steps, gate: await playbookGate(ctx, incident) };
        });
        if (opts.json) {
          print(JSON.stringify({ incident: incident.number, steps, gate }, null, 2));
          return;
        }
        print(
          [
            `${formatIncidentId(incident.number)}  ${incident.subject}  (${incident.priority ?? '-'}, ${incident.category ?? '-'}, ${incident.status})`,
            ...(steps.length ? steps.map(stepLine) : ['no playbook']),
            gate.length
              ? `cannot resolve yet: ${gate.join('; ')}`
              : 'nothing in the playbook keeps it from resolving',
          ].join('\n'),
        );
      }),
    );

  playbook
    .command('done <id> <step>')
    .description('mark a playbook step done, e.g. `playbook done INC-000042 2`')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((id: string, step: string, opts: { as: string }) =>
      closeStep('done', id, step, opts.as, { state: 'done' }),
    );

  playbook
    .command('skip <id> <step>')
    .description('skip a playbook step that does not apply, with the reason')
    .requiredOption('--reason <text>', 'why the step does not apply')
    .requiredOption('--as <agent>', 'who is acting (agent id or email)')
    .action((id: string, step: string, opts: { reason: string; as: string }) =>
      closeStep('skip', id, step, opts.as, { state: 'skipped', reason: opts.reason }),
    );
}

/** `playbook done|skip`: the same action as the #done / #skip email commands. */
function closeStep(
  what: string,
  id: string,
  step: string,
  as: string,
  close: { state: 'done' | 'skipped'; reason?: string },
) {
  return reporting(async () => {
    const n = stepArg(step);
    await withAppContext(async (ctx) => {
      const actor = cliActor(ctx, as);
      const incident = await incidentArg(id);
      outcome(what, await closePlaybookStep(ctx, incident, { step: n, ...close }, actor));
    });
  });
}
