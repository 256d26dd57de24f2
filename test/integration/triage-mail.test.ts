/**
 * The mail triage decides (the agent's notice, the lead's possible-outage suggestion) is sent
 * by the triage job itself right after the decision commits: born claimed by that job, with no
 * notify job and no claim command; a later assignment's notice (a transfer's) likewise by its
 * announce job. A failed send goes to the notify queue as any other mail's:
 * retried with backoff, or, failed for good, a dead letter for `incidesk dlq replay`.
 */
import { describe, expect, it } from 'vitest';
import { transferIncident } from '../../src/actions/changes.js';
import { notify } from '../../src/actions/notify.js';
import { triageIncident } from '../../src/actions/triage.js';
import { replayDeadLetters } from '../../src/ops/dead-letters.js';
import { jobIds } from '../../src/queues.js';
import { findIncident, timelineOf } from '../../src/store/incidents.js';
import { Incident, Outbox, type OutboxDoc } from '../../src/store/models.js';
import { unfinishedWork } from '../../src/store/recovery.js';
import { deliver, SUPPORT, waitUntil, useTestApp } from '../support/harness.js';

const PLAN = `
groups:
  - { id: desk, name: Service Desk, lead: lena, assignment: round-robin }
  - { id: flaky, name: Flaky Link, lead: lena }
  - { id: gone, name: Gone Away, lead: lena }
agents:
  - { id: alice, name: Alice, email: alice@example.test, groups: [desk] }
  - { id: lena, name: Lena Lead, email: lena@example.test, groups: [desk], away: true }
  - { id: fred, name: Fred, email: fred@example.test, groups: [flaky] }
  - { id: gina, name: Gina, email: gina@example.test, groups: [gone] }
classification:
  defaults: { category: general, impact: medium, urgency: medium }
  rules:
    - { name: flaky, when: { subject: '\\bscanner\\b' }, set: { category: flaky } }
    - { name: gone, when: { subject: '\\bfax\\b' }, set: { category: gone } }
routing:
  rules:
    - { name: flaky, when: { category: flaky }, group: flaky }
    - { name: gone, when: { category: gone }, group: gone }
  default: desk
review:
  outages: { within: 1h, similarity: 0.6, minCustomers: 2 }
`;

