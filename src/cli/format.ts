/** Human-readable renderings for the CLI (JSON output is the documents themselves). */
import { describeAttachment, type AttachmentInfo } from '../domain/attachments.js';
import type { DrillEntry, DrillIncidentOutcome, Finding } from '../domain/drill.js';
import { formatIncidentId } from '../domain/tokens.js';
import type { IncidentDoc, TimelineDoc } from '../store/models.js';
import type { Delivery } from '../store/outbox.js';

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

/**
 * An outbound mail is on the timeline from the moment it is decided: say so while it is not
 * sent (nothing when it went, or its outbox record is gone, which only happens once sent).
 */
function notDelivered(delivery: Delivery | undefined): string {
  if (delivery?.state === 'pending') return 'not sent yet';
  if (delivery?.state === 'failed') return `not delivered: ${delivery.lastError ?? 'failed'}`;
  return '';
}

export function incidentDetail(
  incident: IncidentDoc,
  timeline: readonly (TimelineDoc & { delivery?: Delivery })[],
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
        outbound ? notDelivered(e.delivery) : '',
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

/** A drill run as `incidesk drill` prints it: the timeline minute by minute, then the gaps. */
export function drillReport(run: {
  _id: string;
  scenario: string;
  plan: string;
  start: Date;
  minutes: number;
  entries: readonly DrillEntry[];
  findings: readonly Finding[];
  incidents: readonly DrillIncidentOutcome[];
  mailedTo?: string | null;
}): string {
  const start = new Date(run.start);
  const clock = (m: number) => day(new Date(start.getTime() + m * 60_000)).slice(11);
  const width = Math.max(0, ...run.entries.map((e) => e.incident.length));
  const out = [
    `drill ${run._id}: ${run.scenario}`,
    `plan ${run.plan}; simulated from ${day(start)} UTC for ${run.minutes} minutes; no real mail, no real incident${run.mailedTo ? `; copies of the messages to ${run.mailedTo}` : ''}`,
    '',
  ];
  for (const e of run.entries) {
    out.push(
      `${`+${e.minute}m`.padStart(6)} ${clock(e.minute)}  ${e.incident.padEnd(width)}  ${e.event.padEnd(15)} ${e.text}`,
    );
    const m = e.message;
    if (m)
      out.push(
        `${' '.repeat(16 + width)}→ ${m.template} to ${m.to.join(', ')}${m.recipients > m.to.length ? ` and ${m.recipients - m.to.length} more` : ''}`,
      );
  }
  out.push('', 'outcome:');
  for (const i of run.incidents)
    out.push(
      `  ${i.incident.padEnd(width)}  ${i.category} ${i.priority}, group ${i.group ?? '-'}, assignee ${i.assignee ?? 'nobody'}, ${i.resolvedAtMinute === null ? 'NOT resolved' : `resolved at +${i.resolvedAtMinute}m`}; SLA breached: ${i.breaches.join(', ') || 'none'}; escalation level ${i.escalationLevel}`,
    );
  out.push(
    '',
    run.findings.length ? `findings (${run.findings.length}):` : 'findings: none',
    ...run.findings.map((f) => `  - [${f.kind}] ${f.text}`),
  );
  return out.join('\n');
}

export function drillTable(
  rows: readonly {
    _id: string;
    ranAt: Date;
    scenario: string;
    plan: string;
    by?: string | null;
    findings?: unknown;
    mailedTo?: string | null;
  }[],
): string {
  return alignedTable(
    ['RUN', 'RAN', 'SCENARIO', 'PLAN', 'BY', 'FINDINGS', 'MAILED TO'],
    rows.map((r) => [
      r._id,
      day(r.ranAt),
      r.scenario,
      r.plan,
      r.by ?? '-',
      String((r.findings as unknown[] | undefined)?.length ?? 0),
      r.mailedTo ?? '-',
    ]),
  );
}
