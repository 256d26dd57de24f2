/**
 * Authentication-Results (RFC 8601) as stamped by a receiving MTA, and what one trusted
 * header says about the author's domain. Pure: used by the `trusted-relay` agent-mail mode.
 */

export interface AuthMethodResult {
  /** dkim, spf, dmarc, arc, … (lower-case) */
  method: string;
  /** pass, fail, none, temperror, … (lower-case) */
  result: string;
  /** ptype.property → value, e.g. header.from, header.d, header.i (keys lower-case). */
  props: Record<string, string>;
}

export interface AuthenticationResults {
  /** The authserv-id: who stamped the header (lower-case). */
  authservId: string;
  results: AuthMethodResult[];
}

/** Removes RFC 5322 comments (nested parentheses), keeping quoted strings intact. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += c + (value[i + 1] ?? '');
      i++;
    } else if (quoted) {
      out += c;
      if (c === '"') quoted = false;
    } else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/** Splits on `sep` outside quoted strings. */
function splitOutsideQuotes(value: string, sep: RegExp): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && quoted) {
      current += c + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && sep.test(c)) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const unquote = (v: string) =>
  v.startsWith('"') && v.endsWith('"') && v.length >= 2
    ? v.slice(1, -1).replace(/\\(.)/g, '$1')
    : v;

/** Parses one header value; null when it has no authserv-id. */
export function parseAuthenticationResults(value: string): AuthenticationResults | null {
  const clean = stripComments(value.replace(/\r?\n[ \t]+/g, ' '));
  const [head, ...rest] = splitOutsideQuotes(clean, /;/);
  const authservId = unquote(head?.split(/\s+/)[0] ?? '').toLowerCase();
  if (!authservId || authservId.includes('=')) return null;
  const results: AuthMethodResult[] = [];
  for (const resinfo of rest) {
    const [first, ...pairs] = splitOutsideQuotes(resinfo, /\s/);
    const m = /^([a-z0-9_-]+)(?:\/\d+)?=([a-z0-9_-]+)$/i.exec(first ?? '');
    if (!m) continue; // "none" (no checks done) or something we do not read
    const props: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      props[pair.slice(0, eq).toLowerCase()] = unquote(pair.slice(eq + 1));
    }
    results.push({
      method: (m[1] as string).toLowerCase(),
      result: (m[2] as string).toLowerCase(),
      props,
    });
  }
  return { authservId, results };
}

/** What authentication says about a message's author (its From domain). */
export interface AuthVerdict {
  status: 'pass' | 'fail' | 'temperror' | 'none';
  /** One line for people: what was checked and what came out. */
  detail: string;
}

const domainOfValue = (v: string | undefined) =>
  (v ?? '').replace(/^.*@/, '').replace(/\.$/, '').toLowerCase();

/**
 * Relaxed alignment without a public-suffix list: the signing domain is the author's domain
 * or a parent of it. (A signer must publish its key under `_domainkey.<d>`, so a public
 * suffix cannot sign.)
 */
export function alignedDomain(signingDomain: string, fromDomain: string): boolean {
  const d = signingDomain.toLowerCase().replace(/\.$/, '');
  const f = fromDomain.toLowerCase().replace(/\.$/, '');
  return d !== '' && (d === f || f.endsWith(`.${d}`));
}

/**
 * The verdict of the receiving MTA we trust: the topmost Authentication-Results header whose
 * authserv-id is `authservId`. Every other such header (added by the sender, or by another
 * hop above or below ours) is ignored. `headers` are the raw values in message order (top
 * first). Passes on dmarc=pass for the From domain or dkim=pass aligned with it.
 */
export function trustedVerdict(
  headers: readonly string[],
  authservId: string,
  fromDomain: string,
): AuthVerdict {
  const id = authservId.toLowerCase();
  const from = fromDomain.toLowerCase();
  const ours = headers.map(parseAuthenticationResults).find((h) => h?.authservId === id);
  if (!ours)
    return { status: 'none', detail: `no Authentication-Results header from ${authservId}` };
  const dmarc = ours.results.filter(
    (r) =>
      r.method === 'dmarc' &&
      (!r.props['header.from'] || domainOfValue(r.props['header.from']) === from),
  );
  const dkim = ours.results.filter(
    (r) =>
      r.method === 'dkim' &&
      alignedDomain(domainOfValue(r.props['header.d'] ?? r.props['header.i']), from),
  );
  if (dmarc.some((r) => r.result === 'pass'))
    return { status: 'pass', detail: `${authservId}: dmarc=pass for ${from}` };
  const signed = dkim.find((r) => r.result === 'pass');
  if (signed)
    return {
      status: 'pass',
      detail: `${authservId}: dkim=pass header.d=${domainOfValue(signed.props['header.d'] ?? signed.props['header.i'])}`,
    };
  if ([...dmarc, ...dkim].some((r) => r.result === 'temperror'))
    return {
      status: 'temperror',
      detail: `${authservId}: a temporary error while checking ${from}`,
    };
  const seen = [...dmarc, ...dkim].map((r) => `${r.method}=${r.result}`).join(', ');
  return {
    status: 'fail',
    detail: `${authservId}: ${seen || 'no dmarc or aligned dkim result'} for ${from}`,
  };
}

/** What our own verifier (mailauth) found, reduced to what the decision needs. */
export interface OwnChecks {
  dkim: readonly { domain: string; result: string; aligned: boolean; comment?: string }[];
  /** null when DMARC could not be evaluated at all (no single From domain). */
  dmarc: { result: string; policy?: string } | null;
}

/** The verdict for `dmarc` or `dkim` mode from our own checks. */
export function verdictFromChecks(
  mode: 'dmarc' | 'dkim',
  fromDomain: string,
  checks: OwnChecks,
): AuthVerdict {
  const signed = checks.dkim.find((s) => s.result === 'pass' && s.aligned);
  const temporary =
    checks.dkim.some((s) => s.result === 'temperror') || checks.dmarc?.result === 'temperror';
  const signatures =
    checks.dkim
      .filter((s) => s.result !== 'none')
      .map((s) => `dkim=${s.result} d=${s.domain}${s.comment ? ` (${s.comment})` : ''}`)
      .join(', ') || 'no DKIM signature';
  if (mode === 'dkim') {
    if (signed) return { status: 'pass', detail: `dkim=pass d=${signed.domain}` };
    return {
      status: temporary ? 'temperror' : 'fail',
      detail: `${signatures}; none valid and aligned with ${fromDomain}`,
    };
  }
  const dmarc = checks.dmarc;
  if (dmarc?.result === 'pass') return { status: 'pass', detail: `dmarc=pass for ${fromDomain}` };
  if (temporary) return { status: 'temperror', detail: `${signatures}; DNS look-up failed` };
  const policy = dmarc?.policy ? ` (policy ${dmarc.policy})` : '';
  return {
    status: dmarc && dmarc.result !== 'none' ? 'fail' : 'none',
    detail: `dmarc=${dmarc?.result ?? 'none'} for ${fromDomain}${policy}; ${signatures}`,
  };
}
