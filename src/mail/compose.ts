/** Builds outbound messages with the headers that make replies thread back to the incident. */
import { formatIncidentId, outboundMessageId, plusAddress, tagSubject } from '../domain/tokens.js';
import type { AppContext } from '../context.js';
import type { IncidentDoc } from '../store/models.js';
import type { NewOutboxMessage } from '../store/outbox.js';
import type { ParsedMessage } from './parse.js';
import { render } from './templates.js';

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

export const ackIdFor = (rawId: string) => `ack-${rawId}`;

/** Acknowledgement of a new incident, answering the customer's message `rawId`. */
export function composeAcknowledgement(
  ctx: Pick<AppContext, 'config' | 'plan'>,
  incident: Pick<IncidentDoc, 'number' | 'subject' | 'customer'>,
  inbound: Pick<ParsedMessage, 'messageId' | 'references'>,
  rawId: string,
): NewOutboxMessage {
  const { config, plan } = ctx;
    const incidentId = formatIncidentId(incident.number);
  const body = render('acknowledgement', {
    incidentId,
    subject: incident.subject,
    customerName: incident.customer.name,
    organisation: plan.organisation,
    supportName: config.supportName,
  });
  const references = [...inbound.references, ...(inbound.messageId ? [inbound.messageId] : [])];
  return {
    _id: ackIdFor(rawId),
    kind: 'ack',
    incidentNumber: incident.number,
    to: incident.customer.address,
    messageId: outboundMessageId(config.secret, incident.number, `ack-${rawId.slice(0, 16)}`, domainOf(config.supportAddress)),
    inReplyTo: inbound.messageId,
    references,
    replyTo: plusAddress(config.supportAddress, config.secret, incident.number),
    subject: tagSubject(`Re: ${incident.subject}`, incident.number),
    text: body.text,
    html: body.html,
    // RFC 3834: mark it automatic so well-behaved responders stay quiet; Exchange honours the
    // X-Auto-Response-Suppress header instead.
    headers: { 'Auto-Submitted': 'auto-replied', 'X-Auto-Response-Suppress': 'All' },
  };
}
