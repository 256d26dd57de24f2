/**
 * Search, reports and known errors on real servers: a seeded corpus of a few hundred
 * incidents, the index kept up to date by the `index` queue and rebuilt by the CLI (both must
 * agree), ranking, reports in every format, and the email flows (similar incidents in the
 * assignment mail, `#known-error`).
 */
import { describe, expect, it } from 'vitest';
import { queueIndex } from '../../src/actions/search.js';
import { formatIncidentId } from '../../src/domain/tokens.js';
import { createKnownError, findKnownError } from '../../src/store/known-errors.js';
import { Counter, TimelineEntry } from '../../src/store/models.js';
import { timelineOf } from '../../src/store/incidents.js';
import { indexedDocCount, indexSnapshot } from '../../src/store/search-index.js';
import { deliver, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';
import { runIncidesk } from '../support/process.js';
import { insertCorpus, type Seed } from '../support/seed-incidents.js';
import type { CapturedMail } from '../support/smtp-capture.js';

const PLAN = `
groups:
  - { id: service-desk, name: Service Desk, assignment: round-robin }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [service-desk] }
routing:
  rules: []
  default: service-desk
`;

/** Deterministic pseudo-random numbers, so the corpus is the same every run. */
function prng(seed: number) {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The incidents each ranking query must find first. */
const SPECIAL = {
  outlook: 7,
  payroll: 23,
  zebra: 31,
} as const;

const FILLER_TOPICS = [
  [
    'Outlook calendar not syncing',
    'My calendar in Outlook does not show new meetings from the team.',
  ],
  ['Outlook is slow', 'Outlook takes minutes to start and search is slow.'],
  ['Printer offline on floor 3', 'The printer on floor 3 shows offline, nobody can print.'],
  ['Password reset needed', 'I forgot my password and the reset link expired.'],
  ['VPN disconnects every hour', 'The VPN connection drops every hour and I must reconnect.'],
  ['Certificate warning on intranet', 'Browser shows a certificate warning on the intranet site.'],
  ['Invoice shows wrong amount', 'The invoice for October shows a wrong amount, please check.'],
  ['Laptop very slow after update', 'Since the update my laptop is very slow to boot.'],
  ['Wifi drops in meeting room', 'In meeting room B the wifi drops during video calls.'],
  ['Export to CSV fails', 'Exporting the report to CSV fails with an error message.'],
  ['Cannot open shared drive', 'Access denied when opening the shared drive for finance.'],
  ['Teams calls echo', 'During Teams calls everybody hears an echo of their voice.'],
  ['Label printer jams', 'The label printer in the warehouse jams every few labels.'],
  ['Calendar invites missing', 'Invites sent to the shared calendar never arrive.'],
] as const;
const FILLER_CAUSES = [
  ['stale DNS entry', 'flush the DNS cache', 'corrected the DNS record'],
  ['full mailbox quota', 'archive old mail', 'raised the quota'],
  ['driver bug', 'reinstall the driver', 'rolled out the fixed driver'],
] as const;
const GROUPS = ['service-desk', 'network', 'billing'];
const STATUSES = ['new', 'assigned', 'in-progress', 'resolved', 'closed'];
const DAY = 86_400_000;
const OCT = Date.UTC(2026, 9, 1);

function special(n: number): Omit<Seed, 'number' | 'createdAt'> | undefined {
  const base = { priority: 'P2', group: 'service-desk', customer: `user${n}@acme.example` };
  switch (n) {
    case SPECIAL.outlook:
      return {
        ...base,
        subject: 'Outlook crashes when opening calendar attachments',
        bodies: [
          'Every time I open a PDF attached to a calendar invite, Outlook freezes and closes.',
        ],
        status: 'resolved',
        resolvedAt: new Date(OCT + 7 * DAY + 3 * 3600_000),
        resolution: {
          cause: 'corrupt Outlook forms cache',
          workaround: 'delete the FORMS folder under AppData Local Microsoft and restart',
          fix: 'cleared the forms cache with a login script',
        },
      };
    case SPECIAL.payroll:
      return {
        ...base,
        group: 'billing',
        subject: 'Payroll export, names like "Müller" | "Jürgen" truncated',
        bodies: ['The payroll export truncates employee names with umlauts.'],
        status: 'resolved',
        resolvedAt: new Date(OCT + 23 * DAY + 26 * 3600_000),
        resolution: { cause: 'export encoding set to Latin-1', workaround: 'export as XLSX' },
      };
    case SPECIAL.zebra:
      return {
        ...base,
        subject: 'Printer problem',
        bodies: [
          'Our printer has a problem.',
          'Update: the Zebra label printer prints blank labels after firmware 7.3 was installed.',
        ],
        status: 'in-progress',
      };
  }
  return undefined;
}

function corpus(from: number, to: number): Seed[] {
  const rnd = prng(42);
  const all: Seed[] = [];
  for (let n = 1; n <= to; n++) {
    const createdAt = new Date(OCT + (n % 30) * DAY + (n % 24) * 3600_000);
    const topic = FILLER_TOPICS[Math.floor(rnd() * FILLER_TOPICS.length)]!;
    const status = STATUSES[Math.floor(rnd() * STATUSES.length)]!;
    const cause = FILLER_CAUSES[Math.floor(rnd() * FILLER_CAUSES.length)]!;
    const filler: Seed = {
      number: n,
      createdAt,
      subject: topic[0],
      bodies: [topic[1]],
      status,
      priority: `P${1 + Math.floor(rnd() * 4)}`,
      group: GROUPS[Math.floor(rnd() * GROUPS.length)]!,
      customer: `user${n}@${rnd() < 0.5 ? 'acme' : 'globex'}.example`,
      ...(status === 'resolved' || status === 'closed'
        ? {
            resolvedAt: new Date(createdAt.getTime() + Math.floor(1 + rnd() * 48) * 3600_000),
            resolution: { cause: cause[0], workaround: cause[1], fix: cause[2] },
          }
        : {}),
    };
    const s = special(n);
    if (n >= from) all.push(s ? { ...s, number: n, createdAt } : filler);
  }
  return all;
}

const TOTAL = 300;
const FIRST_BATCH = 40;

describe('search, reports and known errors', () => {
  const h = useTestApp({ plan: PLAN, env: { INCIDESK_SLA_SWEEP_SECONDS: '3600' } });
  const cli = (args: string[]) => runIncidesk(args, h.t.env);
  const searchIds = async (query: string) => {
    const r = await cli(['search', query, '--json', '--limit', '5']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { id: string }[]).map((x) => x.id);
  };
  const indexIdle = () =>
    waitUntil('index queue idle', async () => {
      const c = await h.app.ctx.queues.index.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'prioritized',
      );
      return Object.values(c).every((n) => n === 0);
    });
  const mailTo = (address: string, match: (m: CapturedMail) => boolean) =>
    waitUntil(`mail to ${address}`, async () =>
      h.smtp.messages.find((m) => m.envelopeTo.includes(address) && match(m)),
    );

  it('keeps the index up to date incrementally, and a rebuild produces the same index', async () => {
    await insertCorpus(corpus(1, FIRST_BATCH));
    // Email-borne incidents are numbered after the corpus.
    await Counter.updateOne({ _id: 'incident' }, { $set: { seq: TOTAL } }, { upsert: true });
    const ke1 = await createKnownError({
      title: 'Outlook calendar attachment crash after update 2311',
      cause: 'Office update 2311 broke the attachment previewer',
      workaround: 'disable the attachment previewer in the Trust Center',
    });
    const ke2 = await createKnownError({
      title: 'VPN gateway certificate expiry',
      cause: 'intermediate certificate missing on the gateway',
      workaround: 'import the intermediate certificate on the client',
      fix: 'chain installed on the gateway',
    });
    expect([ke1._id, ke2._id]).toEqual([1, 2]);
    for (let n = 1; n <= FIRST_BATCH; n++)
      await queueIndex(h.app.ctx, { kind: 'incident', id: n }, 'seeded');
    for (const id of [1, 2]) await queueIndex(h.app.ctx, { kind: 'known-error', id }, 'created');
    await waitUntil('all indexed', async () => (await indexedDocCount()) === FIRST_BATCH + 2);
    await indexIdle();

    // A changed text: the old words must leave the index, the new ones arrive.
    await TimelineEntry.updateOne(
      { _id: 'seed-msg-5-0' },
      { $set: { text: 'The xylophone app hums loudly.' } },
    );
    await queueIndex(h.app.ctx, { kind: 'incident', id: 5 }, 'edited');
    await waitUntil('re-indexed', async () => (await searchIds('xylophone'))[0] === 'INC-000005');
    await indexIdle();
    const incremental = await indexSnapshot();
    expect(Object.keys(incremental.records)).toHaveLength(FIRST_BATCH + 2);

    const rebuilt = await cli(['search', '--reindex']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toMatch(/reindexed 42 documents/);
    const snapshot = await indexSnapshot();
    expect(snapshot).toEqual(incremental);
  });

  it('ranks the obviously relevant incident or known error first', async () => {
    await insertCorpus(corpus(FIRST_BATCH + 1, TOTAL));
    const rebuilt = await cli(['search', '--reindex']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toMatch(/reindexed 302 documents/);

    const outlook = formatIncidentId(SPECIAL.outlook);
    // subject + body words
    expect((await searchIds('outlook freezes pdf calendar invite'))[0]).toBe(outlook);
    // words only in the workaround
    expect((await searchIds('delete FORMS folder AppData'))[0]).toBe(outlook);
    // a known error's workaround
    expect((await searchIds('attachment previewer Trust Center'))[0]).toBe('KE-0001');
    expect((await searchIds('intermediate certificate gateway'))[0]).toBe('KE-0002');
    // a follow-up message, not the opening one
    expect((await searchIds('zebra blank labels firmware'))[0]).toBe(
      formatIncidentId(SPECIAL.zebra),
    );
    // inflections and accents meet
    expect((await searchIds('payroll exports umlaut names truncating'))[0]).toBe(
      formatIncidentId(SPECIAL.payroll),
    );

    const table = await cli(['search', 'outlook freezes pdf', '--limit', '3']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+SCORE\s+STATUS\s+TITLE/);
    expect(table.stdout.split('\n')[1]).toContain(outlook);
    expect(table.stdout.trim().split('\n')).toHaveLength(4);
    expect((await cli(['search', 'qwertyuiop'])).stdout.trim()).toBe('no matches');
    expect((await cli(['search'])).code).toBe(64);
    expect((await cli(['search', 'x', '--limit', '0'])).code).toBe(64);
  });

  it('reports incidents of a period in every format, matching the data', async () => {
    const all = corpus(1, TOTAL);
    const from = Date.UTC(2026, 9, 5);
    const to = Date.UTC(2026, 9, 13); // --to 2026-10-12 includes that day
    const expected = all.filter(
      (s) => s.createdAt.getTime() >= from && s.createdAt.getTime() < to && s.group === 'billing',
    );
    expect(expected.length).toBeGreaterThan(5);
    const args = ['report', '--from', '2026-10-05', '--to', '2026-10-12', '--group', 'billing'];

    const json = await cli([...args, '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.incidents.map((i: { number: number }) => i.number)).toEqual(
      expected.map((s) => s.number),
    );
    const resolved = expected.filter((s) => s.resolvedAt);
    const byStatus: Record<string, number> = {};
    for (const s of expected) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    expect(report.summary).toMatchObject({
      total: expected.length,
      byStatus,
      resolved: resolved.length,
      meanTimeToResolveMs: Math.round(
        resolved.reduce((t, s) => t + s.resolvedAt!.getTime() - s.createdAt.getTime(), 0) /
          resolved.length,
      ),
    });

    const csv = await cli([...args, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.split('\r\n').filter((l) => l.startsWith('INC-'));
    expect(lines.map((l) => l.slice(0, 10))).toEqual(
      expected.map((s) => formatIncidentId(s.number)),
    );
    expect(csv.stdout.startsWith('id,opened,status,')).toBe(true);

    const md = await cli([...args, '--format', 'markdown']);
    expect(md.code).toBe(0);
    expect(md.stdout.split('\n').filter((l) => l.startsWith('| INC-'))).toHaveLength(
      expected.length,
    );
    expect(md.stdout).toContain(`| incidents | ${expected.length} |`);

    const table = await cli(args);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`incidents:\\s+${expected.length}\\n`));
    expect(table.stdout.split('\n').filter((l) => l.startsWith('INC-'))).toHaveLength(
      expected.length,
    );

    // The payroll incident's subject has a comma, quotes and a pipe.
    const wide = [
      'report',
      '--from',
      '2026-10-01',
      '--to',
      '2026-10-31',
      '--customer',
      'user23@acme.example',
    ];
    const one = await cli([...wide, '--format', 'csv']);
    expect(one.stdout).toContain('"Payroll export, names like ""Müller"" | ""Jürgen"" truncated"');
    const oneMd = await cli([...wide, '--format', 'markdown']);
    expect(oneMd.stdout).toContain('Payroll export, names like "Müller" \\| "Jürgen" truncated');
    const domain = JSON.parse(
      (await cli([...wide.slice(0, 6), 'globex.example', '--format', 'json'])).stdout,
    );
    expect(domain.summary.total).toBe(
      all.filter((s) => s.customer.endsWith('@globex.example')).length,
    );

    expect((await cli(['report', '--from', 'yesterday', '--to', '2026-10-12'])).code).toBe(64);
    // Without --from, the seven days up to and including --to (without either: up to today).
    const week = JSON.parse(
      (await cli(['report', '--to', '2026-10-12', '--format', 'json'])).stdout,
    );
    expect([week.from, week.to]).toEqual(['2026-10-06T00:00:00.000Z', '2026-10-13T00:00:00.000Z']);
    expect((await cli([...args, '--format', 'pdf'])).code).toBe(64);
    expect((await cli(['report', '--from', '2026-10-12', '--to', '2026-10-01'])).code).toBe(64);
  });

  it('lists similar resolved incidents and known errors in the assignment mail; #known-error links', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'dora@acme.example',
      to: SUPPORT,
      subject: 'Outlook crashes opening a calendar attachment',
      text: 'Outlook freezes when I open the PDF attached to a calendar invite, since update 2311.',
      messageId: '<dora-1@acme.example>',
    });
    const notice = await mailTo('alice@example.test', (m) =>
      /Outlook crashes opening/.test(m.parsed.subject ?? ''),
    );
    const text = notice.parsed.text ?? '';
    expect(text).toContain('Similar, already solved:');
    expect(text).toContain(
      `${formatIncidentId(SPECIAL.outlook)}: Outlook crashes when opening calendar attachments`,
    );
    expect(text).toContain(
      'Workaround: delete the FORMS folder under AppData Local Microsoft and restart',
    );
    expect(text).toContain(
      'KE-0001 (known error, open): Outlook calendar attachment crash after update 2311',
    );
    expect(text).toContain('Workaround: disable the attachment previewer in the Trust Center');
    const number = Number(/INC-(\d+)/.exec(notice.parsed.subject ?? '')![1]);
    expect(number).toBeGreaterThan(TOTAL);

    // The agent links it by replying with the command (the reply carries the token).
    await deliver(h.t.mailboxUser, {
      from: 'alice@example.test',
      to: notice.parsed.replyTo!.value[0]!.address!,
      subject: `Re: ${notice.parsed.subject}`,
      inReplyTo: notice.parsed.messageId,
      references: [notice.parsed.messageId!],
      text: '#known-error KE-0001\n#known-error KE-0099\n',
    });
    const result = await mailTo(
      'alice@example.test',
      (m) => m.parsed.headers.get('x-incidesk-kind') === 'command-result',
    );
    expect(result.parsed.text).toContain('Partly done: your reply');
    expect(result.parsed.text).toContain('done: #known-error: linked to KE-0001');
    expect(result.parsed.text).toContain('refused: #known-error: no known error KE-0099');
    expect((await findKnownError(1))?.incidents).toEqual([number]);
    expect((await timelineOf(number)).some((e) => e.event === 'known-error-linked')).toBe(true);
    const shown = await cli(['known-errors', 'show', 'KE-0001']);
    expect(shown.stdout).toContain(`incidents:  ${formatIncidentId(number)}`);
  });

  it('omits the section when nothing is similar', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'emil@acme.example',
      to: SUPPORT,
      subject: 'Coffee machine leaking',
      text: 'The coffee machine in the kitchen leaks water onto the floor.',
      messageId: '<emil-1@acme.example>',
    });
    const notice = await mailTo('alice@example.test', (m) =>
      /Coffee machine/.test(m.parsed.subject ?? ''),
    );
    expect(notice.parsed.text).toContain('The customer wrote:');
    expect(notice.parsed.text).not.toContain('Similar, already solved');
  });

  it('manages known errors from the command line, and search finds them', async () => {
    const added = await cli([
      'known-errors',
      'add',
      '--title',
      'Badge readers reject new hires',
      '--cause',
      'access system sync runs weekly',
      '--workaround',
      'issue a visitor badge',
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout.trim()).toBe('KE-0003 recorded');
    await waitUntil(
      'KE-0003 searchable',
      async () => (await searchIds('badge readers hires'))[0] === 'KE-0003',
    );
    const list = await cli(['known-errors', 'list']);
    expect(list.stdout).toMatch(/KE-0003\s+open\s+0\s+Badge readers reject new hires/);
    expect((await cli(['known-errors', 'link', 'KE-0003', 'INC-000010'])).code).toBe(0);
    const fixed = await cli(['known-errors', 'fix', 'KE-0003', '--fix', 'sync runs hourly']);
    expect(fixed.code).toBe(0);
    const shown = await cli(['known-errors', 'show', 'KE-0003', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      status: 'fixed',
      fix: 'sync runs hourly',
      incidents: [10],
    });
    await waitUntil(
      'fix searchable',
      async () => (await searchIds('sync hourly'))[0] === 'KE-0003',
    );
    expect((await cli(['known-errors', 'show', 'KE-0042'])).code).toBe(66);
    expect((await cli(['known-errors', 'show', 'nonsense'])).code).toBe(64);
    expect((await cli(['known-errors', 'link', 'KE-0003', 'INC-009999'])).code).toBe(66);
    expect((await cli(['known-errors', 'add'])).code).toBe(64);
  });

  it('incidents show prints the whole timeline', async () => {
    const shown = await cli(['incidents', 'show', formatIncidentId(SPECIAL.zebra)]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}← from user31@acme\.example to support@example\.test/,
    );
    expect(shown.stdout).toContain('Our printer has a problem.');
    expect(shown.stdout).toContain('Update: the Zebra label printer prints blank labels');
  });
});
