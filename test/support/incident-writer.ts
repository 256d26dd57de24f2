/**
 * A separate process that writes to one incident: `tsx test/support/incident-writer.ts
 * <mongoUri> <redisUrl> <number> <name> <count>`. It adds `count` participants, one update
 * at a time, then tries to claim the incident (assign it to `name` while nobody has it) and
 * prints `claimed` or `lost`. Several at once show that concurrent writers lose nothing and
 * that a conditional update holds for one writer only.
 */
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { updateIncident } from '../../src/store/incidents.js';

const [uri, redisUrl, number, name, count] = process.argv.slice(2);
await connectStore(uri!, redisUrl || undefined);
for (let i = 0; i < Number(count); i++)
  await updateIncident(
    Number(number),
    { slaCheckAt: null },
    {
      addParticipants: [`${name}-${i}@example.test`],
    },
  );
const claimed = await updateIncident(
  Number(number),
  { assignee: name },
  { where: { assignee: null } },
);
process.stdout.write(claimed ? 'claimed\n' : 'lost\n');
await disconnectStore();
