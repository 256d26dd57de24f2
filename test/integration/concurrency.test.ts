/**
 * Several processes writing to one incident at the same time, on the real database server.
 * FerretDB applies each update as read, change, write back; without the per-incident lock
 * (src/store/locks.ts) some of these updates are lost and more than one claim succeeds.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { findIncident, openIncident } from '../../src/store/incidents.js';
import { testEnv } from '../support/harness.js';
import { PROJECT_ROOT } from '../support/services.js';

describe('concurrent writers on one incident', () => {
  const { env } = testEnv({ port: 25 }); // no mail is sent: only the store is used
  beforeAll(() => connectStore(env.MONGODB_URI!, env.REDIS_URL));
  afterAll(() => disconnectStore());

  it('lose no update, and exactly one conditional claim succeeds', async () => {
    const incident = await openIncident({
      openedBy: 'raw-concurrency',
      subject: 'Shared',
      customer: { address: 'shared@example.com' },
      at: new Date(),
    });
    const WRITERS = 4;
    const PER = 15;
    const writer = (name: string) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        const p = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'test/support/incident-writer.ts',
            env.MONGODB_URI!,
            env.REDIS_URL!,
            String(incident.number),
            name,
            String(PER),
          ],
          { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
        );
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.once('exit', (code) =>
          code === 0 ? resolve(out.trim()) : reject(new Error(`${name} exited ${code}`)),
        );
      });
    const names = Array.from({ length: WRITERS }, (_, i) => `writer${i}`);
    const outcomes = await Promise.all(names.map(writer));

    expect(outcomes.filter((o) => o === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'lost')).toHaveLength(WRITERS - 1);
    const after = (await findIncident(incident.number))!;
    expect(after.participants).toHaveLength(1 + WRITERS * PER);
    expect(after.assignee).toBe(names[outcomes.indexOf('claimed')]);
  });
});
