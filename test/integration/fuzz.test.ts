/**
 * A slice of the generated hostile mail (test/support/mail-fuzz.ts) through the real intake:
 * LMTP into Dovecot → IMAP → ingest → SMTP. None is lost (each becomes part of an incident or
 * is quarantined with a reason), no job fails, and every mail we send passes the same checks
 * as in the unit fuzz test. The bulk of the cases runs in test/unit/mail-fuzz.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { legacyPlusAddress, outboundMessageId, plusAddress } from '../../src/domain/tokens.js';
import { findIncident } from '../../src/store/incidents.js';
import { sealAudit } from '../../src/store/audit.js';
import { AuditEntryModel, Outbox, RawMessage } from '../../src/store/models.js';
import { deliver, SECRET, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';
import {
  forgedAgentCase,
  fuzzCase,
  fuzzSeed,
  outgoingProblems,
  prng,
} from '../support/mail-fuzz.js';

const CASES = Number(process.env.FUZZ_INTAKE_CASES ?? 40);

describe('generated hostile mail through the real intake', () => {
  const h = useTestApp();

  it(
    `takes in ${CASES} generated cases without loss, crash or injection`,
    { timeout: 300_000 },
    async () => {
      const seed = fuzzSeed();
      const rng = prng(seed);
      let delivered = 0;
      const refused: string[] = [];
      for (let i = 0; i < CASES; i++) {
        const c = fuzzCase(rng, i);
        try {
          await deliver(h.t.mailboxUser, { raw: c.raw, from: c.envelopeFrom });
          delivered++;
        } catch (err) {
          refused.push(`case ${i}: ${(err as Error).message}`); // the mail server's call, not ours
        }
      }
      await waitUntil(
        `all ${delivered} stored and processed`,
        async () =>
          (await RawMessage.countDocuments()) >= delivered &&
          (await RawMessage.countDocuments({ state: 'stored' })) === 0,
        180_000,
      );
      await waitUntil(
        'no mail pending',
        async () => (await Outbox.countDocuments({ state: 'pending' })) === 0,
      );
      const sent = await Outbox.countDocuments({ state: 'sent' });
      await waitUntil('every sent mail captured', async () => h.smtp.messages.length >= sent);

      const raws = await RawMessage.find(
        {},
        { state: 1, reason: 1, incidentNumber: 1, kind: 1 },
      ).lean();
      expect(raws).toHaveLength(delivered);
      const quarantined = raws.filter((r) => r.state === 'quarantined');
      for (const r of quarantined) expect(r.reason, String(r._id)).toBeTruthy();
      for (const r of raws.filter((r) => r.state !== 'quarantined')) {
        expect(r.state).toBe('ingested');
        expect(r.incidentNumber, String(r._id)).toBeGreaterThan(0);
      }
      for (const q of ['ingest', 'triage', 'notify'] as const)
        expect((await h.app.ctx.queues[q].getJobCounts()).failed, q).toBe(0);

      const problems: string[] = [];
      for (const m of h.smtp.messages)
        for (const p of await outgoingProblems(m.raw, m.envelopeTo[0]!))
          problems.push(`${m.parsed.messageId}: ${p}`);
      expect(problems, `seed ${seed}`).toEqual([]);
      console.log(
        `intake fuzz: seed ${seed}, ${CASES} cases, ${delivered} delivered (${refused.length} refused by the mail server), ${delivered - quarantined.length} into incidents, ${quarantined.length} quarantined, ${h.smtp.messages.length} outgoing mails checked${refused.length ? `; refused: ${refused.join('; ')}` : ''}`,
      );
    },
  );
});

const FORGED_CASES = Number(process.env.FUZZ_FORGED_CASES ?? 30);
const AGENTS_PLAN = `
groups:
  - { id: desk, name: Desk, lead: lena }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [desk] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [desk] }
  - { id: bob, name: Bob, email: bob@example.test, groups: [desk] }
routing: { default: desk }
`;

for (const mode of ['dmarc', 'trusted-relay'] as const) {
  describe(`forged agent mail (agentMail: ${mode})`, () => {
    const h = useTestApp({
      plan:
        mode === 'trusted-relay'
          ? `${AGENTS_PLAN}access: { agentMail: trusted-relay, authservId: mx.incidesk.test }\n`
          : AGENTS_PLAN,
    });

    it(
      `${FORGED_CASES} forged authentication headers and swapped tokens run no command`,
      { timeout: 300_000 },
      async () => {
        const customers = new Map([
          [1, 'cora@customer.example'],
          [2, 'dan@other.example'],
        ]);
        for (const [n, address] of customers) {
          await deliver(h.t.mailboxUser, {
            from: address,
            to: SUPPORT,
            subject: `Complaint ${n}`,
            text: 'Something is broken.',
          });
          await waitUntil(`INC-${n} assigned`, async () => (await findIncident(n))?.assignee);
        }
        const before = await Promise.all([findIncident(1), findIncident(2)]);
        const seed = fuzzSeed();
        const rng = prng(seed);
        const world = {
          secret: SECRET,
          support: SUPPORT,
          incidents: customers,
          agents: ['alice@example.test', 'lena@example.test', 'bob@example.test'],
          authservIds: ['mx.incidesk.test', 'mx.google.com', 'MX.INCIDESK.TEST', 'evil.example'],
        };
        const tokens = {
          plusAddress: (n: number, to: { address: string; role: 'agent' | 'customer' }) =>
            plusAddress(SUPPORT, SECRET, n, to),
          messageId: (n: number, to: { address: string; role: 'agent' | 'customer' }) =>
            outboundMessageId(SECRET, n, 'fuzz', 'example.test', to),
          legacyPlusAddress: (n: number) => legacyPlusAddress(SUPPORT, SECRET, n),
        };
        const start = await RawMessage.countDocuments();
        for (let i = 0; i < FORGED_CASES; i++) {
          const c = forgedAgentCase(rng, i, world, tokens);
          // In trusted-relay mode our MTA stamps every message on top: none of these is signed.
          const stamp =
            mode === 'trusted-relay'
              ? `Authentication-Results: mx.incidesk.test; dkim=none; dmarc=fail header.from=${c.envelopeFrom.split('@')[1]}\r\n`
              : '';
          await deliver(h.t.mailboxUser, {
            raw: Buffer.concat([Buffer.from(stamp), c.raw]),
            from: c.envelopeFrom,
          });
        }
        await waitUntil(
          'all forged mail processed',
          async () =>
            (await RawMessage.countDocuments()) >= start + FORGED_CASES &&
            (await RawMessage.countDocuments({ state: 'stored' })) === 0,
          180_000,
        );
        expect((await h.app.ctx.queues.ingest.getJobCounts()).failed).toBe(0);
        // No change made on an agent's behalf; nothing relayed to a customer as an agent's words.
        await sealAudit(); // entries are linked into the chain a moment after they are recorded
        const byAgents = await AuditEntryModel.collection
          .find({ 'actor.kind': 'agent', action: { $ne: 'command-refused' } })
          .toArray();
        expect(byAgents, `seed ${seed}`).toEqual([]);
        expect(await Outbox.countDocuments({ kind: 'reply' }), `seed ${seed}`).toBe(0);
        const after = await Promise.all([findIncident(1), findIncident(2)]);
        for (const [i, incident] of after.entries())
          expect(incident, `seed ${seed}`).toMatchObject({
            status: before[i]!.status,
            assignee: before[i]!.assignee,
            priority: before[i]!.priority,
            group: before[i]!.group,
          });
        const refused = await AuditEntryModel.collection.countDocuments({
          action: 'command-refused',
        });
        expect(refused).toBeGreaterThan(0);
      },
    );
  });
}
