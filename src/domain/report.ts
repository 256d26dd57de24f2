/**
 * Incident reports: the rows, the summary (counts by status and priority, mean time to
 * resolve) and their renderings as an aligned table, CSV (RFC 4180), Markdown and JSON.
 */

export const REPORT_FORMATS = ['table', 'csv', 'json', 'markdown'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** What a report needs of an incident. */
export interface ReportIncident {
  number: number;
  subject: string;
  status: string;
  priority?: string | null;
  category?: string | null;
  group?: string | null;
  assignee?: string | null;
  customer: string;
  openedAt: Date;
  resolvedAt?: Date | null;
}

export interface ReportSummary {
  total: number;
  byStatus: Record<string, number>;
  byPriority: Record<string, number>;
  resolved: number;
  /** Mean of resolvedAt − openedAt over resolved incidents; null when none is resolved. */
  meanTimeToResolveMs: number | null;
}

export interface Report {
  from: Date;
  to: Date;
  filters: Record<string, string>;
  summary: ReportSummary;
  incidents: ReportIncident[];
}

export function summarise(rows: readonly ReportIncident[]): ReportSummary {
  const byStatus: Record<string, number> = {};
  const byPriority: Record<string, number> = {};
  let resolved = 0;
  let totalMs = 0;
  for (const r of rows) {
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const p = r.priority ?? 'none';
    byPriority[p] = (byPriority[p] ?? 0) + 1;
    if (r.resolvedAt) {
      resolved++;
      totalMs += r.resolvedAt.getTime() - r.openedAt.getTime();
    }
  }
  return {
    total: rows.length,
    byStatus,
    byPriority,
    resolved,
    meanTimeToResolveMs: resolved ? Math.round(totalMs / resolved) : null,
  };
}

/** 3d 4h 05m style; minutes are the smallest unit a report needs. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  const minutes = Math.round(ms / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return [d ? `${d}d` : '', d || h ? `${h}h` : '', `${String(m).padStart(d || h ? 2 : 1, '0')}m`]
    .filter(Boolean)
    .join(' ');
}

const iso = (d?: Date | null) => (d ? d.toISOString().replace('T', ' ').slice(0, 16) : '');
const incidentId = (n: number) => `INC-${String(n).padStart(6, '0')}`;

export const REPORT_COLUMNS = [
  'id',
  'opened',
  'status',
  'priority',
  'category',
  'group',
  'assignee',
  'customer',
  'resolved',
  'time_to_resolve',
  'subject',
] as const;

/** One incident as the report's cells, in REPORT_COLUMNS order. */
export function reportCells(r: ReportIncident): string[] {
  return [
    incidentId(r.number),
    iso(r.openedAt),
    r.status,
    r.priority ?? '',
    r.category ?? '',
    r.group ?? '',
    r.assignee ?? '',
    r.customer,
    iso(r.resolvedAt),
    r.resolvedAt ? formatDuration(r.resolvedAt.getTime() - r.openedAt.getTime()) : '',
    r.subject,
  ];
}

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, or starts or ends
 * with a space; quotes doubled. A leading =, +, - or @ is prefixed with ' so a spreadsheet
 * does not run a customer's subject as a formula.
 */
export function csvField(value: string): string {
  const v = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function toCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** A Markdown table cell: pipes and backslashes escaped, line breaks as <br>. */
export function markdownCell(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r\n|\r|\n/g, '<br>');
}

export function toMarkdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]) => `| ${cells.map(markdownCell).join(' | ')} |`;
  return [line(header), `|${header.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n');
}

/** Columns padded to their widest cell; line breaks inside a cell become spaces. */
export function toTextTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const clean = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ');
  const all = [header, ...rows].map((r) => r.map(clean));
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function summaryLines(report: Report): [string, string][] {
  const s = report.summary;
  const counts = (o: Record<string, number>) =>
    Object.entries(o)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '-';
  return [
    ['period', `${iso(report.from)} to ${iso(report.to)} (UTC)`],
    [
      'filters',
      Object.entries(report.filters)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || 'none',
    ],
    ['incidents', String(s.total)],
    ['by status', counts(s.byStatus)],
    ['by priority', counts(s.byPriority)],
    ['resolved', String(s.resolved)],
    ['mean time to resolve', formatDuration(s.meanTimeToResolveMs)],
  ];
}

/** The whole report in one format. CSV holds the rows only, so it stays one clean table. */
export function renderReport(report: Report, format: ReportFormat): string {
  const header = [...REPORT_COLUMNS];
  const rows = report.incidents.map(reportCells);
  switch (format) {
    case 'csv':
      return toCsv(header, rows);
    case 'json':
      return JSON.stringify(
        {
          ...report,
          incidents: report.incidents.map((r) => ({ ...r, id: incidentId(r.number) })),
        },
        null,
        2,
      );
    case 'markdown':
      return [
        '# Incident report',
        '',
        toMarkdownTable(['', 'value'], summaryLines(report)),
        '',
        rows.length ? toMarkdownTable(header, rows) : '_No incidents._',
      ].join('\n');
    case 'table':
      return [
        ...summaryLines(report).map(([k, v]) => `${`${k}:`.padEnd(22)}${v}`),
        '',
        rows.length ? toTextTable(header, rows) : 'no incidents',
      ].join('\n');
  }
}
