/** `incidesk digest …`: preview or send a manager digest, drop the digest caches. */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  buildDigest,
  digestRecipients,
  loadDigestInputs,
  planExplicitDigest,
  queueDigest,
} from '../actions/digest.js';
import { loadConfig } from '../config.js';
import {
  parsePeriodSpec,
  periodContaining,
  periodOfDate,
  previousWindow,
  type DigestPeriod,
} from '../domain/digest-schedule.js';
import { loadPlan } from '../plan/load.js';
import { dropReportCaches } from '../store/reporting.js';
import { EXIT } from './exit-codes.js';
import { CliFailure, reporting, withAppContext } from './app-context.js';
import { NotFoundError, print, withStore } from './shared.js';

interface DigestOptions {
  manager: string;
  period: { period: DigestPeriod; date: string | null };
  at?: string;
  html?: string;
  png?: string;
  force?: boolean;
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
    schedule: { hour: 7, timezone: plan.timezone, periods: [opts.period.period] },
    groups: null,
  };
  if (!recipient.agent) throw new NotFoundError(`no agent ${opts.manager} in the plan`);
  const now = parseAt(opts.at);
  const zone = recipient.schedule.timezone;
  // The period asked for, or the digest a recipient would get next after `at`: the last
  // complete period before it.
  const { period, date } = opts.period;
  const window = date
    ? periodOfDate(period, date, zone)
    : previousWindow(periodContaining(period, now, zone));
  return { config, plan, recipient: { ...recipient, agent: recipient.agent }, now, window, zone };
}

const periodOption = () =>
  new Option(
    '--period <period>',
    'which digest: daily, weekly or monthly, optionally with a date in the period (daily:2026-12-05)',
  )
    .argParser((v) => {
      try {
        return parsePeriodSpec(v);
      } catch (err) {
        throw new CommanderError(EXIT.usage, 'incidesk.badPeriod', (err as Error).message);
      }
    })
    .default(parsePeriodSpec('daily'), 'daily');

export function registerDigestCommands(program: Command): void {
  const digest = program.command('digest').description('manager digests');

  digest
    .command('preview')
    .description(
      'print a digest (the period asked for, else the last complete one before --at) without sending it; --html writes a page with the chart inline to open in a browser',
    )
    .requiredOption('--manager <email>', 'the recipient (email or agent id)')
    .addOption(periodOption())
    .option('--at <iso>', 'as if it were this instant (default: now)')
    .option('--html <file>', 'also write the HTML part here')
    .option('--png <file>', 'also write the chart image here')
    .action(async (opts: DigestOptions) => {
      const { config, plan, recipient, now, window } = await prepare(opts);
      const built = await withStore(async () =>
        buildDigest({ config, plan }, recipient, await loadDigestInputs(window, now), now, {
          inlineChart: true,
          preview: window.end > now, // a period still running: say "so far"
        }),
      );
      if (opts.html) writeFileSync(opts.html, built.rendered.html);
      if (opts.png && built.chart) writeFileSync(opts.png, built.chart);
      print(`Subject: ${built.rendered.subject}\n`);
      print(built.rendered.text.trimEnd());
    });

  digest
    .command('send')
    .description(
      'send a digest now: with a date (--period daily:2026-12-05), that closed period (once, like the scheduled one; --force sends it again); without one, a preview of the running period so far, which does not replace the scheduled digest',
    )
    .requiredOption('--manager <email>', 'the recipient (email or agent id)')
    .addOption(periodOption())
    .option('--at <iso>', 'as if it were this instant (default: now)')
    .option('--force', 'send a closed period again even if it was already sent')
    .action((opts: DigestOptions) => reporting(() => send(opts)));

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

async function send(opts: DigestOptions): Promise<void> {
  const { recipient, now, zone } = await prepare(opts);
  const result = await withAppContext(
    async (ctx) => {
      let plan;
      try {
        plan = await planExplicitDigest(recipient.agent.id, opts.period, zone, now, opts.force);
      } catch (err) {
        if (err instanceof RangeError) throw new CliFailure(EXIT.usage, err.message);
        throw err;
      }
      const preview = plan.kind === 'preview';
      const built = await buildDigest(
        ctx,
        recipient,
        await loadDigestInputs(plan.window, now),
        now,
        {
          preview,
        },
      );
      const queued = await queueDigest(ctx, plan.id, recipient.agent.email, built, {
        log: plan.kind === 'period' && !plan.resend,
      });
      return { plan, queued };
    },
    () => now,
  );
  const { plan, queued } = result;
  if (queued)
    print(
      plan.kind === 'preview'
        ? `queued ${plan.id} (a preview so far; the scheduled digest is still sent)`
        : `queued ${plan.id}`,
    );
  else print(`${plan.id} was already sent; --force sends it again`);
}
