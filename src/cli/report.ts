/** `incidesk report`: incidents opened in a period, with filters and a summary. */
import { CommanderError, Option, type Command } from 'commander';
import { REPORT_FORMATS, renderReport, summarise, type ReportFormat } from '../domain/report.js';
import { incidentsForReport } from '../store/reports.js';
import { INCIDENT_STATUSES } from '../store/models.js';
import { EXIT } from './exit-codes.js';
import { print, withStore } from './shared.js';

/** YYYY-MM-DD (a whole UTC day) or a full ISO timestamp. */
export function parseReportDate(text: string, end: boolean): Date {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const d = new Date(dateOnly ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(text))
    throw new CommanderError(
      EXIT.usage,
      'incidesk.badDate',
      `not a date: ${text} (use YYYY-MM-DD)`,
    );
  // --to 2026-11-30 includes that whole day.
  return dateOnly && end ? new Date(d.getTime() + 86_400_000) : d;
}

/** Without dates a report covers seven whole UTC days: today and the six before it. */
const DEFAULT_REPORT_DAYS = 7;

interface ReportOptions {
  from?: string;
  to?: string;
  group?: string;
  priority?: string;
  category?: string;
  customer?: string;
  status?: string;
  format: ReportFormat;
}

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description('incidents opened in a period, with counts and mean time to resolve')
    .option(
      '--from <date>',
      'first day (YYYY-MM-DD, UTC) or ISO timestamp (default: six days before --to)',
    )
    .option(
      '--to <date>',
      'last day, included (YYYY-MM-DD) or exclusive ISO timestamp (default: today)',
    )
    .option('--group <id>', 'only this group')
    .addOption(new Option('--priority <p>', 'only this priority').choices(['P1', 'P2', 'P3', 'P4']))
    .option('--category <name>', 'only this category')
    .option('--customer <address|domain>', 'only this customer address or domain')
    .addOption(new Option('--status <status>', 'only this status').choices([...INCIDENT_STATUSES]))
    .addOption(
      new Option('--format <format>', 'output format')
        .choices([...REPORT_FORMATS])
        .default('table'),
    )
    .action(async (opts: ReportOptions) => {
      const today = new Date().toISOString().slice(0, 10);
      const to = parseReportDate(opts.to ?? today, true);
      const from = opts.from
        ? parseReportDate(opts.from, false)
        : new Date(to.getTime() - DEFAULT_REPORT_DAYS * 86_400_000);
      if (to <= from)
        throw new CommanderError(EXIT.usage, 'incidesk.badDate', '--to must be after --from');
      const filters: Record<string, string> = {};
      for (const key of ['group', 'priority', 'category', 'customer', 'status'] as const)
        if (opts[key]) filters[key] = opts[key];
      const incidents = await withStore(() => incidentsForReport({ from, to, ...filters }));
      print(
        renderReport({ from, to, filters, summary: summarise(incidents), incidents }, opts.format),
      );
    });
}
