/**
 * Group commit in ingest, on real servers: the incidents a process opens at the same moment
 * share one transaction (one `$inc` of the counter, one insert each of incidents, timeline,
 * audit entries and mail), and the raw messages its jobs read and mark, the senders'
 * acknowledgement claims and the mail they mark sent each share one command. A burst through the real intake still gives exactly one
 * incident per message, numbered consecutively, each born complete and acknowledged once, in
 * fewer inserts than incidents; a batch holding a rerun (its incident already opened) falls
 * back to one at a time, opens the others and converges on the rerun's incident; a call made
 * inside a transaction stays in it, and no one else's call rides along.
 */
import type { CommandStartedEvent } from 'mongodb';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { auditCursor, currentActor, sealAudit } from '../../src/store/audit.js';
import { atomically } from '../../src/store/db.js';
import { openIncident, type NewIncident } from '../../src/store/incidents.js';
import { Incident, RawMessage, TimelineEntry } from '../../src/store/models.js';
import { markIngested } from '../../src/store/raw-messages.js';
import { collectionsOf, writesOf } from '../support/command-names.js';
import { monitoredUri } from '../support/db-commands.js';
import { deliverBurst, SUPPORT, useTestApp, waitUntil } from '../support/harness.js';

/** A command: "op collection", and how many documents it wrote to each collection. */
interface Command {
  name: string;
  writes: Record<string, number>;
}

/** Each command sent while `fn` runs. */
async function commandsDuring<T>(
  fn: () => Promise<T>,
  sentBy?: string,
): Promise<{ result: T; commands: Command[] }> {
  const commands: Command[] = [];
  const seen = (e: CommandStartedEvent) => {
    const { actor } = currentActor();
    if (sentBy && !(actor.kind === 'worker' && actor.id === sentBy)) return;
    commands.push({
      name: `${e.commandName} ${collectionsOf(e.command, e.commandName)}`,
      writes: writesOf(e.command, e.commandName),
    });
  };
  const client = mongoose.connection.getClient();
  client.on('commandStarted', seen);
  try {
    return { result: await fn(), commands };
  } finally {
    client.off('commandStarted', seen);
  }
}

const named = (commands: Command[], name: string) => commands.filter((c) => c.name === name);

/**
 * How many documents each command that wrote to `collection` wrote there: its own insert, or
 * one command with the transaction's other writes (a server with writes across collections).
 */
const writesTo = (commands: Command[], collection: string) =>
  commands.flatMap((c) => c.writes[collection] ?? []);

