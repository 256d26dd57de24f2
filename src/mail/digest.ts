/**
 * Renders a digest model as a plain-text part and an HTML part that survives Gmail and
 * Outlook: tables for layout, inline styles only, no external CSS, no scripts; the chart is an
 * inline image referenced by its Content-ID.
 */
import { DateTime } from 'luxon';
import type { DigestModel, TimeStats, Compliance, Breakdown } from '../domain/digest.js';
import type { PeriodWindow } from '../domain/digest-schedule.js';
import { formatIncidentId } from '../domain/tokens.js';

export interface RenderOptions {
  organisation: string;
  recipientName: string;
  /** Where a reader goes to act on an incident (a mailto: into its thread). */
  linkFor: (incident: number) => string;
  /** The chart image's Content-ID (without cid:), when there is one. */
  chartCid?: string;
}

export interface RenderedDigest {
  subject: string;
  text: string;
  html: string;
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

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

export function renderDigest(m: DigestModel, o: RenderOptions, now: Date): RenderedDigest {
  const label = periodLabel(m.window);
  const scope = m.groups ? ` (${m.groups.join(', ')})` : '';
  const subject = `${TITLE[m.window.period]} digest${scope}: ${label}`;
  if (m.empty) {
    const line = `Nothing to report for ${label}${scope}: no new, resolved, open or overdue items.`;
    return {
      subject,
      text: `${line}\n`,
      html: page(o, subject, `<p style="margin:0;font-size:14px">${esc(line)}</p>`),
    };
  }
  return { subject, text: renderText(m, o, now), html: renderHtml(m, o, now, subject) };
}

// ---------------------------------------------------------------------------------------------
// Text

function renderText(m: DigestModel, o: RenderOptions, now: Date): string {
  const z = m.window.zone;
  const L: string[] = [];
  const t = m.totals;
  L.push(
    `${TITLE[m.window.period]} digest for ${o.recipientName}: ${periodLabel(m.window)} (${z})`,
  );
  L.push('');
  L.push(`New ${t.new}   Resolved ${t.resolved}   Open now ${t.open}`);
  L.push(
    `SLA: first response met ${pct(m.sla.response)}; resolution met ${pct(m.sla.resolution)}; breaches ${m.sla.breaches}`,
  );
  const stat = (name: string, s: TimeStats) =>
    `${name}: mean ${formatDuration(s.meanMs)} (${formatChange(s.meanChange)}), median ${formatDuration(s.medianMs)} (previous ${formatDuration(s.previousMedianMs)}), n=${s.count}`;
  L.push(stat('Time to acknowledge', m.ack));
  L.push(stat('Time to resolve', m.resolve));
  const table = (title: string, rows: Breakdown[]) => {
    L.push('', title, '  key        new  resolved  open');
    for (const r of rows)
      L.push(
        `  ${r.key.padEnd(9)} ${String(r.new).padStart(4)} ${String(r.resolved).padStart(9)} ${String(r.open).padStart(5)}`,
      );
  };
  table('By priority', m.byPriority);
  if (m.byGroup.length) table('By group', m.byGroup);
  const list = <T>(title: string, rows: T[], line: (r: T) => string) => {
    if (!rows.length) return;
    L.push('', title);
    for (const r of rows) L.push(`  ${line(r)}`);
  };
  list(
    'At risk of breaching in the next 24 hours',
    m.atRisk,
    (r) =>
      `${formatIncidentId(r.number)} ${r.priority ?? '-'} ${r.group ?? '-'} ${r.clock} due ${localTime(r.dueAt, z)} ${r.assignee ?? 'unassigned'}: ${r.subject}`,
  );
  list(
    'Breached',
    m.sla.breachedIncidents.slice(0, 20),
    (n) => `${formatIncidentId(n)} ${o.linkFor(n)}`,
  );
  list(
    'Oldest open',
    m.oldestOpen,
    (r) =>
      `${formatIncidentId(r.number)} ${r.priority ?? '-'} ${r.group ?? '-'} open ${age(r.createdAt, now)}: ${r.subject}`,
  );
  list('Top categories (new)', m.topCategories, (r) => `${r.key}: ${r.count}`);
  list('Top customers (new)', m.topCustomers, (r) => `${r.key}: ${r.count}`);
  list(
    'Overdue review actions',
    m.overdueActions,
    (a) =>
      `${formatIncidentId(a.incidentNumber)} ${a.owner}, due ${localTime(a.dueAt, z)}: ${a.text}`,
  );
  L.push('', 'Trend (new / resolved):');
  L.push(
    '  ' +
      m.trend.windows
        .map((w, i) => `${trendLabel(w)} ${m.trend.opened[i]}/${m.trend.resolved[i]}`)
        .join('  '),
  );
  L.push('', `-- ${o.organisation}`);
  return L.join('\n') + '\n';
}

/** The chart's x labels: MM-DD for days and weeks, MM for months. */
export function trendLabel(w: PeriodWindow): string {
  const s = DateTime.fromJSDate(w.start, { zone: w.zone });
  return w.period === 'monthly' ? s.toFormat('LL') : s.toFormat('LL-dd');
}

// ---------------------------------------------------------------------------------------------
// HTML

const FONT = 'font-family:Arial,Helvetica,sans-serif;color:#222222;';
const TD = `style="${FONT}font-size:13px;padding:4px 8px;border-bottom:1px solid #eeeeee"`;
const TDR = `style="${FONT}font-size:13px;padding:4px 8px;border-bottom:1px solid #eeeeee;text-align:right"`;
const TH = `style="${FONT}font-size:12px;padding:4px 8px;text-align:left;color:#666666;border-bottom:2px solid #dddddd"`;

function page(o: RenderOptions, title: string, body: string): string {
  return `<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><meta name="viewport" content="width=device-width"><title>${esc(title)}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f4f4"><tr><td align="center" style="padding:16px">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="background:#ffffff;border:1px solid #dddddd">
<tr><td style="${FONT}padding:16px 20px;background:#1f3a5f;color:#ffffff;font-size:18px;font-weight:bold">${esc(title)}</td></tr>
<tr><td style="${FONT}padding:16px 20px">${body}</td></tr>
<tr><td style="${FONT}padding:12px 20px;font-size:11px;color:#888888">${esc(o.organisation)} · sent to ${esc(o.recipientName)}</td></tr>
</table></td></tr></table></body></html>
`;
}

function section(title: string, inner: string): string {
  return `<h2 style="${FONT}font-size:15px;margin:20px 0 6px 0">${esc(title)}</h2>${inner}`;
}

function table(head: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = head.map((h) => `<th ${TH}>${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => `<td ${numeric[i] ? TDR : TD}>${c}</td>`).join('')}</tr>`)
    .join('');
  return `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>${th}</tr>${body}</table>`;
}

function renderHtml(m: DigestModel, o: RenderOptions, now: Date, subject: string): string {
  const z = m.window.zone;
  const link = (n: number) =>
    `<a href="${esc(o.linkFor(n))}" style="color:#1a5fb4">${formatIncidentId(n)}</a>`;
  const t = m.totals;
  const tile = (label: string, value: string) =>
    `<td width="25%" style="${FONT}padding:8px;text-align:center;border:1px solid #eeeeee"><div style="font-size:22px;font-weight:bold">${esc(value)}</div><div style="font-size:12px;color:#666666">${esc(label)}</div></td>`;
  const parts: string[] = [];
  parts.push(
    `<p style="${FONT}margin:0 0 12px 0;font-size:13px">${esc(periodLabel(m.window))} (${esc(z)}) for ${esc(o.recipientName)}</p>`,
  );
  parts.push(
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="4" border="0"><tr>${tile('new', String(t.new))}${tile('resolved', String(t.resolved))}${tile('open now', String(t.open))}${tile('SLA breaches', String(m.sla.breaches))}</tr></table>`,
  );
  parts.push(
    section(
      'SLA compliance',
      table(
        ['', 'met', 'mean', 'median', 'change (mean)'],
        [
          [
            'First response',
            esc(pct(m.sla.response)),
            esc(formatDuration(m.ack.meanMs)),
            esc(formatDuration(m.ack.medianMs)),
            esc(formatChange(m.ack.meanChange)),
          ],
          [
            'Resolution',
            esc(pct(m.sla.resolution)),
            esc(formatDuration(m.resolve.meanMs)),
            esc(formatDuration(m.resolve.medianMs)),
            esc(formatChange(m.resolve.meanChange)),
          ],
        ],
      ),
    ),
  );
  if (o.chartCid)
    parts.push(
      section(
        'Trend: new vs resolved',
        `<img src="cid:${esc(o.chartCid)}" width="560" height="200" alt="New and resolved incidents per ${m.window.period === 'monthly' ? 'month' : m.window.period === 'weekly' ? 'week' : 'day'}" style="display:block;border:0;width:560px;height:200px">`,
      ),
    );
  const breakdown = (rows: Breakdown[]) =>
    table(
      ['', 'new', 'resolved', 'open'],
      rows.map((r) => [esc(r.key), String(r.new), String(r.resolved), String(r.open)]),
      [false, true, true, true],
    );
  parts.push(section('By priority', breakdown(m.byPriority)));
  if (m.byGroup.length) parts.push(section('By group', breakdown(m.byGroup)));
  if (m.atRisk.length)
    parts.push(
      section(
        'At risk of breaching in the next 24 hours',
        table(
          ['incident', 'priority', 'group', 'clock', 'due', 'assignee', 'subject'],
          m.atRisk.map((r) => [
            link(r.number),
            esc(r.priority ?? '-'),
            esc(r.group ?? '-'),
            r.clock,
            esc(localTime(r.dueAt, z)),
            esc(r.assignee ?? 'unassigned'),
            esc(r.subject),
          ]),
        ),
      ),
    );
  if (m.sla.breachedIncidents.length)
    parts.push(
      section(
        'Breached in this period',
        `<p style="${FONT}font-size:13px;margin:0">${m.sla.breachedIncidents.slice(0, 30).map(link).join(', ')}${m.sla.breachedIncidents.length > 30 ? ` and ${m.sla.breachedIncidents.length - 30} more` : ''}</p>`,
      ),
    );
  if (m.oldestOpen.length)
    parts.push(
      section(
        'Oldest open incidents',
        table(
          ['incident', 'priority', 'group', 'open for', 'subject'],
          m.oldestOpen.map((r) => [
            link(r.number),
            esc(r.priority ?? '-'),
            esc(r.group ?? '-'),
            esc(age(r.createdAt, now)),
            esc(r.subject),
          ]),
        ),
      ),
    );
  const tops = (rows: { key: string; count: number }[]) =>
    rows.length
      ? table(
          ['', 'new'],
          rows.map((r) => [esc(r.key), String(r.count)]),
          [false, true],
        )
      : `<p style="${FONT}font-size:13px;margin:0">none</p>`;
  parts.push(section('Top categories', tops(m.topCategories)));
  parts.push(section('Top customers', tops(m.topCustomers)));
  if (m.overdueActions.length)
    parts.push(
      section(
        'Overdue review actions',
        table(
          ['incident', 'owner', 'due', 'action'],
          m.overdueActions.map((a) => [
            link(a.incidentNumber),
            esc(a.owner),
            esc(localTime(a.dueAt, z)),
            esc(a.text),
          ]),
        ),
      ),
    );
  return page(o, subject, parts.join('\n'));
}
