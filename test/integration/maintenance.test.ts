/**
 * Retention on real servers through the real CLI: a dry run reports and changes nothing, a
 * run archives and purges exactly the eligible records, a legal hold protects an incident and
 * everything of it, and a run killed with SIGKILL mid-move is completed by the next one with
 * nothing lost or duplicated.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseDigest } from '../../src/backup/backup.js';
import { testEnv, waitUntil, type TestEnv } from '../support/harness.js';
import { runIncidesk, spawnIncidesk } from '../support/process.js';

const DAY = 86_400_000;
const now = Date.now();
const ago = (days: number) => new Date(now - days * DAY);

const PLAN = `version: 1
organisation: Example Corp
retention:
  archiveClosedAfterDays: 30
  purge: { rawMessagesOfClosedAfterDays: 365, quarantinedAfterDays: 14, sentOutboxAfterDays: 60 }
  orphanBlobGraceHours: 1
`;

type Doc = Record<string, unknown> & { _id: string | number | mongoose.Types.ObjectId };

function incident(n: number, status: string, closedDaysAgo?: number): Doc {
  return {
    _id: n,
    number: n,
    openedBy: `raw-${n}`,
    status,
    subject: `Incident ${n}`,
    customer: { address: `c${n}@example.com` },
    participants: [`c${n}@example.com`],
    ...(closedDaysAgo === undefined ? {} : { closedAt: ago(closedDaysAgo) }),
    createdAt: ago((closedDaysAgo ?? 0) + 5),
  };
}

const entry = (n: number, i: number): Doc => ({
  _id: `tl-${n}-${i}`,
  incidentNumber: n,
  at: ago(100),
  type: 'event',
  event: `event ${i}`,
});

/** Collections earlier releases wrote: the partitioned search index, reporting, recent incidents. */
const LEFTOVER_COLLECTIONS = [
  'search_terms_0a1',
  'search_docs_fff',
  'search_contrib_000',
  'facts_20251101',
  'packs_20251101',
  'fact_days_202511',
  'open_incidents',
  'recent_incidents',
];

