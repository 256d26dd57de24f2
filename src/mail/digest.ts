/**
 * Renders a digest model with the handlebars templates templates/digest.{text,html}.hbs and
 * their partials (templates/partials/digest-*.hbs). This file only turns the model into what
 * the templates show (formatted strings, table cells with their alignment, text tables
 * aligned by column width); the markup lives in the templates. The HTML survives Gmail and
 * Outlook: tables for layout, inline styles only, no external CSS, no scripts. The chart is
 * an inline image referenced by its Content-ID, or a data: URI in a preview.
 */
import { DateTime } from 'luxon';
import type { DigestModel, TimeStats, Compliance, Breakdown } from '../domain/digest.js';
import type { PeriodWindow } from '../domain/digest-schedule.js';
import { alignColumns, type Align } from '../domain/text-table.js';
import { formatIncidentId } from '../domain/tokens.js';
import { render } from './templates.js';

export interface RenderOptions {
  organisation: string;
  recipientName: string;
  /** Where a reader goes to act on an incident (a mailto: into its thread). */
  linkFor: (incident: number) => string;
  /** The chart image's Content-ID (without cid:), when there is one. */
  chartCid?: string;
  /** Or the chart itself as a data: URI (a preview opened in a browser). */
  chartDataUri?: string;
  /** The chart's CSS size (the image is larger, for high-resolution screens). */
  chartSize?: { width: number; height: number };
  /** A "so far" preview of a period still in progress: said in the subject and the text. */
  preview?: boolean;
  /** The plan's annual review is due soon or overdue: said at the top (src/domain/plan-review.ts). */
  planReview?: string | null;
}

export interface RenderedDigest {
  subject: string;
  text: string;
  html: string;
}

export function periodLabel(w: PeriodWindow): string {
  const s = DateTime.fromJSDate(w.start, { zone: w.zone });
  if (w.period === 'daily') return s.toFormat('ccc d LLL yyyy');
  if (w.period === 'weekly') return `week of ${s.toFormat('d LLL yyyy')}`;
  return s.toFormat('LLLL yyyy');
}

const TITLE = { daily: 'Daily', weekly: 'Weekly', monthly: 'Monthly' } as const;

/** 95 s → "1m 35s"; 5 h 3 m → "5h 3m"; 2 d 4 h → "2d 4h". */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '–';
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function formatChange(change: number | null): string {
  if (change === null) return 'no previous figure';
  const pct = Math.round(change * 100);
  return pct === 0 ? 'same as before' : `${pct > 0 ? '+' : ''}${pct}% vs previous`;
}

const pct = (c: Compliance) => (c.pct === null ? '–' : `${c.pct}% (${c.met}/${c.total})`);
const localTime = (d: Date, zone: string) =>
  DateTime.fromJSDate(d, { zone }).toFormat('ccc d LLL HH:mm');
const age = (from: Date, to: Date) => formatDuration(to.getTime() - from.getTime());

/** The chart's x labels: MM-DD for days and weeks, MM for months. */
export function trendLabel(w: PeriodWindow): string {
  const s = DateTime.fromJSDate(w.start, { zone: w.zone });
  return w.period === 'monthly' ? s.toFormat('LL') : s.toFormat('LL-dd');
}

// ---------------------------------------------------------------------------------------------
// The view the templates show

interface Column {
  label: string;
  align: Align;
  /** Ids, dates, numbers and durations never wrap. */
  nowrap: boolean;
}

interface Cell {
  text: string;
  href: string | null;
  right: boolean;
  nowrap: boolean;
}

/** One table, for both parts: cells for HTML, aligned lines for text. */
interface TableView {
  columns: { label: string; right: boolean; nowrap: boolean }[];
  rows: { cells: Cell[] }[];
  lines: string[];
}

const col = (label: string, align: Align = 'left', nowrap = align === 'right'): Column => ({
  label,
  align,
  nowrap,
});