describe('ingest: concurrent jobs share their round trips', () => {
  const h = useTestApp({
    env: { MONGODB_URI: monitoredUri('ingest_batch'), INCIDESK_CONCURRENCY: '8' },
  });
  const BURST = 40;

  it('opens one incident per message of a burst, numbered consecutively, in fewer inserts', async () => {
    const { commands } = await commandsDuring(async () => {
      await deliverBurst(h.t.mailboxUser, { from: 0, to: BURST, parallel: 10 }, (i) => ({
        from: `burst${i}@customer.example`,
        to: SUPPORT,
        subject: `Burst message ${i}: the ${['printer', 'vpn', 'mailbox', 'laptop'][i % 4]} again`,
        text: `Report number ${i}.`,
      }));
      await waitUntil(
        'every message ingested',
        async () => (await RawMessage.countDocuments({ state: 'ingested' })) === BURST,
      );
    }, 'ingest');

    const incidents = await Incident.find({}, { number: 1, openedBy: 1 }).lean();
    expect(incidents).toHaveLength(BURST);
    const numbers = incidents.map((i) => i.number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: BURST }, (_, k) => numbers[0]! + k));
    expect(new Set(incidents.map((i) => i.openedBy)).size).toBe(BURST);

    // Each born complete: its message and its opening on the timeline, its audit entry.
    for (const { number, openedBy } of incidents) {
      const ids = (await TimelineEntry.find({ incidentNumber: number }, { _id: 1 }).lean()).map(
        (e) => e._id,
      );
      expect(ids).toEqual(expect.arrayContaining([`msg-${openedBy}`, `opened-${openedBy}`]));
    }
    await sealAudit();
    const opened: string[] = [];
    for await (const e of auditCursor())
      if (e.action === 'incident-opened') opened.push(e.subject.id);
    expect(opened.sort()).toEqual(numbers.map(String).sort());

    // One acknowledgement each, to its sender.
    await waitUntil(
      'every acknowledgement sent',
      async () =>
        h.smtp.messages.filter((m) => m.header('x-incidesk-kind') === 'ack').length >= BURST,
    );
    const acks = h.smtp.messages.filter((m) => m.header('x-incidesk-kind') === 'ack');
    expect(acks).toHaveLength(BURST);
    expect(new Set(acks.map((m) => m.envelopeTo.join())).size).toBe(BURST);

    // Shared round trips: incidents opened together, in one insert (and one transaction).
    const inserts = writesTo(commands, 'incidents');
    console.log(
      `${BURST} incidents in ${inserts.length} inserts (${inserts.join(' ')}); ` +
        `raw messages read in ${named(commands, 'find raw_messages').length} finds, marked in ` +
        `${named(commands, 'update raw_messages').length} updates; acknowledgements claimed in ` +
        `${named(commands, 'update addresses').length} updates`,
    );
    expect(inserts.reduce((n, k) => n + k, 0)).toBe(BURST);
    expect(inserts.length).toBeLessThan(BURST);
    expect(named(commands, 'findAndModify counters').length).toBe(inserts.length);
    expect(named(commands, 'find raw_messages').length).toBeLessThan(BURST);
    expect(named(commands, 'update raw_messages').length).toBeLessThan(BURST);
    // The senders' rate-limit claims too, each still its own conditional update.
    const claims = writesTo(commands, 'addresses');
    expect(claims.reduce((n, k) => n + k, 0)).toBe(BURST);
    expect(claims.length).toBeLessThan(BURST);
  });

  const opening = (rawId: string, at: Date): NewIncident => ({
    openedBy: rawId,
    subject: `About ${rawId}`,
    customer: { address: `${rawId}@customer.example` },
    at,
    timeline: [
      { _id: `opened-${rawId}`, at, type: 'event', event: 'opened', detail: { by: rawId } },
    ],
  });

  it('opens the others of a batch holding a rerun, and the rerun converges on its incident', async () => {
    const at = new Date();
    const first = await openIncident(opening('rerun-a', at));
    expect(first.opened).toBe(true);

    // Three at once, as three ingest jobs would: one of them a rerun of `rerun-a`.
    const { result, commands } = await commandsDuring(() =>
      Promise.all([
        openIncident(opening('rerun-a', at)),
        openIncident(opening('new-b', at)),
        openIncident(opening('new-c', at)),
      ]),
    );
    const [rerun, b, c] = result;
    expect(rerun.opened).toBe(false);
    expect(rerun.incident.number).toBe(first.incident.number);
    expect(b.opened && c.opened).toBe(true);
    expect(new Set([first, b, c].map((o) => o.incident.number)).size).toBe(3);

    // Tried together first (one insert of all three, which the rerun's duplicate undid), then
    // each alone.
    const inserts = writesTo(commands, 'incidents');
    expect(inserts[0]).toBe(3);
    expect(inserts.slice(1)).toEqual([1, 1, 1]);

    for (const id of ['rerun-a', 'new-b', 'new-c']) {
      expect(await Incident.countDocuments({ openedBy: id })).toBe(1);
      expect(await TimelineEntry.countDocuments({ _id: `opened-${id}` })).toBe(1);
    }
  });
  it('keeps a call made inside a transaction in it, apart from the shared round', async () => {
    const [a, b] = (await RawMessage.find({}, { _id: 1 }).limit(2).lean()).map((r) =>
      String(r._id),
    );
    const outside = markIngested(b!, 9002, 'probe');
    const inside = atomically(async () => {
      await markIngested(a!, 9001, 'probe');
      throw new Error('rolled back');
    });
    await expect(inside).rejects.toThrow('rolled back');
    await outside;
    // The aborted transaction took its own mark with it, and only its own.
    expect((await RawMessage.findById(a!).lean())!.incidentNumber).not.toBe(9001);
    expect((await RawMessage.findById(b!).lean())!.incidentNumber).toBe(9002);
  });
});
