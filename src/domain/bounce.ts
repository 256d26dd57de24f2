/**
 * RFC 3464 delivery status notifications (bounces).
 *
 * A DSN is a `multipart/report; report-type=delivery-status` message whose
 * second part (message/delivery-status) holds one per-message field block and
 * one block per recipient, separated by blank lines. The third part is the
 * original message (message/rfc822) or just its header (text/rfc822-headers).
 */
export interface DeliveryReport {
  /** True when any recipient failed for good (Action: failed or Status 5.x.x). */
  permanent: boolean;
  /** The status code (x.y.z) of the first failed recipient, else of the first listed. */
  status: string;
  /** Lower-cased addresses that failed; if none failed, every listed recipient. */
  recipients: string[];
  /** Diagnostic-Code text of that recipient, without its type prefix ("smtp;"). */
  diagnostic?: string;
  /** Message-ID of the original message, without angle brackets. */
  originalMessageId?: string;
}

/**
 * Whether the bounce says the address itself is bad (a 5.x.x failure), so nothing more
 * should be sent to it. A message given up after temporary failures (Action: failed with
 * 4.x.x: a full mailbox, an unreachable host for days) failed, but the address may work
 * tomorrow.
 */
export function addressIsUndeliverable(report: DeliveryReport): boolean {
  return report.permanent && report.status.startsWith('5.');
}

type Fields = Map<string, string>;

/** Splits header-style text into unfolded `name → value` maps, one per blank-line block. */
function fieldBlocks(text: string): Fields[] {
  const blocks: Fields[] = [];
  const normalized = text.replace(/\r\n?/g, '\n');
  for (const chunk of normalized.split(/\n[ \t]*\n/)) {
    const unfolded = chunk.replace(/\n(?=[ \t])/g, ' ');
    const fields: Fields = new Map();
    for (const line of unfolded.split('\n')) {
      const m = /^([A-Za-z0-9-]+)[ \t]*:(.*)$/.exec(line);
      if (!m) continue;
      const name = (m[1] ?? '').toLowerCase();
      if (!fields.has(name)) fields.set(name, (m[2] ?? '').replace(/\s+/g, ' ').trim());
    }
    if (fields.size > 0) blocks.push(fields);
  }
  return blocks;
}

/** "rfc822; <User@Example.com>" → "user@example.com"; undefined for non-mail address types. */
function addressOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let type = 'rfc822';
  let addr = value;
  const semi = value.indexOf(';');
  if (semi >= 0) {
    type = value.slice(0, semi).trim().toLowerCase();
    addr = value.slice(semi + 1);
  }
  if (type !== 'rfc822' && type !== 'utf-8') return undefined;
  addr = addr.trim().replace(/^<|>$/g, '').trim().toLowerCase();
  return addr.includes('@') ? addr : undefined;
}

/**
 * An enhanced status code x.y.z, not part of a longer dotted number: "Connected to 10.4.3.2"
 * must not read as status 4.3.2.
 */
const STATUS = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/;

function statusOf(fields: Fields): string {
  const explicit = STATUS.exec(fields.get('status') ?? '');
  if (explicit) return explicit[0];
  const fromDiagnostic = STATUS.exec(fields.get('diagnostic-code') ?? '');
  if (fromDiagnostic) return fromDiagnostic[0];
  const action = (fields.get('action') ?? '').toLowerCase();
  if (action === 'failed') return '5.0.0';
  if (action === 'delayed') return '4.0.0';
  return '2.0.0';
}

function diagnosticOf(fields: Fields): string | undefined {
  const raw = fields.get('diagnostic-code');
  if (!raw) return undefined;
  const text = raw.replace(/^[A-Za-z0-9-]+\s*;\s*/, '').trim();
  return text || undefined;
}

interface RecipientStatus {
  address: string;
  failed: boolean;
  status: string;
  diagnostic?: string;
}

/** Message-ID from a header section (stops at the first blank line). */
function messageIdOf(headersText: string | undefined): string | undefined {
  if (!headersText) return undefined;
  const normalized = headersText.replace(/\r\n?/g, '\n').replace(/^\n+/, '');
  const header = normalized.split(/\n[ \t]*\n/)[0] ?? '';
  const unfolded = header.replace(/\n(?=[ \t])/g, ' ');
  for (const line of unfolded.split('\n')) {
    const m = /^message-id[ \t]*:(.*)$/i.exec(line);
    if (!m) continue;
    const id = (m[1] ?? '').trim();
    const bracketed = /<([^<>]+)>/.exec(id);
    const bare = (bracketed ? bracketed[1] : id)?.trim();
    if (bare) return bare;
  }
  return undefined;
}

/**
 * Parses the body of a message/delivery-status part. Returns null when it
 * names no recipient (not a usable DSN).
 */