function table(columns: Column[], rows: { text: string; href?: string }[][]): TableView {
  return {
    columns: columns.map((c) => ({ label: c.label, right: c.align === 'right', nowrap: c.nowrap })),
    rows: rows.map((r) => ({
      cells: r.map((cell, i) => ({
        text: cell.text,
        href: cell.href ?? null,
        right: columns[i]!.align === 'right',
        nowrap: columns[i]!.nowrap,
      })),
    })),
    lines: alignColumns(
      [columns.map((c) => c.label), ...rows.map((r) => r.map((c) => c.text))],
      columns.map((c) => c.align),
    ),
  };
}

const plain = (text: string) => ({ text });

/** [start, end) index ranges of at most `size` items. */
const chunks = (n: number, size: number): [number, number][] =>
  Array.from({ length: Math.ceil(n / size) }, (_, i) => [i * size, Math.min(n, (i + 1) * size)]);

/** How many breached incidents the HTML links to, and the text lists with their links. */
const BREACHED_LINKS = 30;
const BREACHED_LINES = 20;

/**
 * Every incident the rendered digest links to, so that only their links are made (a week's
 * breaches can be thousands; the mail links the first BREACHED_LINKS).
 */
export function linkedIncidents(m: DigestModel): number[] {
  return [
    ...new Set([
      ...m.atRisk.map((r) => r.number),
      ...m.sla.breachedIncidents.slice(0, BREACHED_LINKS),
      ...m.oldestOpen.map((r) => r.number),
      ...m.overdueActions.map((a) => a.incidentNumber),
    ]),
  ];
}

