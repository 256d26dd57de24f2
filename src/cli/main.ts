#!/usr/bin/env node
/** The `incidesk` command. */
import { Command, CommanderError, Option } from 'commander';
import { startApp, type Role } from '../app.js';
import {
  checkMailboxGroups,
  ConfigError,
  loadConfig,
  loadEnvFile,
  redactedConfig,
} from '../config.js';
import { parseIncidentArgument } from '../domain/tokens.js';
import { createLogger } from '../log.js';
import { loadPlan, PlanError } from '../plan/load.js';
import {
  localisedNames,
  ownTemplateProblems,
  templateLocales,
  templateProblems,
} from '../mail/templates.js';
import { protocolGaps } from '../domain/protocols.js';
import { listIncidents } from '../store/incidents.js';
import { INCIDENT_STATUSES, type IncidentStatus } from '../store/models.js';
import { findIncidentRecord } from '../store/archive.js';
import { numberedAttachments } from '../store/attachments.js';
import { checkConnections, connectionExitCode, connectionLine } from '../ops/connections.js';
import { registerAttachmentCommands } from './attachments.js';
import { registerBackupCommands } from './backup.js';
import { registerDigestCommands } from './digest.js';
import { EXIT } from './exit-codes.js';
import { registerMaintenanceCommands } from './maintenance.js';
import { incidentDetail, incidentTable } from './format.js';
import { registerLinkCommands } from './links.js';
import { registerReviewCommands } from './review.js';
import { registerPlaybookCommands } from './playbook.js';
import { registerProtocolCommands } from './protocols.js';
import { registerPlanCommands } from './plan.js';
import { registerEvidenceCommands } from './evidence.js';
import { registerDrillCommands } from './drill.js';
import { registerDlqCommands } from './dlq.js';
import { registerStatusCommands } from './status.js';
import { registerAuditCommands } from './audit.js';
import { requireOperator } from './auth.js';
import { registerOperatorCommands } from './operator.js';
import { registerMailboxCommands } from './mailbox.js';
import { CliError, NotFoundError, print, withStore } from './shared.js';
import { registerSearchCommands } from './search.js';
import { registerReportCommands } from './report.js';
import { registerKnownErrorCommands } from './known-errors.js';
import { ENVIRONMENT_HELP, explainRequirements } from './help.js';

// `incidesk … | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

const program = new Command('incidesk')
  .description('Email-first incident management')
  .version('0.1.0')
  .option('--env-file <path>', 'read variables from this file (default: ./.env when present)')
  .exitOverride()
  .hook('preAction', (root: Command) => {
    const named = root.opts<{ envFile?: string }>().envFile;
    loadEnvFile(named ?? '.env', process.env, named !== undefined);
  })
  .hook('preAction', requireOperator)
  .addHelpText('after', ENVIRONMENT_HELP);

