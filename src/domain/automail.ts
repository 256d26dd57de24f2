import { normalizeAddress } from './address.js';
import type { HeaderBag } from './headers.js';

/**
 * Why a message must never be answered automatically (RFC 3834 and common
 * practice). Such mail is still recorded; it just gets no acknowledgement.
 */
export type AutomaticKind =
  'auto-reply' | 'auto-generated' | 'list' | 'bulk' | 'mailer-daemon' | 'null-sender';

export interface AutomaticVerdict {
  kind: AutomaticKind;
  reason: string;
}

const MAILER_DAEMON_LOCAL = /^(mailer[-_]?daemon|postmaster)$/i;
const NO_REPLY_LOCAL = /^(no[-_.]?reply|do[-_.]?not[-_.]?reply)(?:[-_.].*)?$/i;
const SUPPRESS_VALUES = new Set(['all', 'autoreply', 'oof']);

function values(h: HeaderBag, name: string): readonly string[] {
  return h.get(name) ?? [];
}

/** The first token of a structured value ("auto-replied (x); foo=bar" → "auto-replied"). */
function token(value: string): string {
  const withoutComments = value.replace(/\([^()]*\)/g, ' ');
  return (withoutComments.split(';')[0] ?? '').trim().toLowerCase();
}

function isNegative(value: string): boolean {
  const t = token(value);
  return t === 'no' || t === 'false' || t === '0' || t === 'off';
}

/** Local part of an address without its +tag, or undefined. */
function localPart(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const a = normalizeAddress(address);
  if (!a) return undefined;
  const at = a.lastIndexOf('@');
  const local = at >= 0 ? a.slice(0, at) : a;
  return local.split('+')[0];
}

/**
 * Decides whether a message was sent by a machine (auto-responder, list,
 * bounce, bulk sender) and so must not receive an automatic reply.
 * Returns null for mail that looks personal. The most specific signal wins:
 * a bounce from MAILER-DAEMON usually also carries `Auto-Submitted` and an
 * empty Return-Path, and is reported as `mailer-daemon`.
 */
export function detectAutomatic(
  h: HeaderBag,
  fromAddress: string | undefined,
): AutomaticVerdict | null {
  const local = localPart(fromAddress);

  if (local && MAILER_DAEMON_LOCAL.test(local)) {
    return { kind: 'mailer-daemon', reason: `Sender ${local} is a mail system account` };
  }

  for (const v of values(h, 'auto-submitted')) {
    const t = token(v);
    if (t === 'no') continue;
    if (t === 'auto-replied') {
      return { kind: 'auto-reply', reason: 'Auto-Submitted header says auto-replied' };
    }
    return {
      kind: 'auto-generated',
      reason: `Auto-Submitted header says ${t || '(empty)'}`,
    };
  }

  for (const name of ['x-autoreply', 'x-autorespond']) {
    const found = values(h, name).find((v) => !isNegative(v));
    if (found !== undefined) {
      const display = name === 'x-autoreply' ? 'X-Autoreply' : 'X-Autorespond';
      return { kind: 'auto-reply', reason: `${display} header is present` };
    }
  }

  for (const v of values(h, 'x-auto-response-suppress')) {
    const flags = v.split(/[\s,;]+/).map((f) => f.toLowerCase());
    const hit = flags.find((f) => SUPPRESS_VALUES.has(f));
    if (hit) {
      return {
        kind: 'auto-generated',
        reason: `X-Auto-Response-Suppress header asks for no automatic replies (${hit})`,
      };
    }
  }

  if (h.has('x-ms-exchange-inbox-rules-loop')) {
    return {
      kind: 'auto-generated',
      reason: 'X-MS-Exchange-Inbox-Rules-Loop header shows an Exchange inbox rule sent it',
    };
  }

  for (const v of values(h, 'precedence')) {
    const t = token(v);
    if (t === 'list') return { kind: 'list', reason: 'Precedence header says list' };
    if (t === 'bulk' || t === 'junk') {
      return { kind: 'bulk', reason: `Precedence header says ${t}` };
    }
  }

  if (h.has('list-id')) return { kind: 'list', reason: 'List-Id header is present' };
  if (h.has('list-unsubscribe')) {
    return { kind: 'list', reason: 'List-Unsubscribe header is present' };
  }

  for (const v of values(h, 'return-path')) {
    if (/^<?\s*>?$/.test(v.trim())) {
      return { kind: 'null-sender', reason: 'Return-Path header is empty (<>)' };
    }
  }

  if (local && NO_REPLY_LOCAL.test(local)) {
    return { kind: 'auto-generated', reason: `Sender ${local} is a no-reply address` };
  }

  return null;
}