export function parseDeliveryStatus(
  deliveryStatusText: string,
  originalHeadersText?: string,
): DeliveryReport | null {
  const recipients: RecipientStatus[] = [];
  for (const fields of fieldBlocks(deliveryStatusText)) {
    if (!fields.has('final-recipient') && !fields.has('original-recipient')) continue;
    // Original-Recipient is the address as we sent it (before aliasing/forwarding);
    // it is what we must mark undeliverable. Final-Recipient is mandatory, so fall back.
    const address =
      addressOf(fields.get('original-recipient')) ?? addressOf(fields.get('final-recipient'));
    if (!address) continue;
    const status = statusOf(fields);
    const action = (fields.get('action') ?? '').toLowerCase();
    const diagnostic = diagnosticOf(fields);
    recipients.push({
      address,
      failed: action === 'failed' || status.startsWith('5.'),
      status,
      ...(diagnostic !== undefined ? { diagnostic } : {}),
    });
  }
  if (recipients.length === 0) return null;

  const failed = recipients.filter((r) => r.failed);
  const chosen = failed.length > 0 ? failed : recipients;
  const lead = chosen[0] as RecipientStatus;
  const originalMessageId = messageIdOf(originalHeadersText);
  return {
    permanent: failed.length > 0,
    status: lead.status,
    recipients: [...new Set(chosen.map((r) => r.address))],
    ...(lead.diagnostic !== undefined ? { diagnostic: lead.diagnostic } : {}),
    ...(originalMessageId !== undefined ? { originalMessageId } : {}),
  };
}

/** True for `multipart/report; report-type=delivery-status` (any case, quoted or not). */
export function isDeliveryReport(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const [type = '', ...params] = splitParams(contentType);
  if (type.trim().toLowerCase() !== 'multipart/report') return false;
  return params.some((p) => {
    const eq = p.indexOf('=');
    if (eq < 0) return false;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    return name === 'report-type' && value.trim().toLowerCase() === 'delivery-status';
  });
}

/** Splits a Content-Type value on ";" outside quoted strings. */
function splitParams(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quoted && c === '\\' && i + 1 < value.length) {
      current += c + value[i + 1];
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * qmail's bounces (QSBMF, cr.yp.to/proto/qsbmf.txt) are plain text, not RFC 3464: a "Hi. This
 * is the …" paragraph, one "<address>:" paragraph per recipient (with an enhanced status such as
 * "(#5.1.1)" in the text), then a break line and the returned message or its header.
 */
const QSBMF_START = /^\s*Hi\. This is the [^\n]*\n/;
const QSBMF_BREAK =
  /^--- (?:Below this line is a copy of the message|Below this line is the original message header|Enclosed are the original headers of the message)\.?[ \t]*$/m;
const QSBMF_RECIPIENT = /^<([^<>\s]+@[^<>\s]+)>:[ \t]*$/;

/** True for a qmail-style (QSBMF) plain-text bounce body. */
export function isQmailBounce(text: string | undefined): boolean {
  if (!text) return false;
  const normalized = text.replace(/\r\n?/g, '\n');
  const brk = QSBMF_BREAK.exec(normalized);
  if (!QSBMF_START.test(normalized) || !brk) return false;
  return normalized
    .slice(0, brk.index)
    .split('\n')
    .some((line) => QSBMF_RECIPIENT.test(line));
}

/** Reads a QSBMF bounce body into the same shape as a DSN; null when it is not one. */
export function parseQmailBounce(text: string | undefined): DeliveryReport | null {
  if (!text || !isQmailBounce(text)) return null;
  const normalized = text.replace(/\r\n?/g, '\n');
  const brk = QSBMF_BREAK.exec(normalized)!;
  const recipients: RecipientStatus[] = [];
  for (const paragraph of normalized.slice(0, brk.index).split(/\n[ \t]*\n/)) {
    const [first = '', ...rest] = paragraph.replace(/^\n+/, '').split('\n');
    const m = QSBMF_RECIPIENT.exec(first);
    if (!m) continue;
    const diagnostic = rest.join(' ').replace(/\s+/g, ' ').trim();
    const status = STATUS.exec(diagnostic)?.[0] ?? '5.0.0'; // a QSBMF failure paragraph is permanent
    recipients.push({
      address: m[1]!.toLowerCase(),
      failed: !status.startsWith('4.'),
      status,
      ...(diagnostic ? { diagnostic } : {}),
    });
  }
  if (recipients.length === 0) return null;
  const failed = recipients.filter((r) => r.failed);
  const chosen = failed.length > 0 ? failed : recipients;
  const lead = chosen[0] as RecipientStatus;
  const originalMessageId = messageIdOf(normalized.slice(brk.index + brk[0].length));
  return {
    permanent: failed.length > 0,
    status: lead.status,
    recipients: [...new Set(chosen.map((r) => r.address))],
    ...(lead.diagnostic !== undefined ? { diagnostic: lead.diagnostic } : {}),
    ...(originalMessageId !== undefined ? { originalMessageId } : {}),
  };
}
