/** Human-readable renderings for the CLI (JSON output is the documents themselves). */
import { formatIncidentId } from '../domain/tokens.js';
import type { IncidentDoc, TimelineDoc } from '../store/models.js';

const day = (d?: Date | null) => (d ? new Date(d).toISOString().replace('T', ' ').slice(0, 16) : '-');

export function incidentTable(rows: readonly IncidentDoc[]): string {
  const header = ['ID', 'STATUS', 'CUSTOMER', 'MSGS', 'OPENED', 'SUBJECT'];
  const lines = rows.map((i) => [
    formatIncidentId(i.number),
    i.status,
    i.customer.address,
    String(i.messageCount ?? 0),
    day(i.createdAt as Date | undefined),
    i.subject.length > 60 ? `${i.subject.slice(0, 59)}…` : i.subject,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c]!.length)));
  return [header, ...lines].map((l) => l.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export function incidentDetail(incident: IncidentDoc, timeline: readonly TimelineDoc[]): string {
  const out = [
    `${formatIncidentId(incident.number)}  ${incident.subject}`,
    `status:       ${incident.status}`,
    `customer:     ${incident.customer.name ? `${incident.customer.name} <${incident.customer.address}>` : incident.customer.address}`,
    `participants: ${incident.participants.join(', ')}`,
    `opened:       ${day(incident.createdAt as Date | undefined)}   messages: ${incident.messageCount ?? 0}`,
    ...(incident.automatic ? [`automatic:    ${incident.automatic}`] : []),
    '',
    'timeline:',
  ];
  for (const e of timeline) {
    if (e.type === 'message') {
      const arrow = e.direction === 'outbound' ? '→' : '←';
      out.push(`  ${day(e.at)}  ${arrow} ${e.direction === 'outbound' ? `to ${e.to?.join(', ')}` : `from ${e.from}`}  ${e.subject ?? ''}`);
      const body = (e.text ?? '').trim();
      if (body) out.push(...body.split('\n').slice(0, 40).map((l) => `      ${l}`));
      if (e.attachmentIds?.length) out.push(`      [${e.attachmentIds.length} attachment(s)]`);
    } else {
      out.push(`  ${day(e.at)}  • ${e.event}${e.detail ? ` ${JSON.stringify(e.detail)}` : ''}`);
    }
  }
  return out.join('\n');
}