describe('maintenance: retention, legal hold, archive', () => {
  let t: TestEnv;
  let env: Record<string, string>;
  let client: mongoose.mongo.MongoClient;
  let db: mongoose.mongo.Db;
  let dir: string;
  const c = (name: string) => db.collection<Doc>(name);

  async function blob(content: string, uploadedDaysAgo = 0) {
    const bucket = new mongoose.mongo.GridFSBucket(db, { bucketName: 'blobs' });
    const up = bucket.openUploadStream('f');
    await new Promise((resolve, reject) =>
      up.end(Buffer.from(content), () => resolve(undefined)).on('error', reject),
    );
    if (uploadedDaysAgo)
      await c('blobs.files').updateOne(
        { _id: up.id },
        { $set: { uploadDate: ago(uploadedDaysAgo) } },
      );
    return up.id;
  }
  const ids = async (name: string) =>
    (
      await c(name)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((d) => d._id)
      .sort();
  const withoutRuns = (d: Awaited<ReturnType<typeof databaseDigest>>) => {
    const rest = { ...d };
    delete rest.maintenance_runs;
    return rest;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'incidesk-maint-'));
    await writeFile(join(dir, 'plan.yaml'), PLAN);
    t = testEnv({ port: 2525 }, { INCIDESK_PLAN: join(dir, 'plan.yaml') });
    env = t.env;
    client = new mongoose.mongo.MongoClient(env.MONGODB_URI!);
    await client.connect();
    db = client.db();

    await c('incidents').insertMany([
      incident(1, 'closed', 40), // archive
      incident(2, 'closed', 400), // archive, and purge its raw message and attachment
      incident(3, 'closed', 400), // held: untouched
      incident(4, 'open'),
      incident(5, 'closed', 10),
    ]);
    await c('timeline').insertMany([
      entry(1, 0),
      entry(1, 1),
      entry(2, 0),
      entry(3, 0),
      entry(4, 0),
    ]);
    // Playbook steps and staff threads go with their incident (3 is held, 4 is open).
    await c('playbook_steps').insertMany(
      [1, 2, 3, 4].map((n) => ({ _id: `${n}-1`, incidentNumber: n, step: 1, state: 'done' })),
    );
    await c('staff_threads').insertMany([
      { _id: '1/dave@example.test', messageId: '<a@x>' },
      { _id: '1/mia@example.test', messageId: '<b@x>' },
      { _id: '2/dave@example.test', messageId: '<c@x>' },
      { _id: '3/dave@example.test', messageId: '<d@x>' },
      // Incident 11 is not 1: the prefix ends at the slash.
      { _id: '11/dave@example.test', messageId: '<e@x>' },
    ]);
    const rawBlob2 = await blob('raw message 2 bytes', 400);
    const attBlob2 = await blob('attachment 2 bytes', 400);
    const attBlob3 = await blob('attachment 3 bytes (held)', 400);
    await blob('nobody references me', 2); // orphan past the grace period
    await blob('upload in progress'); // unreferenced but too young to be called an orphan
    await c('raw_messages').insertMany([
      {
        _id: 'raw-2',
        size: 19,
        blobId: rawBlob2,
        state: 'ingested',
        incidentNumber: 2,
        receivedAt: ago(405),
      },
      {
        _id: 'raw-3',
        size: 3,
        data: Buffer.from('abc'),
        state: 'ingested',
        incidentNumber: 3,
        receivedAt: ago(405),
      },
      {
        _id: 'raw-4',
        size: 3,
        data: Buffer.from('def'),
        state: 'ingested',
        incidentNumber: 4,
        receivedAt: ago(500),
      },
      {
        _id: 'q-old',
        size: 1,
        data: Buffer.from('q'),
        state: 'quarantined',
        reason: 'x',
        receivedAt: ago(20),
      },
      {
        _id: 'q-new',
        size: 1,
        data: Buffer.from('r'),
        state: 'quarantined',
        reason: 'x',
        receivedAt: ago(2),
      },
    ]);
    await c('attachments').insertMany([
      {
        _id: 'raw-2-0',
        rawId: 'raw-2',
        incidentNumber: 2,
        size: 18,
        sha256: 'x',
        blobId: attBlob2,
      },
      {
        _id: 'raw-3-0',
        rawId: 'raw-3',
        incidentNumber: 3,
        size: 25,
        sha256: 'y',
        blobId: attBlob3,
      },
    ]);
    await c('outbox').insertMany([
      { _id: 'ack-4', kind: 'ack', incidentNumber: 4, state: 'sent', sentAt: ago(90) },
      { _id: 'reply-4', kind: 'reply', incidentNumber: 4, state: 'sent', sentAt: ago(10) },
      { _id: 'ack-3', kind: 'ack', incidentNumber: 3, state: 'sent', sentAt: ago(400) },
      { _id: 'pending-4', kind: 'reply', incidentNumber: 4, state: 'pending' },
    ]);
    await c('addresses').insertOne({
      _id: 'c4@example.com',
      recentAcks: [new Date(now - 2 * 3_600_000), new Date(now)],
    });
    // What earlier releases left, beside what looks like it and is not theirs.
    for (const name of [...LEFTOVER_COLLECTIONS, 'search_terms', 'facts_custom'])
      await c(name).insertOne({ _id: 'x' });
    await c('incidents').createIndex({ triagedAt: 1 }, { sparse: true });
    await c('outbox').createIndex({ to: 1, kind: 1, createdAt: -1 });
    await c('incidents').createIndex({ subject: 1 }); // an operator's own
  });
  afterAll(async () => {
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const expected = {
    archivedIncidents: 2,
    archivedTimelineEntries: 3,
    purgedRawMessages: 1,
    purgedQuarantinedRawMessages: 1,
    purgedAttachments: 1,
    purgedSentOutbox: 1,
    deletedBlobs: 3, // raw-2's, its attachment's, the orphan
    deletedOrphanChunks: 0,
    orphanAttachments: 0,
    trimmedAckAddresses: 1,
    keptByHold: 3, // incident 3, raw-3, ack-3
    droppedObsoleteCollections: LEFTOVER_COLLECTIONS.length,
    droppedObsoleteIndexes: 2,
  };
  const indexNames = async (name: string) => (await c(name).indexes()).map((i) => i.name);
  const collectionNames = async () => (await db.listCollections().toArray()).map((i) => i.name);

  it('places a legal hold through the CLI (reason required, unknown incidents refused)', async () => {
    expect((await runIncidesk(['hold', 'INC-000003'], env)).code).toBe(64);
    expect((await runIncidesk(['hold', 'INC-000099', '--reason', 'x'], env)).code).toBe(66);
    const held = await runIncidesk(['hold', 'INC-000003', '--reason', 'litigation 2026-17'], env);
    expect(held.code, held.stderr).toBe(0);
    expect((await runIncidesk(['hold', 'list'], env)).stdout).toMatch(
      /INC-000003 .* litigation 2026-17/,
    );
  });

  it('a dry run reports what it would do, records it, and changes nothing', async () => {
    const before = withoutRuns(await databaseDigest(db));
    const run = await runIncidesk(['maintenance', 'run', '--dry-run', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ dryRun: true, counts: expected });
    expect(withoutRuns(await databaseDigest(db))).toEqual(before);
    expect(await c('maintenance_runs').findOne({ _id: report.runId })).toMatchObject({
      dryRun: true,
      status: 'done',
      counts: expected,
    });
    const text = await runIncidesk(['maintenance', 'run', '--dry-run'], env);
    expect(text.stdout).toMatch(/2 {2}closed incidents would be archived/);
  });

  it('a run archives and purges exactly the eligible records; the held incident is untouched', async () => {
    const run = await runIncidesk(['maintenance', 'run', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ dryRun: false, counts: expected });

    expect(await ids('incidents')).toEqual([3, 4, 5]);
    expect(await ids('archive_incidents')).toEqual([1, 2]);
    expect(await ids('timeline')).toEqual(['tl-3-0', 'tl-4-0']);
    expect(await ids('archive_timeline')).toEqual(['tl-1-0', 'tl-1-1', 'tl-2-0']);
    expect(await ids('playbook_steps')).toEqual(['3-1', '4-1']);
    expect(await ids('archive_playbook_steps')).toEqual(['1-1', '2-1']);
    expect(await ids('staff_threads')).toEqual(['11/dave@example.test', '3/dave@example.test']);
    expect(await ids('archive_staff_threads')).toEqual([
      '1/dave@example.test',
      '1/mia@example.test',
      '2/dave@example.test',
    ]);
    expect((await c('archive_playbook_steps').findOne({ _id: '1-1' }))!).toMatchObject({
      incidentNumber: 1,
      state: 'done',
      archivedAt: expect.any(Date),
    });
    expect(await ids('raw_messages')).toEqual(['q-new', 'raw-3', 'raw-4']);
    expect(await ids('attachments')).toEqual(['raw-3-0']);
    expect(await ids('outbox')).toEqual(['ack-3', 'pending-4', 'reply-4']);
    expect(await c('blobs.files').countDocuments()).toBe(2); // the held attachment's, the young one
    const held = (await c('attachments').findOne({ _id: 'raw-3-0' }))!;
    const bytes: Buffer[] = [];
    for await (const b of new mongoose.mongo.GridFSBucket(db, {
      bucketName: 'blobs',
    }).openDownloadStream(held.blobId as mongoose.Types.ObjectId))
      bytes.push(b as Buffer);
    expect(Buffer.concat(bytes).toString()).toBe('attachment 3 bytes (held)');
    expect((await c('addresses').findOne({ _id: 'c4@example.com' }))!.recentAcks).toHaveLength(1);
    const archived = (await c('archive_incidents').findOne({ _id: 1 }))!;
    expect(archived).toMatchObject({ subject: 'Incident 1', status: 'closed' });
    expect(archived.archivedAt).toBeInstanceOf(Date);

    // Archived incidents stay findable.
    const shown = await runIncidesk(['incidents', 'show', 'INC-000001', '--json'], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).timeline).toHaveLength(2);
    const text = await runIncidesk(['incidents', 'show', 'INC-000001'], env);
    expect(text.stdout).toMatch(/INC-000001 {2}Incident 1[\s\S]*• event 1[\s\S]*\(archived /);

    // What earlier releases left is gone; what only looks like it stays.
    const collections = await collectionNames();
    for (const name of LEFTOVER_COLLECTIONS) expect(collections).not.toContain(name);
    expect(collections).toEqual(expect.arrayContaining(['search_terms', 'facts_custom']));
    expect(await indexNames('incidents')).not.toContain('triagedAt_1');
    expect(await indexNames('incidents')).toContain('subject_1');
    expect(await indexNames('outbox')).not.toContain('to_1_kind_1_createdAt_-1');

    // A second run finds nothing more to do.
    const again = JSON.parse((await runIncidesk(['maintenance', 'run', '--json'], env)).stdout);
    expect(again.counts).toMatchObject({
      archivedIncidents: 0,
      purgedRawMessages: 0,
      deletedBlobs: 0,
      keptByHold: 3,
      droppedObsoleteCollections: 0,
      droppedObsoleteIndexes: 0,
    });
  });

  it('restores an archived incident, and releasing the hold makes incident 3 eligible again', async () => {
    const restored = await runIncidesk(['archive', 'restore', 'INC-000001'], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await ids('incidents')).toEqual([1, 3, 4, 5]);
    expect(await ids('archive_incidents')).toEqual([2]);
    expect(await c('timeline').countDocuments({ incidentNumber: 1 })).toBe(2);
    expect(await ids('playbook_steps')).toEqual(['1-1', '3-1', '4-1']);
    expect(await c('playbook_steps').findOne({ _id: '1-1' })).not.toHaveProperty('archivedAt');
    expect(await ids('archive_playbook_steps')).toEqual(['2-1']);
    expect(await ids('staff_threads')).toEqual([
      '1/dave@example.test',
      '1/mia@example.test',
      '11/dave@example.test',
      '3/dave@example.test',
    ]);
    expect(await ids('archive_staff_threads')).toEqual(['2/dave@example.test']);
    expect((await runIncidesk(['archive', 'restore', 'INC-000042'], env)).code).toBe(66);

    expect((await runIncidesk(['hold', 'release', 'INC-000003'], env)).code).toBe(0);
    expect((await runIncidesk(['hold', 'release', 'INC-000003'], env)).code).toBe(66);
    const run = JSON.parse((await runIncidesk(['maintenance', 'run', '--json'], env)).stdout);
    // Incident 1 was just restored: its period starts again. Incident 3 goes now.
    expect(run.counts).toMatchObject({
      archivedIncidents: 1,
      purgedRawMessages: 1,
      purgedAttachments: 1,
      purgedSentOutbox: 1,
      keptByHold: 0,
    });
    expect(await ids('incidents')).toEqual([1, 4, 5]);
  });
});