export function digestView(m: DigestModel, o: RenderOptions, now: Date) {
  const z = m.window.zone;
  const label = periodLabel(m.window);
  const scope = m.groups ? ` (${m.groups.join(', ')})` : '';
  const title = `${TITLE[m.window.period]} digest${scope}: ${label}`;
  const subject = o.preview ? `[Preview, so far] ${title}` : title;
  const asOf = o.preview
    ? ` so far, as of ${DateTime.fromJSDate(now, { zone: z }).toFormat('ccc d LLL HH:mm')}`
    : '';
  const inc = (n: number) => ({ text: formatIncidentId(n), href: o.linkFor(n) });
  const t = m.totals;
  const breakdown = (rows: Breakdown[]) =>
    table(
      [col(''), col('new', 'right'), col('resolved', 'right'), col('open', 'right')],
      rows.map((r) => [r.key, String(r.new), String(r.resolved), String(r.open)].map(plain)),
    );
  const tops = (name: string, rows: { key: string; count: number }[]) =>
    rows.length
      ? table(
          [col(name), col('new', 'right')],
          rows.map((r) => [plain(r.key), plain(String(r.count))]),
        )
      : null;
  const stat = (name: string, s: TimeStats) =>
    `${name}: mean ${formatDuration(s.meanMs)} (${formatChange(s.meanChange)}), median ${formatDuration(s.medianMs)} (previous ${formatDuration(s.previousMedianMs)}), n=${s.count}`;
  const chartSrc = o.chartDataUri ?? (o.chartCid ? `cid:${o.chartCid}` : null);
  const unit =
    m.window.period === 'monthly' ? 'month' : m.window.period === 'weekly' ? 'week' : 'day';
  const breached = m.sla.breachedIncidents;
  return {
    subject,
    title,
    preview: Boolean(o.preview),
    organisation: o.organisation,
    recipientName: o.recipientName,
    empty: m.empty,
    planReview: o.planReview ?? null,
    emptyLine: `Nothing to report for ${label}${scope}${asOf}: no new, resolved, open or overdue items.`,
    heading: `${TITLE[m.window.period]} digest for ${o.recipientName}: ${label}${asOf} (${z})`,
    intro: `${label}${asOf} (${z}) for ${o.recipientName}`,
    tiles: [
      { label: 'new', value: String(t.new) },
      { label: 'resolved', value: String(t.resolved) },
      { label: 'open now', value: String(t.open) },
      { label: 'SLA breaches', value: String(m.sla.breaches) },
    ],
    totalsLine: `New ${t.new}   Resolved ${t.resolved}   Open now ${t.open}`,
    slaLine: `SLA: first response met ${pct(m.sla.response)}; resolution met ${pct(m.sla.resolution)}; breaches ${m.sla.breaches}`,
    ackLine: stat('Time to acknowledge', m.ack),
    resolveLine: stat('Time to resolve', m.resolve),
    sla: table(
      [
        col(''),
        col('met', 'right'),
        col('mean', 'right'),
        col('median', 'right'),
        col('change (mean)', 'right'),
      ],
      [
        ['First response', pct(m.sla.response), m.ack],
        ['Resolution', pct(m.sla.resolution), m.resolve],
      ].map(([name, met, s]) => {
        const ts = s as TimeStats;
        return [
          name as string,
          met as string,
          formatDuration(ts.meanMs),
          formatDuration(ts.medianMs),
          formatChange(ts.meanChange),
        ].map(plain);
      }),
    ),
    chart: chartSrc
      ? {
          src: chartSrc,
          width: o.chartSize?.width ?? 560,
          height: o.chartSize?.height ?? 200,
          alt: `New and resolved incidents per ${unit}`,
        }
      : null,
    /** Seven buckets per block: label, new, resolved, aligned under each other. */
    trendLines: chunks(m.trend.windows.length, 7).flatMap(([a, b], k) => [
      ...(k ? [''] : []),
      ...alignColumns(
        [
          ['', ...m.trend.windows.slice(a, b).map(trendLabel)],
          ['new', ...m.trend.opened.slice(a, b).map(String)],
          ['resolved', ...m.trend.resolved.slice(a, b).map(String)],
        ],
        ['left', ...Array<Align>(b - a).fill('right')],
      ).map((l) => `  ${l}`),
    ]),
    byPriority: breakdown(m.byPriority),
    byGroup: m.byGroup.length ? breakdown(m.byGroup) : null,
    atRisk: m.atRisk.length
      ? table(
          [
            col('incident', 'left', true),
            col('prio', 'left', true),
            col('group'),
            col('clock'),
            col('due', 'left', true),
            col('assignee'),
            col('subject'),
          ],
          m.atRisk.map((r) => [
            inc(r.number),
            plain(r.priority ?? '-'),
            plain(r.group ?? '-'),
            plain(r.clock),
            plain(localTime(r.dueAt, z)),
            plain(r.assignee ?? 'unassigned'),
            plain(r.subject),
          ]),
        )
      : null,
    breached: breached.length
      ? {
          links: breached
            .slice(0, BREACHED_LINKS)
            .map((n, i, all) => ({ ...inc(n), last: i === all.length - 1 })),
          more: Math.max(0, breached.length - BREACHED_LINKS),
          lines: breached
            .slice(0, BREACHED_LINES)
            .map((n) => `${formatIncidentId(n)} ${o.linkFor(n)}`),
        }
      : null,
    oldestOpen: m.oldestOpen.length
      ? table(
          [
            col('incident', 'left', true),
            col('prio', 'left', true),
            col('group'),
            col('open for', 'right'),
            col('subject'),
          ],
          m.oldestOpen.map((r) => [
            inc(r.number),
            plain(r.priority ?? '-'),
            plain(r.group ?? '-'),
            plain(age(r.createdAt, now)),
            plain(r.subject),
          ]),
        )
      : null,
    topCategories: tops('category', m.topCategories),
    topCustomers: tops('customer', m.topCustomers),
    overdueActions: m.overdueActions.length
      ? table(
          [col('incident', 'left', true), col('owner'), col('due', 'left', true), col('action')],
          m.overdueActions.map((a) => [
            inc(a.incidentNumber),
            plain(a.owner),
            plain(localTime(a.dueAt, z)),
            plain(a.text),
          ]),
        )
      : null,
  };
}
export type DigestView = ReturnType<typeof digestView>;

export function renderDigest(m: DigestModel, o: RenderOptions, now: Date): RenderedDigest {
  const view = digestView(m, o, now);
  const out = render('digest', view);
  return { subject: view.subject, text: out.text, html: out.html! };
}
