/**
 * Is mail that claims to come from an agent really from them? Per the plan's
 * `access.agentMail`: our own DKIM/DMARC check (mailauth, DNS through a short-timeout caching
 * resolver), the verdict of the trusted receiving MTA, or nothing (token-only). The decision
 * itself is src/domain/agent-mail.ts; this file only gathers the verdict.
 */
import { Resolver } from 'node:dns/promises';
import type { Readable } from 'node:stream';
import { authenticate } from 'mailauth';
import { DNS_CACHE_MAX_ENTRIES, DNS_CACHE_MS, DNS_TIMEOUT_MS, DNS_TRIES } from '../constants.js';
import {
  trustedVerdict,
  verdictFromChecks,
  type AuthVerdict,
} from '../domain/authentication-results.js';
import type { AgentMailMode } from '../domain/agent-mail.js';
import type { HeaderBag } from '../domain/headers.js';

/** mailauth's resolver shape: like dns.promises.resolve, rejecting with err.code on failure. */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

/** Answers that are facts about the zone (cacheable); anything else is a temporary failure. */
const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * The system's DNS with a short timeout and a cache (positive and negative answers, never
 * errors), so a slow or broken resolver delays an agent's mail by seconds, not minutes, and
 * its failure stays a temporary refusal.
 */
export function cachingResolver(
  options: { timeoutMs?: number; ttlMs?: number; now?: () => number } = {},
): DnsResolver {
  const dns = new Resolver({ timeout: options.timeoutMs ?? DNS_TIMEOUT_MS, tries: DNS_TRIES });
  const ttl = options.ttlMs ?? DNS_CACHE_MS;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { until: number; answer?: unknown; code?: string }>();
  return async (name, rrtype) => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      if (hit.code) throw Object.assign(new Error(`${hit.code} ${name}`), { code: hit.code });
      return hit.answer;
    }
    if (cache.size >= DNS_CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
    try {
      const answer = await dns.resolve(name, rrtype as 'TXT');
      cache.set(key, { until: now() + ttl, answer });
      return answer;
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ESERVFAIL';
      if (NEGATIVE.has(code)) cache.set(key, { until: now() + ttl, code });
      throw err;
    }
  };
}

/**
 * The authentication verdict for an inbound message whose From domain is `fromDomain`, or null
 * in token-only mode. Never throws: whatever goes wrong is a temporary failure.
 */
export async function senderVerdict(input: {
  mode: AgentMailMode;
  authservId?: string;
  fromDomain: string;
  headers: HeaderBag;
  /** The raw message; read only in dmarc/dkim mode. */
  open: () => Readable;
  resolver: DnsResolver;
  mta: string;
}): Promise<AuthVerdict | null> {
  switch (input.mode) {
    case 'token-only':
      return null;
    case 'trusted-relay':
      return trustedVerdict(
        input.headers.get('authentication-results') ?? [],
        input.authservId ?? '',
        input.fromDomain,
      );
    case 'dkim':
    case 'dmarc':
      try {
        const result = await authenticate(input.open(), {
          resolver: input.resolver as never,
          mta: input.mta,
          disableArc: true,
          disableBimi: true,
        });
        const dmarc = result.dmarc as
          false | { status?: { result?: string }; policy?: string } | undefined;
        return verdictFromChecks(input.mode, input.fromDomain, {
          dkim: (result.dkim?.results ?? []).map((r) => ({
            domain: String(r.signingDomain ?? ''),
            result: String(r.status?.result ?? 'none'),
            aligned: Boolean(r.status?.aligned),
            comment: r.status?.comment ? String(r.status.comment) : undefined,
          })),
          dmarc: dmarc
            ? { result: String(dmarc.status?.result ?? 'none'), policy: dmarc.policy }
            : null,
        });
      } catch (err) {
        return {
          status: 'temperror',
          detail: `verification failed: ${(err as Error).message}`.slice(0, 200),
        };
      }
  }
}