describe('maintenance killed mid-run', () => {
  const N = 3000;
  let env: Record<string, string>;
  let client: mongoose.mongo.MongoClient;
  let db: mongoose.mongo.Db;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'incidesk-maint-kill-'));
    await writeFile(join(dir, 'plan.yaml'), PLAN);
    env = testEnv({ port: 2525 }, { INCIDESK_PLAN: join(dir, 'plan.yaml') }).env;
    client = new mongoose.mongo.MongoClient(env.MONGODB_URI!);
    await client.connect();
    db = client.db();
    const incidents = Array.from({ length: N }, (_, i) => incident(i + 1, 'closed', 40));
    incidents.push(incident(N + 1, 'open'));
    for (let i = 0; i < incidents.length; i += 2000)
      await db.collection<Doc>('incidents').insertMany(incidents.slice(i, i + 2000));
    const entries = incidents.flatMap((d) => [
      entry(d._id as number, 0),
      entry(d._id as number, 1),
    ]);
    for (let i = 0; i < entries.length; i += 2000)
      await db.collection<Doc>('timeline').insertMany(entries.slice(i, i + 2000));
  });
  afterAll(async () => {
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const count = (name: string) => db.collection(name).countDocuments();
  const idSet = async (name: string) =>
    new Set(
      (
        await db
          .collection<Doc>(name)
          .find({}, { projection: { _id: 1 } })
          .toArray()
      ).map((d) => d._id),
    );

  it('a rerun completes a run killed with SIGKILL: nothing lost, nothing duplicated', async () => {
    const before = { incidents: N + 1, timeline: 2 * (N + 1) };
    const proc = spawnIncidesk(['maintenance', 'run'], env);
    // Kill it once the move has begun copying timelines: incidents copied, not yet deleted.
    await waitUntil(
      'the move under way',
      async () => (await count('archive_timeline')) > 0,
      120_000,
    );
    await proc.kill('SIGKILL');
    expect(await db.collection('maintenance_runs').findOne({ dryRun: false })).toMatchObject({
      status: 'running',
    });
    const hotAfterKill = await count('incidents');
    expect(hotAfterKill).toBeGreaterThan(1); // it really was interrupted before finishing

    const rerun = await runIncidesk(['maintenance', 'run', '--json'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const hot = await idSet('incidents');
    const archived = await idSet('archive_incidents');
    expect(hot).toEqual(new Set([N + 1]));
    expect(archived.size).toBe(N);
    expect(hot.size + archived.size).toBe(before.incidents);
    const hotTl = await idSet('timeline');
    const archivedTl = await idSet('archive_timeline');
    expect(hotTl.size + archivedTl.size).toBe(before.timeline);
    expect([...hotTl].filter((id) => archivedTl.has(id))).toEqual([]);
    expect(hotTl).toEqual(new Set([`tl-${N + 1}-0`, `tl-${N + 1}-1`]));
  });
});
