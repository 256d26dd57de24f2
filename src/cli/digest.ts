/** `incidesk digest …`: preview or send a manager digest, drop the digest caches. */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  buildDigest,
  digestOutboxId,
  digestRecipients,
  loadDigestInputs,
  queueDigest,
} from '../actions/digest.js';
import { loadConfig } from '../config.js';
import {
  DIGEST_PERIODS,
  periodContaining,
  previousWindow,
  type DigestPeriod,
} from '../domain/digest-schedule.js';
import { loadPlan } from '../plan/load.js';
import { dropReportCaches } from '../store/reporting.js';
import { EXIT } from './exit-codes.js';
import { withAppContext } from './app-context.js';
import { NotFoundError, print, withStore } from './shared.js';

interface DigestOptions {
  manager: string;
  period: DigestPeriod;
  at?: string;
  html?: string;
  png?: string;
}

function parseAt(at: string | undefined): Date {
  if (at === undefined) return new Date();
  const d = new Date(at);
  if (Number.isNaN(d.getTime()))
    throw new CommanderError(EXIT.usage, 'incidesk.badDate', `not a date: ${at}`);
  return d;
}

async function prepare(opts: DigestOptions) {
  const config = loadConfig();
  const plan = await loadPlan(config.planPath);
  const who = opts.manager.toLowerCase();
  const recipient = digestRecipients(plan).find(
    (r) => r.agent.email === who || r.agent.id === who,
  ) ?? {
    // Anyone in the plan can be previewed; a non-recipient gets the organisation-wide digest.
    agent: plan.agents.find((a) => a.email === who || a.id === who),
    schedule: { hour: 7, timezone: plan.timezone, periods: [opts.period] },
    groups: null,
  };
  if (!recipient.agent) throw new NotFoundError(`no agent ${opts.manager} in the plan`);
  const now = parseAt(opts.at);
  // The digest a recipient would get next after `at`: the last complete period before it.
  const window = previousWindow(periodContaining(opts.period, now, recipient.schedule.timezone));
  return { config, plan, recipient: { ...recipient, agent: recipient.agent }, now, window };
}

const periodOption = () =>
  new Option('--period <period>', 'which digest')
    .choices([...DIGEST_PERIODS])
    .default('daily' as DigestPeriod);

export function registerDigestCommands(program: Command): void {
  const digest = program.command('digest').description('manager digests');

  digest
    .command('preview')
    .description('print a digest (the last complete period before --at) without sending it')
    .requiredOption('--manager <email>', 'the recipient (email or agent id)')
    .addOption(periodOption())
    .option('--at <iso>', 'as if it were this instant (default: now)')
    .option('--html <file>', 'also write the HTML part here')
    .option('--png <file>', 'also write the chart image here')
    .action(async (opts: DigestOptions) => {
      const { config, plan, recipient, now, window } = await prepare(opts);
      const built = await withStore(async () =>
        buildDigest({ config, plan }, recipient, await loadDigestInputs(window, now), now),
      );
      if (opts.html) writeFileSync(opts.html, built.rendered.html);
      if (opts.png && built.chart) writeFileSync(opts.png, built.chart);
      print(`Subject: ${built.rendered.subject}\n`);
      print(built.rendered.text.trimEnd());
    });

  digest
    .command('send')
    .description('queue a digest now (once per recipient and period, like the scheduled one)')
    .requiredOption('--manager <email>', 'the recipient (email or agent id)')
    .addOption(periodOption())
    .option('--at <iso>', 'as if it were this instant (default: now)')
    .action(async (opts: DigestOptions) => {
      const { recipient, now, window } = await prepare(opts);
      const id = digestOutboxId(recipient.agent.id, window);
      const queued = await withAppContext(
        async (ctx) =>
          queueDigest(
            ctx,
            id,
            recipient.agent.email,
            buildDigest(ctx, recipient, await loadDigestInputs(window, now), now),
          ),
        () => now,
      );
      print(queued ? `queued ${id}` : `${id} was already sent`);
    });

  digest
    .command('rebuild-projection')
    .description(
      'drop the cached days digests keep; they are recomputed from the incidents when next read',
    )
    .action(async () => {
      const days = await withStore(() => dropReportCaches());
      print(`dropped ${days} cached days; digests read the incidents and cache settled days again`);
    });
}
