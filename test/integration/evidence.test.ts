/**
 * The evidence pack on the real store: a seeded quarter (with incidents before and after it)
 * is exported by the CLI; the register, the playbook steps and the messages sent under
 * communication protocols match an independent count over the raw collections, read back by
 * another ZIP implementation (Python's); the pack verifies, and a changed file in it is detected.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unzipStored, zipStored } from '../../src/domain/zip.js';
import { recordPlanVersion } from '../../src/store/audit.js';
import { connectStore, disconnectStore } from '../../src/store/db.js';
import { protocolOutboxId } from '../../src/domain/protocols.js';
import {
  ArchivedPlaybookStep,
  DrillRunModel,
  Incident,
  Outbox,
  PlaybookStep,
  ProtocolMessage,
} from '../../src/store/models.js';
import { AGENT_TOKEN, testEnv, type TestEnv } from '../support/harness.js';
import { runIncidesk } from '../support/process.js';
import { startSmtpCapture, type SmtpCapture } from '../support/smtp-capture.js';
import { mulberry32 } from '../support/prng.js';

const FROM = new Date('2026-10-01T00:00:00Z');
const TO = new Date('2027-01-01T00:00:00Z');
const DAY = 86_400_000;

describe('evidence pack', () => {
  let smtp: SmtpCapture;
  let t: TestEnv;
  const dir = mkdtempSync(join(tmpdir(), 'incidesk-evidence-'));
  const pack = join(dir, 'q4.zip');

  beforeAll(async () => {
    smtp = await startSmtpCapture();
    t = testEnv(smtp);
    await connectStore(t.config.mongoUri);
    // A quarter of incidents with some either side, at seeded random times.
    const rnd = mulberry32(13);
    const start = FROM.getTime() - 30 * DAY;
    const span = TO.getTime() + 30 * DAY - start;
    const incidents = Array.from({ length: 60 }, (_, k) => {
      const createdAt = new Date(start + Math.floor(rnd() * span));
      return {
        _id: k + 1,
        number: k + 1,
        openedBy: `raw-${k}`,
        subject: `Incident ${k + 1}`,
        customer: { address: `c${k}@example.com` },
        participants: [`c${k}@example.com`],
        status: k % 3 ? 'resolved' : 'assigned',
        category: k % 2 ? 'security' : 'billing',
        priority: `P${(k % 4) + 1}`,
        createdAt,
        updatedAt: createdAt,
      };
    });
    // The first seconds of the quarter and its last millisecond are in; the end is not.
    incidents.push(
      { ...incidents[0]!, _id: 61, number: 61, openedBy: 'raw-61', createdAt: FROM },
      {
        ...incidents[0]!,
        _id: 62,
        number: 62,
        openedBy: 'raw-62',
        createdAt: new Date(TO.getTime() - 1),
      },
      { ...incidents[0]!, _id: 63, number: 63, openedBy: 'raw-63', createdAt: TO },
    );
    await Incident.collection.insertMany(incidents as never[]);
    const steps = incidents
      .filter((i) => i.category === 'security')
      .flatMap((i) =>
        [1, 2].map((step) => ({
          _id: `${i.number}-${step}`,
          incidentNumber: i.number,
          step,
          category: 'security',
          phase: step === 1 ? 'containment' : 'recovery',
          title: `Step ${step}`,
          owner: 'assignee',
          mandatory: step === 1,
          state: i.status === 'resolved' ? 'done' : 'open',
          createdAt: i.createdAt,
        })),
      );
    // Some incidents' steps were archived (maintenance moves them with their incident).
    const archived = (s: { incidentNumber: number }) => s.incidentNumber % 5 === 0;
    await PlaybookStep.collection.insertMany(steps.filter((s) => !archived(s)) as never[]);
    await ArchivedPlaybookStep.collection.insertMany(steps.filter(archived) as never[]);
    // Drill runs: one before the quarter, two in it (the first at its first instant), one after.
    await DrillRunModel.collection.insertMany(
      [FROM.getTime() - DAY, FROM.getTime(), FROM.getTime() + 40 * DAY, TO.getTime()].map(
        (t, k) => ({
          _id: `drill-${k}`,
          scenario: `Scenario ${k}`,
          plan: 'v1-test',
          start: new Date(t),
          ranAt: new Date(t),
          by: 'test-admin',
          findings: k === 2 ? [{ kind: 'no-playbook', subject: 'category x', text: 'x' }] : [],
          entries: [],
          incidents: [],
        }),
      ) as never[],
    );
    // P1s told their customer under a protocol: the message, and its mail sent a minute later.
    const told = incidents.filter((i) => i.priority === 'P1');
    const key = (n: number) =>
      `INC-${String(n).padStart(6, '0')}/outage/stakeholder-update/opened#0/customer:c@x`;
    await ProtocolMessage.collection.insertMany(
      told.map((i) => ({
        _id: key(i.number),
        ref: 'abcdef',
        incidentNumber: i.number,
        protocol: 'outage',
        moment: 'opened',
        occurrence: 0,
        recipient: `customer:${i.customer.address}`,
        about: i.number,
        audience: 'external',
        template: 'stakeholder-update',
        locale: 'en',
        approval: 'lead',
        state: 'released',
        approvedBy: 'dave',
        to: [i.customer.address],
        releasedAt: i.createdAt,
        createdAt: i.createdAt,
      })) as never[],
    );
    await Outbox.collection.insertMany(
      told.map((i) => ({
        _id: protocolOutboxId(key(i.number), i.customer.address),
        kind: 'protocol',
        state: 'sent',
        sentAt: new Date(i.createdAt.getTime() + 60_000),
      })) as never[],
    );
    await recordPlanVersion({
      fingerprint: 'v1-test',
      version: 1,
      text: 'version: 1\norganisation: X\n',
    });
  });
  afterAll(async () => {
    await disconnectStore();
    await smtp?.close();
  });

  /** Files and their CSV rows as Python's zipfile reads them: an independent reader. */
  const readWithPython = (file: string): Record<string, string[]> =>
    JSON.parse(
      execFileSync('python3', [
        '-c',
        'import sys, zipfile, json; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps({i.filename: z.read(i).decode().splitlines() for i in z.infolist()}))',
        file,
      ]).toString(),
    ) as Record<string, string[]>;

  it('an agent may not make one', async () => {
    const r = await runIncidesk(
      ['evidence', '--from', '2026-10-01', '--to', '2026-12-31', '-o', pack],
      {
        ...t.env,
        INCIDESK_TOKEN: AGENT_TOKEN,
      },
    );
    expect(r.code).toBe(77);
    expect(r.stderr).toContain('it needs manager');
  });

  it("the quarter's pack matches an independent count over the raw incidents, and verifies", async () => {
    const made = await runIncidesk(
      ['evidence', '--from', '2026-10-01', '--to', '2026-12-31', '-o', pack],
      t.env,
    );
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);

    const inQuarter = { createdAt: { $gte: FROM, $lt: TO } };
    const numbers = (await Incident.find(inQuarter, { _id: 1 }).lean())
      .map((i) => i._id as number)
      .sort((a, b) => a - b);
    const ofThem = { incidentNumber: { $in: numbers } };
    const stepCount =
      (await PlaybookStep.countDocuments(ofThem)) +
      (await ArchivedPlaybookStep.countDocuments(ofThem));
    expect(await ArchivedPlaybookStep.countDocuments(ofThem)).toBeGreaterThan(0);
    expect(numbers.length).toBeGreaterThan(30); // the seed put most of 60 in the quarter
    expect(numbers.length).toBeLessThan(63);
    expect(numbers).toContain(61);
    expect(numbers).toContain(62);
    expect(numbers).not.toContain(63);

    const files = readWithPython(pack);
    const register = files['incidents.csv']!.slice(1).map((l) => Number(l.split(',')[0]));
    expect(register).toEqual(numbers);
    expect(files['sla.csv']!.length - 1).toBe(numbers.length);
    expect(files['playbook-steps.csv']!.length - 1).toBe(stepCount);
    const drills = JSON.parse(files['drills.json']!.join('\n')) as {
      _id: string;
      findings: unknown[];
    }[];
    expect(drills.map((d) => d._id)).toEqual(['drill-1', 'drill-2']);
    expect(drills[1]!.findings).toHaveLength(1);
    const communications = files['communications.csv']!.slice(1);
    expect(communications).toHaveLength(
      await ProtocolMessage.countDocuments({ incidentNumber: { $in: numbers } }),
    );
    expect(communications.length).toBeGreaterThan(5);
    for (const row of communications)
      expect(row).toMatch(/,stakeholder-update,released,[0-9TZ:.-]+,[0-9TZ:.-]+,dave$/);
    expect(files['plan-versions.csv']!.slice(1)).toEqual([expect.stringMatching(/^1,1,v1-test,/)]);
    expect(JSON.parse(files['audit-verification.json']!.join('\n'))).toMatchObject({
      intact: true,
      entries: 1,
    });
    const manifest = JSON.parse(files['manifest.json']!.join('\n'));
    expect(manifest).toMatchObject({
      from: FROM.toISOString(),
      to: TO.toISOString(),
      createdBy: 'test-admin',
    });
    expect(made.stdout).toContain(
      `${numbers.length} incident(s), ${stepCount} playbook step(s), 2 drill run(s)`,
    );

    const verified = await runIncidesk(['evidence', 'verify', pack], t.env);
    expect(verified.stdout).toContain('every file matches the manifest');
    expect(verified.code).toBe(0);
  });

  it('a file changed in the pack is detected, however it was changed', async () => {
    // Rewritten as a well-formed ZIP, one row of the register dropped.
    const files = unzipStored(readFileSync(pack)).map((f) =>
      f.name === 'incidents.csv'
        ? {
            ...f,
            data: Buffer.from(
              f.data
                .toString()
                .split('\r\n')
                .filter((_, i) => i !== 1)
                .join('\r\n'),
            ),
          }
        : f,
    );
    const rewritten = join(dir, 'rewritten.zip');
    writeFileSync(rewritten, zipStored(files));
    const r = await runIncidesk(['evidence', 'verify', rewritten], t.env);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain('incidents.csv: sha256 does not match the manifest (changed)');

    // Bytes edited in place: the ZIP's own CRC names the file.
    const raw = readFileSync(pack);
    const at = raw.indexOf('resolved');
    raw.write('assigned', at);
    const edited = join(dir, 'edited.zip');
    writeFileSync(edited, raw);
    const e = await runIncidesk(['evidence', 'verify', edited], t.env);
    expect(e.code).toBe(65);
    expect(e.stderr).toMatch(/incidents\.csv: CRC-32 mismatch/);
  });
});
