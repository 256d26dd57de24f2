/**
 * A slice of the generated hostile mail (test/support/mail-fuzz.ts) through the real intake:
 * LMTP into Dovecot → IMAP → ingest → SMTP. None is lost (each becomes part of an incident or
 * is quarantined with a reason), no job fails, and every mail we send passes the same checks
 * as in the unit fuzz test. The bulk of the cases runs in test/unit/mail-fuzz.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Outbox, RawMessage } from '../../src/store/models.js';
import { deliver, useTestApp, waitUntil } from '../support/harness.js';
import { fuzzCase, fuzzSeed, outgoingProblems, prng } from '../support/mail-fuzz.js';

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