program
  .command('start')
  .description('run the IMAP intake and the workers (both by default)')
  .addOption(new Option('--only <role>', 'run only one role').choices(['intake', 'workers']))
  .action(async (opts: { only?: 'intake' | 'workers' }) => {
    const config = loadConfig();
    const plan = await loadPlan(config.planPath);
    const log = createLogger(config.logLevel);
    log.debug({ config: redactedConfig(config) }, 'configuration');
    const app = await startApp(config, plan, log, { role: (opts.only ?? 'all') as Role });
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(130);
        stopping = true;
        log.info({ signal }, 'stopping');
        void app.stop().then(resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    // Stopped. A worker the stop did not wait for (one whose Redis connection is down) still
    // holds timers that would keep the process alive: it ends here.
    process.exit(EXIT.ok);
  });

program
  .command('check')
  .description('validate the configuration and the incident response plan, then exit')
  .option('--connect', 'also sign in to MongoDB, Redis, IMAP (opening the mailbox) and SMTP')
  .action(async (opts: { connect?: boolean }) => {
    const config = loadConfig();
    const plan = await loadPlan(config.planPath);
    checkMailboxGroups(
      config,
      plan.groups.map((g) => g.id),
    );
    print(
      `configuration ok; plan ${config.planPath} ok (${plan.fingerprint}, ${plan.groups.length} groups, ${plan.agents.length} agents)`,
    );
    const templates = templateProblems(plan.locale, [
      ...plan.customers.flatMap((c) => (c.locale ? [c.locale] : [])),
      ...config.mailboxes.flatMap((m) => (m.locale ? [m.locale] : [])),
    ]);
    templates.errors.push(
      ...config.mailboxes.flatMap((m) => (m.templates ? ownTemplateProblems(m.templates) : [])),
    );
    for (const w of templates.warnings) print(`warning: ${w}`);
    for (const e of templates.errors) print(`error: ${e}`);
    if (templates.errors.length)
      throw new CliError(EXIT.config, 'customer mail templates are incomplete');
    print(`customer mail in ${templateLocales().join(', ')} (default ${plan.locale})`);
    for (const gap of protocolGaps(plan, localisedNames(plan.locale))) print(`warning: ${gap}`);
    if (!opts.connect) return;
    const results = await checkConnections(config);
    for (const r of results) print(connectionLine(r));
    process.exitCode = connectionExitCode(results);
  });

const incidents = program.command('incidents').description('list and show incidents');

incidents
  .command('list')
  .description('the most recent incidents')
  .addOption(
    new Option('--status <status>', 'only incidents in this status').choices([
      ...INCIDENT_STATUSES,
    ]),
  )
  .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 50)
  .option('--json', 'machine-readable output')
  .action(async (opts: { status?: IncidentStatus; limit: number; json?: boolean }) => {
    const rows = await withStore(() => listIncidents({ status: opts.status, limit: opts.limit }));
    print(
      opts.json
        ? JSON.stringify(rows, null, 2)
        : rows.length
          ? incidentTable(rows)
          : 'no incidents',
    );
  });

incidents
  .command('show <id>')
  .description('one incident with its whole timeline: 1, INC-1 or INC-000001')
  .option('--json', 'machine-readable output')
  .action(async (id: string, opts: { json?: boolean }) => {
    const number = parseIncidentArgument(id);
    if (number === null)
      throw new CommanderError(EXIT.usage, 'incidesk.badId', `not an incident id: ${id}`);
    const found = await withStore(async () => {
      const record = await findIncidentRecord(number);
      return record && { ...record, attachments: await numberedAttachments(record.timeline) };
    });
    if (!found) throw new NotFoundError(`no incident ${id}`);
    const archivedAt = found.incident.archivedAt;
    print(
      opts.json
        ? JSON.stringify(found, null, 2)
        : `${incidentDetail(found.incident, found.timeline, found.attachments)}${archivedAt ? `\n(archived ${archivedAt.toISOString()}; \`incidesk archive restore ${id}\` brings it back)` : ''}`,
    );
  });

registerAttachmentCommands(program);
registerReviewCommands(program);
registerPlaybookCommands(program);
registerProtocolCommands(program);
registerPlanCommands(program);
registerEvidenceCommands(program);
registerDrillCommands(program);
registerLinkCommands(program);
registerDlqCommands(program);
registerStatusCommands(program);
registerMailboxCommands(program);
registerBackupCommands(program);
registerMaintenanceCommands(program);
registerAuditCommands(program);
registerOperatorCommands(program);
registerDigestCommands(program);
registerSearchCommands(program);
registerReportCommands(program);
registerKnownErrorCommands(program);
explainRequirements(program);

function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CommanderError)
    return err.exitCode === 0
      ? EXIT.ok
      : err.code.startsWith('commander.')
        ? EXIT.usage
        : err.exitCode;
  if (err instanceof ConfigError || err instanceof PlanError) return EXIT.config;
  if (err instanceof NotFoundError) return EXIT.notFound;
  const name = (err as Error).name ?? '';
  if (
    /MongoServerSelectionError|MongoNetworkError|ECONNREFUSED/.test(
      `${name} ${(err as Error).message}`,
    )
  )
    return EXIT.unavailable;
  return EXIT.failure;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = exitCodeFor(err);
  if (!(err instanceof CommanderError))
    process.stderr.write(`incidesk: ${(err as Error).message}\n`);
  else if (err.code.startsWith('incidesk.')) process.stderr.write(`incidesk: ${err.message}\n`);
  process.exitCode = code;
}
