/**
 * Access control and the audit trail on real servers: forged and out-of-role email commands
 * change nothing and are on the record; customers cannot reach each other's incidents; the
 * CLI needs an operator token; the audit chain written by real activity verifies, tampering
 * is found, and appends from several processes form one gap-free chain.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plusAddress } from '../../src/domain/tokens.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { Types } from 'mongoose';
import { appendAudits, sealAudit } from '../../src/store/audit.js';
import { AuditEntryModel } from '../../src/store/models.js';
import {
  ADMIN_TOKEN,
  AGENT_TOKEN,
  deliver,
  SECRET,
  SUPPORT,
  useTestApp,
  waitUntil,
} from '../support/harness.js';
import { runIncidesk, spawnIncidesk } from '../support/process.js';
import { PROJECT_ROOT } from '../support/services.js';
import type { CapturedMail } from '../support/smtp-capture.js';

const PLAN = `
groups:
  - { id: desk, name: Desk, lead: lena, manager: max }
  - { id: network, name: Network, lead: nora }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [desk] }
  - { id: bob, name: Bob Chen, email: bob@example.test, groups: [desk], away: true }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [desk], away: true }
  - { id: max, name: Max Manager, email: max@example.test, groups: [desk], away: true }
  - { id: nina, name: Nina, email: nina@example.test, groups: [network] }
  - { id: nora, name: Nora Lead, email: nora@example.test, groups: [network], away: true }
routing: { default: desk }
`;

interface StoredEntry {
  seq: number;
  action: string;
  actor: { kind: string; id: string };
  why: string;
  changes: { field: string; before: unknown; after: unknown }[];
  detail?: { command?: string; reason?: string };
  subject: { type: string; id: string };
}
// Sealed first: entries are recorded as pending and linked into the chain a moment later.
const auditEntries = async () => {
  await sealAudit();
  return (await AuditEntryModel.collection
    .find({})
    .sort({ _id: 1 })
    .toArray()) as unknown as StoredEntry[];
};

describe('access control and the audit trail', () => {
  const h = useTestApp({ plan: PLAN });
  // What the customer's acknowledgement carries: anyone may hold it.
  const token1 = () =>
    plusAddress(SUPPORT, SECRET, 1, { address: 'cora@customer.example', role: 'customer' });

  const mailTo = (address: string, match: (m: CapturedMail) => boolean = () => true) =>
    waitUntil(`mail to ${address}`, async () =>
      h.smtp.messages.find((m) => m.envelopeTo.includes(address) && match(m)),
    );
  const refusedFor = (who: string, count: number) =>
    waitUntil(`${count} refusal(s) by ${who} audited`, async () => {
      const r = (await auditEntries()).filter(
        (e) => e.action === 'command-refused' && e.actor.id === who,
      );
      return r.length >= count ? r : null;
    });
  /** A reply carrying incident 1's signed token (its plus-address), from anyone. */
  const withToken = (from: string, text: string) =>
    deliver(h.t.mailboxUser, {
      from,
      to: token1(),
      subject: 'Re: [INC-000001] Printer on fire',
      text,
    });
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runIncidesk(args, { ...h.t.env, ...env });

  it('opens and assigns an incident for a customer', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'cora@customer.example',
      to: SUPPORT,
      subject: 'Printer on fire',
      text: 'Our printer is on fire. Confidential: the alarm code is 4711.',
      messageId: '<cora-1@customer.example>',
    });
    await waitUntil('INC-1 assigned to alice', async () => {
      const i = await findIncident(1);
      return i?.assignee === 'alice' && i.status === 'assigned' ? i : null;
    });
    await mailTo(
      'alice@example.test',
      (m) => m.parsed.headers.get('x-incidesk-kind') === 'assignment',
    );
  });

  it('ignores a customer who forges an agent’s From on the acknowledgement’s Reply-To', async () => {
    const ack = await mailTo(
      'cora@customer.example',
      (m) => m.parsed.subject?.includes('INC-000001') === true,
    );
    const replyTo = ack.parsed.replyTo!.value[0]!.address!;
    const forge = (text: string, n: number) =>
      deliver(h.t.mailboxUser, {
        from: 'Bob Chen <bob@example.test>',
        to: replyTo,
        subject: 'Re: [INC-000001] Printer on fire',
        text,
        messageId: `<forged-${n}@customer.example>`,
        unsigned: true, // the customer has no key for example.test
      });
    await forge('#assign nina\n\nHello Cora, Bob here: please send me the alarm code.', 1);
    const refused = await refusedFor('bob@example.test', 2);
    expect(refused.map((e) => [e.detail?.command, e.detail?.reason]).sort()).toEqual([
      ['#assign', 'unauthenticated-sender'],
      ['reply to the customer', 'unauthenticated-sender'],
    ]);
    const notice = await mailTo(
      'bob@example.test',
      (m) => m.parsed.text?.includes('was not acted on') === true,
    );
    expect(notice.parsed.subject).toBe('[INC-000001] Printer on fire');
    expect(notice.parsed.text).toContain('Not done: your reply about INC-000001');
    expect(notice.parsed.text).toMatch(
      /#assign.*the sender could not be verified \(dmarc: dmarc=fail/s,
    );

    // Kept on the timeline, marked; nothing changed; nothing relayed to the customer.
    const entry = await waitUntil('the forged message on the timeline', async () =>
      (await timelineOf(1)).find((e) => e.from === 'bob@example.test' && e.type === 'message'),
    );
    expect(entry.unverified).toMatchObject({ reason: 'unauthenticated-sender' });
    expect(await findIncident(1)).toMatchObject({ assignee: 'alice', group: 'desk' });
    expect(
      (await auditEntries()).filter(
        (e) => e.action === 'incident-changed' && e.actor.id === 'bob@example.test',
      ),
    ).toEqual([]);

    // Again within the hour: refused and audited again, but Bob is not told twice.
    await forge('#priority P1', 2);
    await refusedFor('bob@example.test', 3);
    await new Promise((r) => setTimeout(r, 1500));
    expect(
      h.smtp.messages.filter(
        (m) =>
          m.envelopeTo.includes('bob@example.test') &&
          m.parsed.text?.includes('was not acted on') === true,
      ),
    ).toHaveLength(1);
    expect(h.smtp.messages.some((m) => m.parsed.text?.includes('Bob here'))).toBe(false);
    expect(
      h.smtp.messages.filter(
        (m) =>
          m.envelopeTo.includes('cora@customer.example') && m.header('x-incidesk-kind') === 'reply',
      ),
    ).toEqual([]);
  });

  it('refuses and records forged or out-of-role commands, and changes nothing', async () => {
    const before = (await findIncident(1))!;
    expect(before).toMatchObject({ group: 'desk', assignee: 'alice', priority: 'P3' });

    // 1. A stranger holding the token is still a customer: commands are text.
    await withToken('mallory@evil.example', '#priority P1\n#transfer network');
    // 2. An agent without the token (a new mail naming the incident in its subject).
    await deliver(h.t.mailboxUser, {
      from: 'alice@example.test',
      to: SUPPORT,
      subject: '[INC-000001] Printer on fire',
      text: '#priority P1',
    });
    // 3. An agent of another group, with the token.
    await withToken('nina@example.test', '#priority P1\n#transfer network\n#note mine now');
    // 4. The group's own agent beyond her role, with the token.
    await withToken('alice@example.test', '#priority P1\n#transfer network\n#assign lena');

    const [mallory, aliceNoToken, nina] = await Promise.all([
      refusedFor('mallory@evil.example', 1),
      refusedFor('alice@example.test', 4),
      refusedFor('nina@example.test', 3),
    ]);
    expect(mallory[0]).toMatchObject({
      actor: { kind: 'customer' },
      subject: { type: 'incident', id: '1' },
      detail: { command: '#priority #transfer', reason: 'commands are only accepted from agents' },
    });
    // Mails are ingested concurrently: look refusals up by command, not by order.
    const aliceBy = new Map(aliceNoToken.map((e) => [e.detail?.command, e.detail?.reason]));
    expect([...aliceBy.keys()].sort()).toEqual([
      '#assign',
      '#priority',
      '#transfer',
      '1 command(s)',
    ]);
    expect(aliceBy.get('1 command(s)')).toMatch(/no incident token/);
    expect(aliceBy.get('#priority')).toBe('raising to P1 needs the group’s lead or above');
    expect(aliceBy.get('#transfer')).toBe('transfer needs the group’s lead or above');
    expect(nina.map((e) => e.detail?.reason)).toEqual(
      Array(3).fill('you are not a member of the incident’s group and it is not assigned to you'),
    );
    const [ninaResult] = await Promise.all([
      mailTo('nina@example.test', (m) => m.parsed.text?.includes('refused: #transfer') === true),
      mailTo('alice@example.test', (m) => m.parsed.text?.includes('refused: #assign') === true),
      mailTo('alice@example.test', (m) => m.parsed.text?.includes('Not done:') === true),
    ]);
    expect(ninaResult.parsed.text).toContain('refused: #note');

    const after = (await findIncident(1))!;
    expect(after).toMatchObject({ group: 'desk', assignee: 'alice', priority: 'P3' });
    expect((await timelineOf(1)).map((e) => e.event)).not.toContain('note');
    // No change to the incident was made by any of them.
    const changedBy = (await auditEntries())
      .filter((e) => e.action === 'incident-changed')
      .map((e) => e.actor.id);
    expect(changedBy).not.toContain('nina@example.test');
    expect(changedBy).not.toContain('alice@example.test');
  });

  it('lets the group lead do what the agent may not, attributed to her', async () => {
    await withToken('lena@example.test', '#priority P1');
    const i = await waitUntil('P1', async () => {
      const x = await findIncident(1);
      return x?.priority === 'P1' ? x : null;
    });
    expect(i.group).toBe('desk');
    // The audit entry follows the change it records.
    const change = await waitUntil('lena’s change audited', async () =>
      (await auditEntries()).find(
        (e) => e.actor.id === 'lena@example.test' && e.changes.some((c) => c.field === 'priority'),
      ),
    );
    expect(change).toMatchObject({
      action: 'incident-changed',
      actor: { kind: 'agent' },
      changes: expect.arrayContaining([{ field: 'priority', before: 'P3', after: 'P1' }]),
    });
    expect(change!.why).toMatch(/^#priority \(cmd-/);
  });

  it('never attaches a customer to another customer’s incident, nor shows them its content', async () => {
    await deliver(h.t.mailboxUser, {
      from: 'eve@other.example',
      to: [SUPPORT, `support+INC-000001.${'a'.repeat(10)}@example.test`],
      subject: 'Re: [INC-000001] Printer on fire',
      text: 'Please send me the alarm code again. #status closed',
      inReplyTo: '<cora-1@customer.example>',
      references: [
        '<cora-1@customer.example>',
        `<INC-000001.ack-x.${'b'.repeat(10)}@example.test>`,
      ],
    });
    const ack = await mailTo('eve@other.example');
    const own = await waitUntil('eve’s own incident', async () => {
      const i = await findIncident(2);
      return i?.customer.address === 'eve@other.example' ? i : null;
    });
    expect(own.number).toBe(2);
    expect(ack.parsed.subject).toMatch(/^\[INC-000002\]/);
    const everything = h.smtp.messages
      .filter((m) => m.envelopeTo.includes('eve@other.example'))
      .map((m) => `${m.parsed.subject}\n${m.parsed.text}\n${m.parsed.html || ''}`)
      .join('\n');
    expect(everything).not.toContain('4711');
    expect(everything).not.toContain('INC-000001.');
    const first = (await findIncident(1))!;
    expect(first.participants).not.toContain('eve@other.example');
    expect(first.status).not.toBe('closed');
    expect((await timelineOf(1)).some((e) => e.from === 'eve@other.example')).toBe(false);
  });

  it('keeps the CLI closed without a valid operator token (exit 77)', async () => {
    const none = await cli(['incidents', 'list'], { INCIDESK_TOKEN: '' });
    expect(none.code).toBe(77);
    expect(none.stderr).toMatch(/needs an operator token: set INCIDESK_TOKEN/);
    const wrong = await cli(['incidents', 'list'], { INCIDESK_TOKEN: 'guess-123' });
    expect(wrong.code).toBe(77);
    expect(wrong.stderr).toMatch(/not valid/);
    expect(wrong.stdout).toBe('');
    const agentAdmin = await cli(['audit', 'verify'], { INCIDESK_TOKEN: AGENT_TOKEN });
    expect(agentAdmin.code).toBe(77);
    expect(agentAdmin.stderr).toMatch(/test-agent \(agent\) may not run `incidesk audit verify`/);
    const agentRead = await cli(['incidents', 'list'], { INCIDESK_TOKEN: AGENT_TOKEN });
    expect(agentRead.code).toBe(0);
    expect(agentRead.stdout).toContain('INC-000001');
    // From a file, as Docker/Kubernetes secrets are mounted.
    const file = join(tmpdir(), `incidesk-token-${process.pid}`);
    writeFileSync(file, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const fromFile = await cli(['audit', 'verify'], {
      INCIDESK_TOKEN: '',
      INCIDESK_TOKEN_FILE: file,
    });
    expect(fromFile.code).toBe(0);
    // Needing no identity: checking the plan and making a token.
    expect((await cli(['check'], { INCIDESK_TOKEN: '' })).code).toBe(0);
    const made = await cli(['operator', 'token', '--name', 'kim', '--role', 'agent'], {
      INCIDESK_TOKEN: '',
    });
    expect(made.code).toBe(0);
    const [, token] = /token:\s+(\S+)/.exec(made.stdout)!;
    const [, hash] = /tokenSha256:\s+([0-9a-f]{64})/.exec(made.stdout)!;
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(token!).digest('hex')).toBe(hash);
  });

  it('records the plan and every change, and the chain written by real activity verifies', async () => {
    const entries = await auditEntries();
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    expect(entries[0]).toMatchObject({ action: 'plan-changed', subject: { type: 'plan' } });
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: 'incident-opened',
        actor: { kind: 'customer', id: 'cora@customer.example' },
        subject: { type: 'incident', id: '1' },
      }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: 'incident-changed',
        // A new incident is assigned by its triage, in the same decision.
        actor: { kind: 'worker', id: 'triage' },
        changes: expect.arrayContaining([{ field: 'assignee', before: null, after: 'alice' }]),
      }),
    );
    const ok = await cli(['audit', 'verify']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`audit chain intact: ${entries.length} entries`));

    const exported = await cli(['audit', 'export', '--from', '2000-01-01', '--to', '2100-01-01']);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(lines).toHaveLength(entries.length);
    const file = join(tmpdir(), `incidesk-audit-${process.pid}.jsonl`);
    writeFileSync(file, lines.slice(3).join('\n'));
    const slice = await cli(['audit', 'verify', '--file', file]);
    expect(slice.code).toBe(0);
    expect(slice.stdout).toMatch(new RegExp(`export intact: ${entries.length - 3} entries`));
    const csv = await cli([
      'audit',
      'export',
      '--from',
      '2000-01-01',
      '--to',
      '2100-01-01',
      '--format',
      'csv',
    ]);
    expect(csv.stdout.split('\n')[0]).toMatch(/^seq,at,actor_kind,.*,prev_hash,hash$/);
    expect(csv.stdout.trim().split('\n')).toHaveLength(entries.length + 1);
    const none = await cli(['audit', 'export', '--from', '2000-01-01', '--to', '2000-01-02']);
    expect(none.stdout).toBe('');
  });

  it('finds an entry tampered with directly in MongoDB, naming its seq', async () => {
    const victim = (await auditEntries()).find((e) => e.actor.id === 'lena@example.test')!;
    await AuditEntryModel.collection.updateOne(
      { _id: victim.seq as never },
      { $set: { why: 'nothing happened here' } },
    );
    const broken = await cli(['audit', 'verify']);
    expect(broken.code).toBe(65);
    expect(broken.stderr).toMatch(
      new RegExp(`audit chain broken at seq ${victim.seq}: the entry does not match its hash`),
    );
    // Deleting it instead is found too.
    await AuditEntryModel.collection.updateOne(
      { _id: victim.seq as never },
      { $set: { why: victim.why } },
    );
    expect((await cli(['audit', 'verify'])).code).toBe(0);
    const doc = await AuditEntryModel.collection.findOne({ _id: victim.seq as never });
    await AuditEntryModel.collection.deleteOne({ _id: victim.seq as never });
    const gap = await cli(['audit', 'verify']);
    expect(gap.code).toBe(65);
    expect(gap.stderr).toMatch(new RegExp(`broken at seq ${victim.seq}: entries are missing`));
    await AuditEntryModel.collection.insertOne(doc!);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  });

  it('appends from several processes form one chain without forks or gaps', async () => {
    const start = (await auditEntries()).length;
    const PER = 25;
    const child = (name: string) =>
      new Promise<number | null>((resolve) => {
        const p = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'test/support/audit-append.ts',
            h.t.env.MONGODB_URI!,
            name,
            String(PER),
          ],
          { cwd: PROJECT_ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
        );
        p.once('exit', resolve);
      });
    // Two other processes and this one (through the running app's store) at the same time.
    const { appendAudit } = await import('../../src/store/audit.js');
    const local = (async () => {
      for (let i = 0; i < PER; i++)
        await appendAudit({
          action: 'test-append',
          subject: { type: 'incident', id: '0' },
          actor: { kind: 'worker', id: 'local' },
          why: `append ${i}`,
          changes: [],
        });
    })();
    const codes = await Promise.all([child('proc-a'), child('proc-b'), local]);
    expect(codes.slice(0, 2)).toEqual([0, 0]);
    const entries = await auditEntries();
    expect(entries.length).toBe(start + 3 * PER);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    for (const who of ['proc-a', 'proc-b', 'local'])
      expect(entries.filter((e) => e.actor.id === who)).toHaveLength(PER);
    const ok = await cli(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`intact: ${start + 3 * PER} entries`);
  });

  it('a sealer that died before clearing what it sealed leaves no duplicate', async () => {
    const { AuditPending } = await import('../../src/store/models.js');
    // Recorded as appendAudit records it; the running app's sealer may seal it at any moment.
    const recorded = {
      _id: new Types.ObjectId(),
      at: new Date().toISOString(),
      action: 'test-append',
      subject: { type: 'incident', id: '0' },
      actor: { kind: 'worker', id: 'half-sealed' },
      why: 'sealed, then the sealer was killed',
      changes: [],
    };
    await AuditPending.collection.insertOne(recorded as never);
    await sealAudit();
    expect(await AuditPending.collection.countDocuments()).toBe(0);
    // As if the sealer died between linking the entry and clearing it from audit_pending.
    await AuditPending.collection.insertOne(recorded as never);
    const entries = await auditEntries();
    expect(await AuditPending.collection.countDocuments()).toBe(0);
    expect(entries.filter((e) => e.actor.id === 'half-sealed')).toHaveLength(1);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  });

  it('a keyed entry recorded again, pending or sealed, is in the chain once', async () => {
    // What a rerun on a server without transactions does: it cannot tell whether the run
    // before it got as far as the entry, so it records it again under the same key.
    const at = new Date();
    const entry = {
      at,
      key: `test-keyed/${at.getTime()}`,
      action: 'test-keyed',
      subject: { type: 'incident' as const, id: '0' },
      changes: [],
    };
    const other = { ...entry, key: undefined, action: 'test-keyed-other' };
    await appendAudits([entry, other]);
    await appendAudits([entry, other]); // still pending: kept once, the unkeyed one again
    await sealAudit();
    await appendAudits([entry]); // sealed since: the sealer finds it in the chain
    const entries = await auditEntries();
    expect(entries.filter((e) => e.action === 'test-keyed')).toHaveLength(1);
    expect(entries.filter((e) => e.action === 'test-keyed-other')).toHaveLength(2);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  });

  it('prints no secret value even at LOG_LEVEL=debug', async () => {
    const env = {
      ...h.t.env,
      LOG_LEVEL: 'debug',
      INCIDESK_SECRET: 'unmistakable-token-secret-91827',
      SMTP_USER: 'relay-user',
      SMTP_PASS: 'unmistakable-smtp-pass-55120',
      INCIDESK_QUEUE_PREFIX: `${h.t.env.INCIDESK_QUEUE_PREFIX}-debug`,
    };
    const proc = spawnIncidesk(['start', '--only', 'workers'], env);
    let out = '';
    proc.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await waitUntil('started', async () => out.includes('incidesk started'));
    await proc.kill('SIGTERM');
    expect(out).toContain('"configuration"');
    expect(out).toContain('"pass":"***"');
    for (const secret of [
      'unmistakable-token-secret-91827',
      'unmistakable-smtp-pass-55120',
      ADMIN_TOKEN,
    ])
      expect(out).not.toContain(secret);
  });
});
