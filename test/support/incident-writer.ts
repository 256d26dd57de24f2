/**
 * A separate process that writes to one incident: `tsx test/support/incident-writer.ts
 * <mongoUri> <number> <name> <count> <writers>`. Once all `writers` processes are connected
 * (a barrier in the database, so they really start together) it adds `count` participants,
 * all updates in flight at once, then tries to claim the incident (assign it to `name` while
 * it is new and nobody has it) and prints `claimed` or `lost`. No lock anywhere: what keeps
 * the updates and makes one claim win is the server applying each update atomically.
 */
import { sealAudit } from '../../src/store/audit.js';
import { connectStore, db, disconnectStore } from '../../src/store/db.js';
import { updateIncident } from '../../src/store/incidents.js';

const [uri, number, name, count, writers] = process.argv.slice(2);
const n = Number(number);
await connectStore(uri!);
await arriveAndWait(`incident-${n}`, Number(writers));
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    updateIncident(n, { slaCheckAt: null }, { addParticipants: [`${name}-${i}@example.test`] }),
  ),
);
await arriveAndWait(`claim-${n}`, Number(writers));
const claimed = await updateIncident(
  n,
  { assignee: name, status: 'assigned' },
  { onlyIf: ['new'], where: { assignee: null } },
);
process.stdout.write(claimed ? 'claimed\n' : 'lost\n');
await sealAudit(); // all writers seal at once: the sealers must not fork the chain
await disconnectStore();

/** Count this process in, then wait until every writer has arrived. */
async function arriveAndWait(barrier: string, expected: number): Promise<void> {
  const barriers = db().collection<{ _id: string; arrived: number }>('test_barriers');
  await barriers.updateOne({ _id: barrier }, { $inc: { arrived: 1 } }, { upsert: true });
  while (((await barriers.findOne({ _id: barrier }))?.arrived ?? 0) < expected)
    await new Promise((resolve) => setTimeout(resolve, 20));
}
