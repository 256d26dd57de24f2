/** `incidesk known-errors`: record underlying causes with workaround and fix, link incidents. */
import { CommanderError, Option, type Command } from 'commander';
import { queueIndex } from '../actions/search.js';
import {
  formatKnownErrorId,
  KNOWN_ERROR_STATUSES,
  parseKnownErrorId,
  type KnownErrorStatus,
} from '../domain/known-errors.js';
import { formatIncidentId, parseIncidentArgument } from '../domain/tokens.js';
import { appendTimeline, findIncident } from '../store/incidents.js';
import {
  createKnownError,
  findKnownError,
  fixKnownError,
  linkIncidentToKnownError,
  listKnownErrors,
} from '../store/known-errors.js';
import type { KnownErrorDoc } from '../store/models.js';
import { EXIT } from './exit-codes.js';
import { withIndexQueue } from './search.js';
import { NotFoundError, print, withStore } from './shared.js';
import { alignedTable } from './format.js';

function keNumber(id: string): number {
  const n = parseKnownErrorId(id);
  if (n === null)
    throw new CommanderError(EXIT.usage, 'incidesk.badId', `not a known error id: ${id}`);
  return n;
}

function incidentNumber(id: string): number {
  const n = parseIncidentArgument(id);
  if (n === null)
    throw new CommanderError(EXIT.usage, 'incidesk.badId', `not an incident id: ${id}`);
  return n;
}

/** The search index follows the known error's text (through the serialised index queue). */
const reindex = (n: number, cause: string) =>
  withIndexQueue((queue) =>
    queueIndex({ queues: { index: queue } }, { kind: 'known-error', id: n }, cause),
  );

function detail(ke: KnownErrorDoc): string {
  return [
    `${formatKnownErrorId(ke._id)}  ${ke.title}`,
    `status:     ${ke.status}${ke.fixedAt ? ` (fixed ${new Date(ke.fixedAt).toISOString().slice(0, 10)})` : ''}`,
    `cause:      ${ke.cause || '-'}`,
    `workaround: ${ke.workaround || '-'}`,
    `fix:        ${ke.fix || '-'}`,
    `incidents:  ${ke.incidents.map(formatIncidentId).join(', ') || '-'}`,
  ].join('\n');
}

function table(rows: readonly KnownErrorDoc[]): string {
  const lines = rows.map((k) => [
    formatKnownErrorId(k._id),
    k.status,
    String(k.incidents.length),
    k.title,
  ]);
  const header = ['ID', 'STATUS', 'INCIDENTS', 'TITLE'];
  return alignedTable(header, lines);
}

export function registerKnownErrorCommands(program: Command): void {
  const ke = program
    .command('known-errors')
    .description('known errors: underlying causes with workaround and fix');

  ke.command('add')
    .description('record a known error')
    .requiredOption('--title <text>', 'what it is, in a line')
    .option('--cause <text>', 'the underlying cause', '')
    .option('--workaround <text>', 'how to get a customer going meanwhile', '')
    .option('--fix <text>', 'the permanent fix (if known)', '')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        title: string;
        cause: string;
        workaround: string;
        fix: string;
        json?: boolean;
      }) => {
        const created = await withStore(() =>
          createKnownError({
            title: opts.title,
            cause: opts.cause,
            workaround: opts.workaround,
            fix: opts.fix,
          }),
        );
        await reindex(created._id, 'created');
        print(
          opts.json
            ? JSON.stringify(created, null, 2)
            : `${formatKnownErrorId(created._id)} recorded`,
        );
      },
    );

  ke.command('list')
    .description('all known errors')
    .addOption(new Option('--status <status>', 'only these').choices([...KNOWN_ERROR_STATUSES]))
    .option('--json', 'machine-readable output')
    .action(async (opts: { status?: KnownErrorStatus; json?: boolean }) => {
      const rows = await withStore(() => listKnownErrors({ status: opts.status }));
      print(
        opts.json ? JSON.stringify(rows, null, 2) : rows.length ? table(rows) : 'no known errors',
      );
    });

  ke.command('show <id>')
    .description('one known error, e.g. KE-0001')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      const n = keNumber(id);
      const found = await withStore(() => findKnownError(n));
      if (!found) throw new NotFoundError(`no known error ${id}`);
      print(opts.json ? JSON.stringify(found, null, 2) : detail(found));
    });

  ke.command('link <id> <incident>')
    .description('record that the known error explains an incident')
    .action(async (id: string, incidentId: string) => {
      const n = keNumber(id);
      const number = incidentNumber(incidentId);
      const linked = await withStore(async () => {
        if (!(await findIncident(number))) throw new NotFoundError(`no incident ${incidentId}`);
        const ke = await linkIncidentToKnownError(n, number);
        if (!ke) throw new NotFoundError(`no known error ${id}`);
        await appendTimeline(number, {
          _id: `known-error-${number}-cli-${formatKnownErrorId(n)}`,
          at: new Date(),
          type: 'event',
          event: 'known-error-linked',
          detail: { knownError: formatKnownErrorId(n), by: 'cli' },
        });
        return ke;
      });
      print(`${formatIncidentId(number)} linked to ${formatKnownErrorId(linked._id)}`);
    });

  ke.command('fix <id>')
    .description('mark the known error fixed, optionally recording the fix')
    .option('--fix <text>', 'the permanent fix')
    .action(async (id: string, opts: { fix?: string }) => {
      const n = keNumber(id);
      const fixed = await withStore(() => fixKnownError(n, opts.fix, new Date()));
      if (!fixed) throw new NotFoundError(`no known error ${id}`);
      await reindex(n, `fixed-${Date.now()}`);
      print(`${formatKnownErrorId(n)} fixed`);
    });
}
