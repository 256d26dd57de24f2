/** Human-readable renderings for the CLI (JSON output is the documents themselves). */
import { describeAttachment, type AttachmentInfo } from '../domain/attachments.js';
import { formatIncidentId } from '../domain/tokens.js';
import type { IncidentDoc, TimelineDoc } from '../store/models.js';

const day = (d?: Date | null) =>
  d ? new Date(d).toISOString().replace('T', ' ').slice(0, 16) : '-';

/** Timeline times to the second: several entries often fall in the same minute. */
const time = (d?: Date | null) =>
  d ? new Date(d).toISOString().replace('T', ' ').slice(0, 19) : '-';

/** Columns padded to their widest cell, two spaces apart: every CLI table looks the same. */
export function alignedTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((l) => l[c]!.length)));
  return [header, ...rows]
    .map((l) =>
      l
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function incidentTable(rows: readonly IncidentDoc[]): string {
  const header = [
    'ID',
    'STATUS',
    'PRIO',
    'GROUP',
    'ASSIGNEE',
    'CUSTOMER',
    'MSGS',
    'OPENED',
    'SUBJECT',
  ];
  const lines = rows.map((i) => [
    formatIncidentId(i.number),
    i.status,
    i.priority ?? '-',
    i.group ?? '-',
    i.assignee ?? '-',
    i.customer.address,
    String(i.messageCount ?? 0),
    day(i.createdAt as Date | undefined),
    i.subject.length > 60 ? `${i.subject.slice(0, 59)}…` : i.subject,
  ]);
  return alignedTable(header, lines);
}

export function incidentDetail(
  incident: IncidentDoc,
  timeline: readonly TimelineDoc[],
  attachments: readonly AttachmentInfo[] = [],
): string {
  const byId = new Map(attachments.map((a) => [a.id, a]));
  const out = [
    `${formatIncidentId(incident.number)}  ${incident.subject}`,
    `status:       ${incident.status}`,
    `customer:     ${incident.customer.name ? `${incident.customer.name} <${incident.customer.address}>` : incident.customer.address}${incident.locale ? `   mail in: ${incident.locale}` : ''}`,
    `priority:     ${incident.priority ?? '-'} (impact ${incident.impact ?? '-'}, urgency ${incident.urgency ?? '-'}, category ${incident.category ?? '-'})`,
    `group:        ${incident.group ?? '-'}   assignee: ${incident.assignee ?? '-'}`,
    `participants: ${incident.participants.join(', ')}`,
    `opened:       ${day(incident.createdAt as Date | undefined)}   messages: ${incident.messageCount ?? 0}`,
    ...(incident.automatic ? [`automatic:    ${incident.automatic}`] : []),
    ...(incident.resolution?.cause
      ? [
          `resolution:   cause: ${incident.resolution.cause}; fix: ${incident.resolution.fix ?? '-'}; workaround: ${incident.resolution.workaround ?? '-'}`,
        ]
      : []),
    ...(incident.linkedTo ? [`continues:    ${formatIncidentId(incident.linkedTo)}`] : []),
    ...(incident.mergedInto ? [`merged into:  ${formatIncidentId(incident.mergedInto)}`] : []),
    ...(incident.parent ? [`part of:      ${formatIncidentId(incident.parent)}`] : []),
    ...(incident.children?.length
      ? [`grouped:      ${incident.children.map(formatIncidentId).join(', ')}`]
      : []),
    ...(incident.duplicateOf?.length
      ? [`duplicate of: ${incident.duplicateOf.map(formatIncidentId).join(', ')} (possibly)`]
      : []),
    '',
    'timeline:',
  ];
  // Every entry, every line of every message: `show` is the incident's whole record.
  for (const e of timeline) {
    // Entries of incidents merged into this one say where they came from.
    const from =
      e.incidentNumber !== incident.number ? `  (${formatIncidentId(e.incidentNumber)})` : '';
    if (e.type === 'message') {
      const outbound = e.direction === 'outbound';
      const to = e.to?.length ? ` to ${e.to.join(', ')}` : '';
      const tags = [
        outbound && e.event ? e.event : '',
        e.automatic ? `automatic: ${e.automatic}` : '',
        e.unverified?.reason ? `unverified sender: ${e.unverified.reason}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      out.push(
        `  ${time(e.at)}  ${outbound ? '→' : '←'} from ${e.from ?? '-'}${to}${tags ? ` [${tags}]` : ''}${from}`,
      );
      if (e.subject) out.push(`      subject: ${e.subject}`);
      const body = (e.text ?? '').replace(/\s+$/, '');
      if (body) out.push(...body.split(/\r?\n/).map((l) => `      ${l}`));
      else out.push('      (no new text)');
      for (const id of e.attachmentIds ?? []) {
        const a = byId.get(id);
        out.push(
          `      attachment ${a ? describeAttachment(a) : `${id} (missing from the store)`}`,
        );
      }
    } else {
      out.push(
        `  ${time(e.at)}  • ${e.event}${e.detail ? ` ${JSON.stringify(e.detail)}` : ''}${from}`,
      );
      if (e.text) out.push(...e.text.split(/\r?\n/).map((l) => `      ${l}`));
    }
  }
  return out.join('\n');
}
