/**
 * `incidesk drill --scenario FILE.yaml`: a table-top exercise. The scenario runs through the
 * live plan on a simulated clock (src/domain/drill.ts), starting from who is busy now; the
 * timeline and the plan's gaps are printed and stored in `drill_runs`. No real mail goes out
 * and no incident, timeline entry or counter is touched; `--mail-to` sends a marked copy of
 * each would-be message to one mailbox. `drill list` and `drill show RUN` read past runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { runDrill, type DrillEntry } from '../domain/drill.js';
import { drillCopy } from '../mail/drill.js';
import { tokenProviders } from '../mail/oauth.js';
import { createMailer } from '../mail/outbound.js';
import { localisedNames } from '../mail/templates.js';
import { loadPlan } from '../plan/load.js';
import { parseScenario, ScenarioError } from '../plan/scenario.js';
import { currentActor } from '../store/audit.js';
import {
  currentStaffing,
  findDrillRun,
  listDrillRuns,
  markDrillMailed,
  recordDrillRun,
} from '../store/drills.js';
import { CliFailure, reporting } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { drillReport, drillTable } from './format.js';
import { planPath } from './plan.js';
import { NotFoundError, print, withStore } from './shared.js';

const ADDRESS = /^[^@\s]+@[^@\s]+$/;

async function readScenario(file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new NotFoundError(`cannot read the scenario ${file}: ${(err as Error).message}`);
  }
  try {
    return {
      scenario: parseScenario(text, file),
      sha256: createHash('sha256').update(text).digest('hex'),
    };
  } catch (err) {
    if (err instanceof ScenarioError) throw new CliFailure(EXIT.usage, err.message);
    throw err;
  }
}

export function registerDrillCommands(program: Command): void {
  const drill = program
    .command('drill')
    .description(
      'a table-top exercise: run a scenario through the live plan on a simulated clock; no real mail, no real incident (exit 65 when the plan has gaps)',
    )
    .option('--scenario <file>', 'the scenario, YAML (shipped ones are in scenarios/)')
    .option(
      '--mail-to <address>',
      'send each would-be message, marked [DRILL], to this one mailbox',
    )
    .option('--json', 'machine-readable output')
    .action((opts: { scenario?: string; mailTo?: string; json?: boolean }) =>
      reporting(async () => {
        if (!opts.scenario)
          throw new CliFailure(
            EXIT.usage,
            'drill needs --scenario FILE.yaml (or: drill list, drill show RUN)',
          );
        if (opts.mailTo !== undefined && !ADDRESS.test(opts.mailTo))
          throw new CliFailure(EXIT.usage, `--mail-to ${opts.mailTo}: not an email address`);
        const plan = await loadPlan(planPath());
        const { scenario, sha256 } = await readScenario(opts.scenario);
        // Only a drill that mails needs the SMTP settings.
        const config = opts.mailTo ? loadConfig() : undefined;
        const ranAt = new Date();
        const start = scenario.start ? new Date(scenario.start) : ranAt;
        const id = `drill-${ranAt.toISOString().replace(/[-:]|\.\d+/g, '')}-${randomBytes(3).toString('hex')}`;
        const run = await withStore(async () => {
          const staffing = await currentStaffing(
            plan.agents.map((a) => a.id),
            plan.groups.map((g) => g.id),
          );
          const result = runDrill(plan, scenario, staffing, start, localisedNames(plan.locale));
          const stored = {
            ...result,
            _id: id,
            ranAt,
            by: currentActor().actor.id,
            scenarioFile: opts.scenario!,
            scenarioSha256: sha256,
            ...(opts.mailTo ? { mailedTo: opts.mailTo.toLowerCase() } : {}),
          };
          await recordDrillRun(stored);
          if (config && stored.mailedTo) {
            const sent = await mailCopies(config, stored, stored.mailedTo, scenario.incidents);
            await markDrillMailed(id, sent);
          }
          return stored;
        });
        print(opts.json ? JSON.stringify(run, null, 2) : drillReport(run));
        if (run.findings.length) process.exitCode = EXIT.refused;
      }),
    );

  drill
    .command('list')
    .description('past drill runs, newest first')
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .option('--json', 'machine-readable output')
    .action((opts: { limit: number; json?: boolean }) =>
      reporting(async () => {
        const rows = await withStore(() => listDrillRuns(opts.limit));
        print(
          opts.json
            ? JSON.stringify(rows, null, 2)
            : rows.length
              ? drillTable(rows)
              : 'no drill runs',
        );
      }),
    );

  drill
    .command('show <run>')
    .description('one past run: its timeline and findings')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { json?: boolean }) =>
      reporting(async () => {
        const run = await withStore(() => findDrillRun(id));
        if (!run) throw new NotFoundError(`no drill run ${id}`);
        print(
          opts.json
            ? JSON.stringify(run, null, 2)
            : drillReport(run as Parameters<typeof drillReport>[0]),
        );
      }),
    );
}

/** One marked copy per would-be message, in order, through the normal SMTP transport. */
async function mailCopies(
  config: ReturnType<typeof loadConfig>,
  run: Parameters<typeof drillCopy>[1],
  to: string,
  incidents: readonly { id: string; subject: string }[],
): Promise<number> {
  const mailer = createMailer(config, tokenProviders(config));
  const subjects = new Map(incidents.map((i) => [i.id, i.subject]));
  let sent = 0;
  try {
    for (const entry of run.entries) {
      if (!entry.message) continue;
      const e = entry as DrillEntry & { message: NonNullable<DrillEntry['message']> };
      await mailer.send(drillCopy(config, run, e, sent + 1, to, subjects));
      sent += 1;
    }
  } finally {
    mailer.close();
  }
  return sent;
}
