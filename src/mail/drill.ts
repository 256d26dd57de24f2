/**
 * `incidesk drill --mail-to ADDRESS`: a copy of each message a drill would send, to that one
 * mailbox only, marked as a drill in the subject ([DRILL]) and in a header
 * (X-Incidesk-Drill: yes), rendered from templates/drill.text.hbs.
 */
import { domainOf } from '../domain/address.js';
import type { Config } from '../config.js';
import type { DrillEntry, DrillRun } from '../domain/drill.js';
import type { OutboxDoc } from '../store/models.js';
import { render } from './templates.js';

export const DRILL_HEADER = 'X-Incidesk-Drill';

/** The drill copy of `entry`'s message, the `n`-th of run `runId`. */
export function drillCopy(
  config: Pick<Config, 'mailboxes'>,
  run: Pick<DrillRun, 'scenario' | 'start' | 'entries'> & { _id: string },
  entry: DrillEntry & { message: NonNullable<DrillEntry['message']> },
  n: number,
  to: string,
  subjects: ReadonlyMap<string, string>,
): OutboxDoc {
  const box = config.mailboxes[0]!;
  const { message } = entry;
  const at = new Date(run.start.getTime() + entry.minute * 60_000);
  const { text } = render('drill', {
    scenario: run.scenario,
    run: run._id,
    minute: entry.minute,
    at,
    timeZone: 'UTC',
    incident: entry.incident,
    subject: subjects.get(entry.incident) ?? '',
    template: message.template,
    to: message.to.join(', '),
    others: message.recipients - message.to.length,
    event: entry.event,
    text: entry.text,
    supportName: box.supportName,
  });
  const domain = domainOf(box.supportAddress);
  return {
    _id: `${run._id}-${n}`,
    kind: 'drill',
    incidentNumber: 0,
    to,
    from: box.supportAddress,
    messageId: `<${run._id}.${n}@${domain}>`,
    subject: `[DRILL] ${run.scenario}: ${message.template} to ${message.to[0]}${message.recipients > 1 ? ` (+${message.recipients - 1})` : ''} at +${entry.minute}m`,
    text,
    headers: { [DRILL_HEADER]: 'yes', 'Auto-Submitted': 'auto-generated' },
    attachmentIds: [],
    state: 'pending',
  } as unknown as OutboxDoc;
}
