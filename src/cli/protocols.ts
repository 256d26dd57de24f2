/**
 * `incidesk protocol …`: messages sent or held under communication protocols, from the command
 * line: what waits for approval, approving or rejecting it (the same action as the #approve /
 * #reject email commands), and the log of who was told what, when.
 */
import type { Command } from 'commander';
import { decideProtocolMessages } from '../actions/protocols.js';
import { roleOnIncident } from '../domain/access.js';
import { mayApprove, parseApprovalRef } from '../domain/protocols.js';
import { formatIncidentId } from '../domain/tokens.js';
import { findAgent } from '../plan/load.js';
import type { ProtocolMessageDoc } from '../store/models.js';
import { heldMessages, protocolMessagesOf } from '../store/protocols.js';
import { CliFailure, cliActor, reporting, withAppContext } from './app-context.js';
import { EXIT } from './exit-codes.js';
import { incidentArg, outcome } from './review.js';
import { print } from './shared.js';

const utc = (d: Date | null | undefined) =>
  d ? `${d.toISOString().replace('T', ' ').slice(0, 16)} UTC` : '-';

/** One message: when, its state, the moment, to whom, with which template. */
const messageLine = (m: ProtocolMessageDoc) =>
  [
    utc(m.releasedAt ?? m.createdAt),
    m.state.padEnd(8),
    m.ref,
    formatIncidentId(m.incidentNumber),
    m.protocol,
    `${m.moment}${m.moment === 'interval' ? ` #${m.occurrence}` : ''}`,
    m.audience,
    m.template,
    m.recipient + (m.to?.length ? ` (${m.to.join(', ')})` : ''),
    m.approvedBy ? `${m.state === 'rejected' ? 'rejected' : 'approved'} by ${m.approvedBy}` : '',
  ]
    .filter(Boolean)
    .join('  ');

function refArg(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  const parsed = parseApprovalRef(ref);
  if (!parsed) throw new CliFailure(EXIT.usage, `not a held message id (6 hex digits): ${ref}`);
  return parsed;
}

export function registerProtocolCommands(program: Command): void {
  const protocol = program
    .command('protocol')
    .description('messages under communication protocols: held ones, approval, the log');

  protocol
    .command('pending [id]')
    .description('messages waiting for approval (of one incident, or all)')
    .option('--json', 'machine-readable output')
    .action((id: string | undefined, opts: { json?: boolean }) =>
      reporting(async () => {
        const held = await withAppContext(async () =>
          heldMessages(id ? (await incidentArg(id)).number : undefined),
        );
        print(
          opts.json
            ? JSON.stringify(held, null, 2)
            : held.length
              ? held.map(messageLine).join('\n')
              : 'no message waits for approval',
        );
      }),
    );

  protocol
    .command('log <id>')
    .description("who was told what, when: every message of an incident's protocols")
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { json?: boolean }) =>
      reporting(async () => {
        const { incident, messages } = await withAppContext(async () => {
          const incident = await incidentArg(id);
          return { incident, messages: await protocolMessagesOf(incident.number) };
        });
        if (opts.json) {
          print(JSON.stringify(messages, null, 2));
          return;
        }
        print(
          [
            `${formatIncidentId(incident.number)}  ${incident.subject}  (${incident.priority ?? '-'}, ${incident.category ?? '-'}, ${incident.status})`,
            ...(messages.length ? messages.map(messageLine) : ['no protocol message']),
          ].join('\n'),
        );
      }),
    );

  for (const verb of ['approve', 'reject'] as const)
    protocol
      .command(`${verb} <id> [ref]`)
      .description(
        `${verb} the held messages of an incident: those with this id, or all (as #${verb} by email)`,
      )
      .requiredOption('--as <agent>', 'who is deciding (agent id or email): its lead or manager')
      .action((id: string, ref: string | undefined, opts: { as: string }) =>
        reporting(async () => {
          const wanted = refArg(ref);
          await withAppContext(async (ctx) => {
            const actor = cliActor(ctx, opts.as);
            const incident = await incidentArg(id);
            const role = roleOnIncident(ctx.plan, findAgent(ctx.plan, actor.by)!.email, incident);
            outcome(
              verb,
              await decideProtocolMessages(ctx, incident, {
                ref: wanted,
                approve: verb === 'approve',
                by: actor.by,
                may: (approval) => mayApprove(role, approval),
              }),
            );
          });
        }),
      );
}
