/**
 * Retention from the command line: `maintenance run`, legal holds and the incident archive.
 * Run `incidesk maintenance run` from cron (or a systemd timer), e.g. nightly: each run is
 * idempotent and completes whatever an interrupted run left.
 */
import { userInfo } from 'node:os';
import { CommanderError, type Command } from 'commander';
import { loadConfig } from '../config.js';
import { formatIncidentId, parseIncidentArgument } from '../domain/tokens.js';
import { createLogger } from '../log.js';
import { loadPlan } from '../plan/load.js';
import {
  isArchived,
  isHot,
  listHolds,
  moveIncidents,
  placeHold,
  releaseHold,
} from '../store/archive.js';
import { recentRuns, runMaintenance, type MaintenanceCounts } from '../store/maintenance.js';
import { EXIT } from './exit-codes.js';
import { NotFoundError, print, withStore } from './shared.js';

/** print, typed for `return say(...)` in actions (which must return void). */
const say = (s: string): void => void print(s);

function incidentNumber(id: string): number {
  const n = parseIncidentArgument(id);
  if (n === null)
    throw new CommanderError(EXIT.usage, 'incidesk.badId', `not an incident id: ${id}`);
  return n;
}

const LABELS: Record<keyof MaintenanceCounts, string> = {
  archivedIncidents: 'closed incidents archived',
  archivedTimelineEntries: 'timeline entries archived',
  purgedRawMessages: 'raw messages of long-closed incidents purged',
  purgedQuarantinedRawMessages: 'quarantined raw messages purged',
  purgedAttachments: 'attachments of purged messages purged',
  purgedSentOutbox: 'sent outbox records purged',
  deletedBlobs: 'blobs deleted (purged or unreferenced)',
  deletedOrphanChunks: 'orphan GridFS chunks deleted',
  orphanAttachments: 'attachments without a raw message deleted',
  trimmedAckAddresses: 'addresses with expired acknowledgement history trimmed',
  keptByHold: 'records kept by a legal hold',
  droppedObsoleteCollections: 'collections of earlier releases dropped',
  droppedObsoleteIndexes: 'indexes of earlier releases dropped',
};

export function registerMaintenanceCommands(program: Command): void {
  const maintenance = program
    .command('maintenance')
    .description('retention: archive closed incidents, purge and consolidate old data');

  maintenance
    .command('run')
    .description("archive and purge by the plan's `retention`; safe to interrupt and rerun")
    .option('--dry-run', 'report what would be done, change nothing (still recorded)')
    .option('--json', 'machine-readable report')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const plan = await loadPlan(config.planPath);
      const log = createLogger(config.logLevel, process.stderr); // stdout is the report
      const report = await withStore(() =>
        runMaintenance({
          policy: plan.retention,
          now: new Date(),
          dryRun: opts.dryRun ?? false,
          log,
        }),
      );
      if (opts.json) return say(JSON.stringify(report));
      const verb = report.dryRun ? 'would be' : 'were';
      print(
        [
          `maintenance ${report.dryRun ? 'dry run' : 'run'} ${report.runId} (${report.finishedAt.getTime() - report.startedAt.getTime()} ms; recorded in maintenance_runs)`,
          ...Object.entries(report.counts).map(
            ([k, v]) =>
              `  ${String(v).padStart(7)}  ${LABELS[k as keyof MaintenanceCounts].replace(/ (archived|purged|deleted|trimmed|dropped)$/, ` ${verb} $1`)}`,
          ),
        ].join('\n'),
      );
    });

  maintenance
    .command('history')
    .description('the latest maintenance runs and what they did')
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 10)
    .action(async (opts: { limit: number }) => {
      const runs = await withStore(() => recentRuns(opts.limit));
      print(runs.length ? runs.map((r) => JSON.stringify(r)).join('\n') : 'no maintenance runs');
    });

  program
    .command('hold')
    .description(
      'legal hold: `hold INC-x --reason "..."` places one, `hold release INC-x` lifts it, `hold list`',
    )
    .argument('<action-or-id>', 'an incident id, `release` or `list`')
    .argument('[id]', 'the incident, after `release`')
    .option('--reason <text>', 'why the incident must be kept (required to place a hold)')
    .action(async (first: string, second: string | undefined, opts: { reason?: string }) => {
      if (first === 'list') {
        const holds = await withStore(listHolds);
        return say(
          holds.length
            ? holds
                .map(
                  (h) =>
                    `${formatIncidentId(h._id)}  ${h.at.toISOString()}  ${h.by ?? '-'}  ${h.reason}`,
                )
                .join('\n')
            : 'no legal holds',
        );
      }
      if (first === 'release') {
        if (!second)
          throw new CommanderError(
            EXIT.usage,
            'incidesk.usage',
            'hold release needs an incident id',
          );
        const n = incidentNumber(second);
        const released = await withStore(() => releaseHold(n));
        if (!released) throw new NotFoundError(`no legal hold on ${formatIncidentId(n)}`);
        return say(`legal hold on ${formatIncidentId(n)} released`);
      }
      const n = incidentNumber(first);
      if (!opts.reason?.trim())
        throw new CommanderError(EXIT.usage, 'incidesk.usage', 'a legal hold needs --reason "..."');
      await withStore(async () => {
        if (!(await isHot(n)) && !(await isArchived(n)))
          throw new NotFoundError(`no incident ${formatIncidentId(n)}`);
        await placeHold(n, opts.reason!.trim(), userInfo().username, new Date());
      });
      print(`legal hold on ${formatIncidentId(n)}: never archived or purged until released`);
    });

  const archive = program.command('archive').description('the archive of closed incidents');
  archive
    .command('restore <id>')
    .description('move an archived incident and its timeline back to the hot collections')
    .action(async (id: string) => {
      const n = incidentNumber(id);
      const moved = await withStore(async () => {
        // Also finishes a restore that was interrupted after the incident was copied back.
        if (!(await isArchived(n))) {
          if (await isHot(n)) return null;
          throw new NotFoundError(`no archived incident ${formatIncidentId(n)}`);
        }
        return moveIncidents([n], 'restore', new Date());
      });
      print(
        moved
          ? `${formatIncidentId(n)} restored from the archive with ${moved.timeline} timeline entries (its retention period starts again now)`
          : `${formatIncidentId(n)} is not archived`,
      );
    });
}