describe("triage's mail, sent by the triage job", () => {
  const h = useTestApp({ plan: PLAN });
  const notifyJob = (outboxId: string) => h.app.ctx.queues.notify.getJob(jobIds.notify(outboxId));
  const incidentOf = (customer: string) =>
    waitUntil(`the incident of ${customer}`, () =>
      Incident.findOne({ 'customer.address': customer }).lean(),
    );
  const outboxOnceSent = (id: string) =>
    waitUntil(`${id} marked sent`, async () => {
      const doc = await Outbox.findById(id).lean();
      return doc?.state === 'sent' ? doc : null;
    });
  /** A new report (routed by `subject`) while SMTP answers `code` for `agent`: its notice's id. */
  const reportWhileAgentFails = async (code: number, agent: string, subject: string) => {
    h.smtp.failWith(code, agent);
    const customer = `${agent.split('@')[0]}-customer@example.com`;
    await deliver(h.t.mailboxUser, { from: customer, to: SUPPORT, subject, text: subject });
    const incident = await incidentOf(customer);
    return { incident, id: `assignment-${incident.number}-triage` };
  };
  const mailsTo = (address: string) =>
    h.smtp.messages.filter((m) => m.envelopeTo.includes(address));

  it("sends the agent's notice and the lead's outage suggestion without a notify job", async () => {
    for (const customer of ['ola@example.com', 'per@example.net'])
      await deliver(h.t.mailboxUser, {
        from: customer,
        to: SUPPORT,
        subject: 'VPN gateway down since 9:00',
        text: 'Nobody in our office can connect to the VPN gateway.',
      });
    const first = await incidentOf('ola@example.com');
    const second = await incidentOf('per@example.net');
    for (const incident of [first, second]) {
      const id = `assignment-${incident.number}-triage`;
      const sent = await outboxOnceSent(id);
      // Born claimed by its triage job, sent at the first attempt, by that job.
      expect(sent).toMatchObject({ claimedBy: jobIds.triage(incident.number), attempts: 0 });
      expect(await notifyJob(id)).toBeUndefined();
    }
    // The second report makes an outage of two customers: its triage tells the lead.
    const outage = await waitUntil('the outage suggestion sent', () =>
      Outbox.findOne({ kind: 'possible-outage', state: 'sent' }).lean<OutboxDoc>(),
    );
    expect(outage).toMatchObject({ to: 'lena@example.test', attempts: 0 });
    expect(outage.claimedBy).toMatch(/^triage-/);
    expect(await notifyJob(outage._id)).toBeUndefined();
    // Every mail so far (acknowledgements included) went out without the notify queue.
    const counts = await h.app.ctx.queues.notify.getJobCounts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    expect(mailsTo('alice@example.test')).toHaveLength(2);
    expect(mailsTo('lena@example.test')).toHaveLength(1);
  });

  it('a rerun of the triage job sends the mail its killed run stored; no other job sends it meanwhile', async () => {
    const incident = await incidentOf('ola@example.com');
    const id = `assignment-${incident.number}-triage`;
    const by = jobIds.triage(incident.number);
    await outboxOnceSent(id);
    const before = mailsTo('alice@example.test').length;
    // As a run killed after the decision committed and before the send leaves it: pending,
    // claimed by that run a few seconds ago.
    await Outbox.updateOne(
      { _id: id },
      {
        $set: { state: 'pending', claimedBy: by, lastAttemptAt: new Date(Date.now() - 5000) },
        $unset: { sentAt: 1 },
      },
    );
    // While the claim holds, neither a notify job nor the recovery sweep touches it.
    await expect(notify(h.app.ctx, id)).rejects.toThrow(`being sent by ${by}`);
    expect((await unfinishedWork(new Date(Date.now() + 1000), 500)).unsent).not.toContain(id);

    // The rerun (the same job id, so the same claim) sends it, once.
    await triageIncident(h.app.ctx, { incident: incident.number });
    const resent = await outboxOnceSent(id);
    expect(resent.claimedBy).toBe(by);
    expect(mailsTo('alice@example.test')).toHaveLength(before + 1);
    expect(await notifyJob(id)).toBeUndefined();
    // A second rerun finds it sent and sends nothing.
    await triageIncident(h.app.ctx, { incident: incident.number });
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo('alice@example.test')).toHaveLength(before + 1);
  });

  it('a temporary failure of its send is retried by the notify queue until it goes through', async () => {
    const { id } = await reportWhileAgentFails(451, 'fred@example.test', 'Scanner jams');
    const failed = await waitUntil('a failed attempt', () =>
      Outbox.findOne({ _id: id, attempts: { $gte: 1 } }).lean(),
    );
    // The failed attempt let go of the claim, and the notify queue has the mail: handed over
    // just after the failure is recorded, so it may still be on its way.
    expect(failed.lastError).toMatch(/451/);
    await waitUntil('the mail handed over to the notify queue', () => notifyJob(id));
    h.smtp.failWith(null);
    const sent = await outboxOnceSent(id);
    expect(sent.claimedBy).toBe(jobIds.notify(id));
    expect(mailsTo('fred@example.test')).toHaveLength(1);
    // The job records the send, then completes: its state follows a moment later.
    await waitUntil('the notify job completed', async () =>
      (await (await notifyJob(id))?.getState()) === 'completed' ? true : null,
    );
  });

  it('a permanent failure is recorded on the incident and ends as a dead letter, which a replay sends', async () => {
    const { incident, id } = await reportWhileAgentFails(550, 'gina@example.test', 'Fax blank');
    const failed = await waitUntil('the mail failed for good', () =>
      Outbox.findOne({ _id: id, state: 'failed' }).lean(),
    );
    expect(failed.lastError).toMatch(/550/);
    expect((await timelineOf(incident.number)).map((e) => e.event)).toContain('delivery-failed');
    await waitUntil('a dead letter in the notify queue', async () =>
      (await (await notifyJob(id))?.getState()) === 'failed' ? true : null,
    );
    expect(mailsTo('gina@example.test')).toHaveLength(0);

    // The cause mended, `incidesk dlq replay` sends it.
    h.smtp.failWith(null);
    const replay = await replayDeadLetters(h.app.ctx.queues, {
      queue: 'notify',
      id: jobIds.notify(id),
    });
    expect(replay.replayed).toEqual([{ queue: 'notify', id: jobIds.notify(id) }]);
    await outboxOnceSent(id);
    expect(mailsTo('gina@example.test')).toHaveLength(1);
  });

  it("a transfer's notice is sent by its announce job in the same way", async () => {
    const { number } = await incidentOf('per@example.net');
    await outboxOnceSent(`assignment-${number}-triage`);
    const incident = (await findIncident(number))!;
    const cause = `transfer-${incident.number}-test`;
    const done = await transferIncident(h.app.ctx, incident, 'flaky', { by: 'lena', cause });
    expect(done.ok).toBe(true);
    const id = `assignment-${incident.number}-${cause}`;
    const sent = await outboxOnceSent(id);
    expect(sent).toMatchObject({ claimedBy: jobIds.announce(incident.number, cause), attempts: 0 });
    expect(sent.to).toContain('fred@example.test');
    expect(await notifyJob(id)).toBeUndefined();
  });
});
