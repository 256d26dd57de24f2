/**
 * A separate process that appends to the audit chain: `tsx test/support/audit-append.ts
 * <mongoUri> <name> <count>`. Several at once show that appends from different processes,
 * sealed by all of them at once, form one chain.
 */
import { appendAudit, sealAudit } from '../../src/store/audit.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';

const [uri, name, count] = process.argv.slice(2);
await connectStore(uri!);
for (let i = 0; i < Number(count); i++) {
  await appendAudit({
    action: 'test-append',
    subject: { type: 'incident', id: '0' },
    actor: { kind: 'worker', id: name! },
    why: `append ${i}`,
    changes: [],
  });
}
// Every process seals too, at the same moment as the others: the sealers must not fork it.
await sealAudit();
await disconnectStore();
