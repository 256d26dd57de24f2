/**
 * Generated hostile mail for the fuzz tests: a seeded PRNG picks mutations (header injection,
 * huge headers, deep multipart nesting, bad charsets and encodings, broken boundaries, active
 * HTML, garbage) and builds the raw bytes. The same seed gives the same cases, so a failure
 * printed with its seed can be replayed with FUZZ_SEED=<seed>.
 */
import { simpleParser } from 'mailparser';
import { mulberry32 } from './prng.js';

/** A seeded generator with the helpers the cases are built from. */
export function prng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
export type Rng = ReturnType<typeof prng>;

export function fuzzSeed(): number {
  const fromEnv = process.env.FUZZ_SEED;
  return fromEnv ? Number.parseInt(fromEnv, 10) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** Header names an injection tries to smuggle in; none may appear in any mail we send. */
export const INJECTED_HEADERS = ['bcc', 'x-fuzz-injected'];
const INJECTION = '\r\nBcc: injected@evil.test\r\nX-Fuzz-Injected: yes';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const qEncode = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((c) =>
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
        ? String.fromCharCode(c)
        : `=${c.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

/** Ways to get CR/LF into a decoded header value. */
const injections = (text: string): string[] => [
  `=?UTF-8?B?${b64(text + INJECTION)}?=`,
  `=?utf-8?Q?${qEncode(text + INJECTION)}?=`,
  `=?iso-8859-1?Q?${qEncode(text)}=0D=0ABcc:=20injected@evil.test?=`,
  `${text} =?UTF-8?B?${b64('\nX-Fuzz-Injected: yes\n')}?= tail`,
  `${text}\r\n\tBcc: injected@evil.test`, // a folded line that only looks like a header
];

const HOSTILE_HTML = [
  '<script>alert(1)</script>',
  '<img src=x onerror="alert(1)">',
  '<a href="javascript:alert(1)">click</a>',
  '<a href="  JaVaScRiPt:alert(1)">spaced</a>',
  '<svg onload=alert(1)><circle/></svg>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<body onload=alert(1)>',
  '<form action="javascript:alert(1)"><button formaction="javascript:x">x</button></form>',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '<div style="background:url(javascript:alert(1))">x</div>',
  '{{supportName}} {{{html}}} {{#each x}}',
];

const CHARSETS = [
  'utf-8',
  'utf-9',
  'x-unknown',
  '',
  'iso-8859-1',
  'utf-7',
  'gb18030',
  'koi8-r',
  'us-ascii',
  '"utf-8',
  'shift_jis',
];
const ENCODINGS = [
  'base64',
  'quoted-printable',
  '8bit',
  '7bit',
  'binary',
  'x-uuencode',
  'bogus',
  '',
];

export interface FuzzCase {
  index: number;
  mutations: string[];
  raw: Buffer;
  /** The envelope sender for LMTP delivery. */
  envelopeFrom: string;
}

function garbageBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

function body(rng: Rng, charset: string, encoding: string): string {
  const pieces = [
    `Plain text ${rng.int(0, 1e9)} with ümlauts and € and 日本語`,
    rng.pick(HOSTILE_HTML),
    'Bcc: injected@evil.test',
    '=ZZ=0=\r\n=3D=C3',
    '!!!!base64 that is not====',
  ];
  const text = Array.from({ length: rng.int(1, 4) }, () => rng.pick(pieces)).join('\r\n');
  if (encoding === 'base64' && rng.chance(0.6)) return b64(text).replace(/(.{76})/g, '$1\r\n');
  if (charset === 'utf-7') return '+AGEAYgBj- +ZeVnLIqe-';
  return text;
}

function leaf(rng: Rng, mutations: string[]): string {
  const type = rng.pick([
    'text/plain',
    'text/html',
    'application/octet-stream',
    'image/png',
    'text/calendar',
  ]);
  const charset = rng.pick(CHARSETS);
  const encoding = rng.pick(ENCODINGS);
  const lines = [`Content-Type: ${type}${charset ? `; charset=${charset}` : ''}`];
  if (encoding) lines.push(`Content-Transfer-Encoding: ${encoding}`);
  if (type === 'text/html') {
    mutations.push('active-html');
    return `${lines.join('\r\n')}\r\n\r\n<html><body>${Array.from({ length: rng.int(1, 4) }, () => rng.pick(HOSTILE_HTML)).join('\n')}</body></html>`;
  }
  if (type === 'application/octet-stream' || type === 'image/png') {
    const name = rng.pick([
      'report.pdf',
      'evil\r\nX-Fuzz-Injected: yes.txt',
      '=?UTF-8?B?' + b64('a\r\nBcc: injected@evil.test.txt') + '?=',
      '../../etc/passwd',
      'x'.repeat(rng.int(200, 3000)),
    ]);
    mutations.push('attachment');
    lines.push(`Content-Disposition: attachment; filename="${name}"`);
    if (rng.chance(0.3))
      lines.push(
        `Content-Disposition: attachment; filename*=UTF-8''a%0D%0ABcc%3A%20injected%40evil.test`,
      );
  }
  return `${lines.join('\r\n')}\r\n\r\n${body(rng, charset, encoding)}`;
}

function multipart(rng: Rng, depth: number, mutations: string[]): string {
  if (depth <= 0) return leaf(rng, mutations);
  const boundary = rng.pick([
    `b${depth}-${rng.int(0, 1e6)}`,
    `b${depth}`,
    '', // empty boundary
    `with space ${depth}`,
    `"quoted${depth}"`,
  ]);
  const sub = rng.pick(['mixed', 'alternative', 'related', 'digest']);
  const children = Array.from({ length: depth > 6 ? 1 : rng.int(1, 3) }, () =>
    multipart(rng, depth - 1 - (rng.chance(0.7) ? 0 : depth), mutations),
  );
  const bare = boundary.replace(/^"|"$/g, '');
  const broken = rng.chance(0.3);
  if (broken) mutations.push('broken-boundary');
  const used = broken ? rng.pick([`${bare}-typo`, bare.toUpperCase(), bare]) : bare;
  const parts = children.map((c) => `--${used}\r\n${c}`).join('\r\n');
  const close = broken && rng.chance(0.5) ? '' : `\r\n--${used}--`;
  return `Content-Type: multipart/${sub}; boundary=${boundary.startsWith('"') ? boundary : `"${boundary}"`}\r\n\r\n${rng.chance(0.3) ? 'preamble\r\n' : ''}${parts}${close}\r\n`;
}

/** One generated message; `index` makes every case's bytes (and so its hash) unique. */
export function fuzzCase(rng: Rng, index: number): FuzzCase {
  const mutations: string[] = [];
  const sender = `fuzz${index}@example.com`;
  let from = `From: Fuzz ${index} <${sender}>`;
  let subject = `Subject: fuzz case ${index}`;
  const extra: string[] = [];

  if (rng.chance(0.5)) {
    mutations.push('header-injection');
    const where = rng.pick(['subject', 'from-name', 'both']);
    if (where !== 'from-name') subject = `Subject: ${rng.pick(injections(`fuzz case ${index}`))}`;
    if (where !== 'subject') from = `From: ${rng.pick(injections(`Fuzz ${index}`))} <${sender}>`;
  }
  if (rng.chance(0.15)) {
    mutations.push('huge-header');
    const kind = rng.pick(['subject', 'received', 'references', 'long-line']);
    if (kind === 'subject')
      subject = `Subject: fuzz ${index} ${'A'.repeat(rng.int(10_000, 120_000))}`;
    if (kind === 'received')
      for (let i = 0; i < rng.int(200, 800); i++)
        extra.push(
          `Received: from relay${i}.example.net by mx.example.test; Mon, 23 Nov 2026 10:00:00 +0000`,
        );
    if (kind === 'references')
      extra.push(
        `References: ${Array.from({ length: rng.int(500, 3000) }, (_, i) => `<r${i}@x>`).join(' ')}`,
      );
    if (kind === 'long-line') extra.push(`X-Long: ${'x'.repeat(rng.int(50_000, 200_000))}`);
  }
  if (rng.chance(0.1)) {
    mutations.push('template-syntax');
    subject = `Subject: {{supportName}} {{{incidentId}}} {{#each a}}x{{/each}} ${index}`;
  }
  if (rng.chance(0.08)) {
    mutations.push('no-from');
    from = rng.pick([
      '',
      'From: undisclosed-recipients:;',
      'From: <>',
      `From: "no address" ${index}`,
    ]);
  }

  let content: string;
  if (rng.chance(0.15)) {
    mutations.push('deep-nesting');
    // One child per level and well-formed boundaries, so the parser really goes that deep.
    content = deepTree(rng.int(20, 60), index);
  } else if (rng.chance(0.5)) {
    mutations.push('multipart');
    content = multipart(rng, rng.int(1, 4), mutations);
  } else {
    content = leaf(rng, mutations);
  }
  mutations.push(...new Set(content.match(/charset=(utf-9|x-unknown|utf-7)/g) ?? []).values());

  const head = [
    from,
    `To: support@example.test`,
    subject,
    `Message-ID: <fuzz-${index}-${rng.int(0, 1e9)}@example.com>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    ...extra,
  ].filter(Boolean);
  let raw = Buffer.from(`${head.join('\r\n')}\r\n${content}\r\n`, 'utf8');

  const damage = rng.next();
  if (damage < 0.05) {
    mutations.push('garbage');
    raw = Buffer.concat([Buffer.from(`X-Case: ${index}\r\n`), garbageBytes(rng, rng.int(1, 4000))]);
  } else if (damage < 0.1) {
    mutations.push('truncated-header');
    raw = raw.subarray(0, Math.min(raw.length, rng.int(20, 120)));
    raw = Buffer.concat([raw, Buffer.from(` ${index}`)]);
  } else if (damage < 0.15) {
    mutations.push('bare-lf');
    raw = Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
  }
  return { index, mutations: [...new Set(mutations)], raw, envelopeFrom: sender };
}

function deepTree(depth: number, index: number): string {
  let inner = `Content-Type: text/html; charset=utf-8\r\n\r\n<p onclick="x()">deep ${index}</p><script>alert(${index})</script>`;
  for (let d = depth; d > 0; d--) {
    const b = `deep-${index}-${d}`;
    inner = `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n${inner}\r\n--${b}--`;
  }
  return inner;
}

// ---------------------------------------------------------------------------------------------
// Checks on the mail we send

/** Header fields incidesk's outgoing mail may carry (top level). */
const ALLOWED_TOP = new Set([
  'from',
  'to',
  'reply-to',
  'subject',
  'message-id',
  'in-reply-to',
  'references',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'x-incidesk-kind',
  'x-incidesk-incident',
  'auto-submitted',
  'x-auto-response-suppress',
]);
/** Header fields of a MIME part. */
const ALLOWED_PART = new Set([
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'content-id',
]);

function headerNames(block: string): { names: string[]; bad: string[] } {
  const names: string[] = [];
  const bad: string[] = [];
  for (const line of block.split('\r\n')) {
    if (/^[ \t]/.test(line)) continue; // a folded continuation
    const m = /^([\x21-\x39\x3b-\x7e]+):/.exec(line);
    if (m) names.push(m[1]!.toLowerCase());
    else bad.push(line.slice(0, 80));
  }
  return { names, bad };
}

/** Every header block of a (well-formed, nodemailer-built) MIME message, top level first. */
function headerBlocks(raw: string): string[] {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const rest = end < 0 ? '' : raw.slice(end + 4);
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ');
  const boundary = /content-type:\s*multipart\/[^\r\n]*boundary="?([^";\r\n]+)"?/i.exec(
    unfolded,
  )?.[1];
  if (!boundary) return [head];
  const parts = rest.split(`--${boundary}`).slice(1, -1);
  return [head, ...parts.flatMap((p) => headerBlocks(p.replace(/^\r\n/, '')))];
}

/**
 * Problems with one rendered outgoing message: header fields that should not be there (an
 * injection), malformed header lines, more than one recipient, active content in the HTML.
 */
export async function outgoingProblems(raw: Buffer, expectedTo: string): Promise<string[]> {
  const problems: string[] = [];
  const text = raw.toString('latin1');
  const blocks = headerBlocks(text);
  blocks.forEach((block, i) => {
    const { names, bad } = headerNames(block);
    const allowed = i === 0 ? ALLOWED_TOP : ALLOWED_PART;
    for (const n of names) if (!allowed.has(n)) problems.push(`unexpected header ${n}`);
    for (const b of bad) problems.push(`malformed header line: ${JSON.stringify(b)}`);
    if (i === 0) {
      const dup = names.filter((n, j) => names.indexOf(n) !== j);
      if (dup.length) problems.push(`duplicate headers: ${dup.join(', ')}`);
    }
  });
  const parsed = await simpleParser(raw);
  const to = [parsed.to ?? []].flat().flatMap((a) => a.value.map((v) => v.address));
  if (to.length !== 1 || to[0] !== expectedTo) problems.push(`recipients ${JSON.stringify(to)}`);
  if (parsed.cc || parsed.bcc) problems.push('cc/bcc present');
  if (/[\r\n]/.test(parsed.subject ?? '')) problems.push('newline in subject');
  for (const h of INJECTED_HEADERS) if (parsed.headers.has(h)) problems.push(`header ${h} present`);
  const html = typeof parsed.html === 'string' ? parsed.html : '';
  if (/<script/i.test(html)) problems.push('<script> in HTML');
  if (/<[^>]*\son[a-z]+\s*=/i.test(html)) problems.push('on* handler in HTML');
  if (/(href|src|action|formaction)\s*=\s*["']?\s*javascript:/i.test(html))
    problems.push('javascript: URL in HTML');
  for (const a of parsed.attachments) {
    if (/[\r\n]/.test(a.filename ?? '')) problems.push('newline in an attachment filename');
  }
  return problems;
}

/** What a forged agent-mail case may draw on: the real secret's tokens, as parties hold them. */
export interface ForgeryWorld {
  secret: string;
  support: string;
  /** Incident number → its customer's address. */
  incidents: ReadonlyMap<number, string>;
  agents: readonly string[];
  /** The authserv-id the app trusts (trusted-relay), or any id a forger might guess. */
  authservIds: readonly string[];
}

export const FORGED_COMMANDS = [
  '#note forged note',
  '#priority P1',
  '#assign {agent}',
  '#status closed',
  '#resolve cause: forged; fix: forged',
  '#transfer desk',
  '#escalate forged',
];

/**
 * Mail that claims to be from an agent and carries real tokens, but the wrong ones or with
 * forged proof: a customer's token under an agent's From, a token of incident A on incident B,
 * an agent's token used by another agent, legacy tokens, Authentication-Results headers
 * claiming dmarc=pass (above or below any other), a DKIM-Signature that is not valid. None may
 * run a command or reach a customer.
 */
export function forgedAgentCase(
  rng: Rng,
  index: number,
  world: ForgeryWorld,
  tokens: {
    plusAddress: (n: number, to: { address: string; role: 'agent' | 'customer' }) => string;
    messageId: (n: number, to: { address: string; role: 'agent' | 'customer' }) => string;
    legacyPlusAddress: (n: number) => string;
  },
): FuzzCase {
  const numbers = [...world.incidents.keys()];
  const agent = rng.pick(world.agents);
  const other = rng.pick(world.agents.filter((a) => a !== agent).concat(agent));
  const a = rng.pick(numbers);
  const b = rng.pick(numbers.filter((n) => n !== a).concat(a));
  const customerOf = (n: number) => world.incidents.get(n)!;
  const mutations: string[] = [];
  const swap = rng.pick(['customer-token', 'other-incident', 'other-agent', 'legacy', 'mixed']);
  mutations.push(`swap:${swap}`);
  let to = world.support;
  const refs: string[] = [];
  let subjectIncident = a;
  switch (swap) {
    case 'customer-token':
      to = tokens.plusAddress(a, { address: customerOf(a), role: 'customer' });
      refs.push(tokens.messageId(a, { address: customerOf(a), role: 'customer' }));
      break;
    case 'other-incident': {
      // Incident A's agent token, relabelled for incident B: does not verify.
      const t = tokens.plusAddress(a, { address: agent, role: 'agent' });
      to = t.replace(/INC-\d+/, `INC-${String(b).padStart(6, '0')}`);
      subjectIncident = b;
      break;
    }
    case 'other-agent':
      to = tokens.plusAddress(a, { address: other, role: 'agent' });
      break;
    case 'legacy':
      to = tokens.legacyPlusAddress(a);
      break;
    case 'mixed':
      to = tokens.plusAddress(a, { address: agent, role: 'customer' });
      refs.push(tokens.messageId(b, { address: agent, role: 'agent' }));
      subjectIncident = b;
      break;
  }
  const head: string[] = [];
  const ar = (id: string) =>
    `Authentication-Results: ${id}; dkim=pass header.d=${agent.split('@')[1]}; dmarc=pass header.from=${agent.split('@')[1]}`;
  if (rng.chance(0.6)) {
    const id = rng.pick(world.authservIds);
    mutations.push(`forged-ar:${id}`);
    head.push(ar(id));
    if (rng.chance(0.5)) head.push(ar(rng.pick(world.authservIds)));
  }
  if (rng.chance(0.4)) {
    mutations.push('forged-dkim');
    head.push(
      `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=${agent.split('@')[1]}; s=test; h=from:to:subject; bh=${b64('forged')}; b=${b64(`forged ${index}`)}`,
    );
  }
  const commands = Array.from({ length: rng.int(1, 3) }, () =>
    rng.pick(FORGED_COMMANDS).replace('{agent}', other.split('@')[0]!),
  );
  const text = `${commands.join('\r\n')}\r\n\r\nForged reply ${index} for the customer.`;
  head.push(
    `From: Agent <${agent}>`,
    `To: ${to}`,
    `Subject: Re: [INC-${String(subjectIncident).padStart(6, '0')}] forged ${index}`,
    `Message-ID: <forged-${index}-${Date.now()}@evil.example>`,
    ...(refs.length ? [`References: ${refs.join(' ')}`, `In-Reply-To: ${refs[0]}`] : []),
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  );
  return {
    index,
    raw: Buffer.from(`${head.join('\r\n')}\r\n\r\n${text}\r\n`, 'utf8'),
    envelopeFrom: agent,
    mutations,
  };
}
