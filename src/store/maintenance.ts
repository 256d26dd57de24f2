/**
 * `incidesk maintenance run`: archive closed incidents, purge data past its retention, and
 * consolidate what nothing references any more. Every step is idempotent (copy before delete,
 * deletes by `_id`, bytes deleted after the documents that point at them), so a run killed at
 * any point is completed by the next one. Every run, dry or not, is recorded in
 * `maintenance_runs` with its counts per retention class.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import mongoose from 'mongoose';
import {
  ACK_WINDOW_MS,
  expiredAcks,
  incidentVerdict,
  orphanBlobVerdict,
  outboxVerdict,
  rawVerdict,
  type IncidentVerdict,
  type RetentionPolicy,
} from '../domain/retention.js';
import { deleteByIds, heldNumbers, moveIncidents } from './archive.js';
import { db } from './db.js';
import { dropLeftovers, findLeftovers } from './leftovers.js';
import { MaintenanceRun } from './models.js';

const BLOB_BUCKET = 'blobs';

export interface MaintenanceCounts {
  /** Incidents (and their timeline entries) moved to the archive collections. */
  archivedIncidents: number;
  archivedTimelineEntries: number;
  /** Raw messages of long-closed incidents, and quarantined ones past their period. */
  purgedRawMessages: number;
  purgedQuarantinedRawMessages: number;
  purgedAttachments: number;
  purgedSentOutbox: number;
  /** Blobs (GridFS files) of purged records, or referenced by nothing. */
  deletedBlobs: number;
  deletedOrphanChunks: number;
  /** Attachments whose raw message no longer exists. */
  orphanAttachments: number;
  /** Addresses whose acknowledgement history held entries older than the rate-limit window. */
  trimmedAckAddresses: number;
  /** Records that would have gone but for a legal hold. */
  keptByHold: number;
  /** Collections and indexes that earlier releases wrote and this one never reads. */
  droppedObsoleteCollections: number;
  droppedObsoleteIndexes: number;
}

export interface MaintenanceReport {
  runId: string;
  dryRun: boolean;
  startedAt: Date;
  finishedAt: Date;
  counts: MaintenanceCounts;
}

const zero = (): MaintenanceCounts => ({
  archivedIncidents: 0,
  archivedTimelineEntries: 0,
  purgedRawMessages: 0,
  purgedQuarantinedRawMessages: 0,
  purgedAttachments: 0,
  purgedSentOutbox: 0,
  deletedBlobs: 0,
  deletedOrphanChunks: 0,
  orphanAttachments: 0,
  trimmedAckAddresses: 0,
  keptByHold: 0,
  droppedObsoleteCollections: 0,
  droppedObsoleteIndexes: 0,
});

type Id = string | number | mongoose.Types.ObjectId;
type Doc = Record<string, unknown> & { _id: Id };
const coll = (name: string) => db().collection<Doc>(name);
const key = (id: unknown) => String(id);

/** Scan a collection with a projection: one pass, whatever the server does with indexes. */
async function* scan(name: string, projection: Record<string, 1>) {
  for await (const doc of coll(name).find({}, { projection, batchSize: 2000 })) yield doc;
}

export async function runMaintenance(options: {
  policy: RetentionPolicy;
  now: Date;
  dryRun: boolean;
  log: Logger;
}): Promise<MaintenanceReport> {
  const { policy, now, dryRun, log } = options;
  const runId = `${now.toISOString()}-${randomUUID().slice(0, 8)}`;
  const startedAt = new Date();
  await MaintenanceRun.create({ _id: runId, dryRun, status: 'running', startedAt, policy });
  const counts = zero();
  try {
    await maintain(policy, now, dryRun, counts, log);
  } catch (err) {
    await MaintenanceRun.updateOne(
      { _id: runId },
      { $set: { status: 'failed', finishedAt: new Date(), counts, error: (err as Error).message } },
    );
    throw err;
  }
  const finishedAt = new Date();
  await MaintenanceRun.updateOne({ _id: runId }, { $set: { status: 'done', finishedAt, counts } });
  return { runId, dryRun, startedAt, finishedAt, counts };
}

async function maintain(
  policy: RetentionPolicy,
  now: Date,
  dryRun: boolean,
  counts: MaintenanceCounts,
  log: Logger,
) {
  const held = await heldNumbers();
  const projection = { status: 1, closedAt: 1, restoredFromArchiveAt: 1 } as const;

  // 1. Verdicts for every closed incident, hot or archived.
  const verdicts = new Map<number, IncidentVerdict>();
  /** For held incidents only: what they would get without the hold (for `keptByHold`). */
  const verdictsWithoutHolds = new Map<number, IncidentVerdict>();
  const toArchive: number[] = [];
  for (const [name, hot] of [
    ['incidents', true],
    ['archive_incidents', false],
  ] as const) {
    for await (const doc of scan(name, projection)) {
      const n = doc._id as number;
      const i = doc as unknown as Parameters<typeof incidentVerdict>[0];
      const verdict = incidentVerdict(i, policy, now, held.has(n));
      const unheld = incidentVerdict(i, policy, now, false);
      if (verdict === 'keep' && unheld !== 'keep') {
        counts.keptByHold++;
        verdictsWithoutHolds.set(n, unheld);
      }
      verdicts.set(n, verdict);
      if (hot && verdict !== 'keep') toArchive.push(n);
    }
  }

  // 2. Archive: incidents and their timelines leave the hot collections.
  if (dryRun) {
    const wanted = new Set(toArchive);
    counts.archivedIncidents = toArchive.length;
    for await (const e of scan('timeline', { incidentNumber: 1 }))
      if (wanted.has(e.incidentNumber as number)) counts.archivedTimelineEntries++;
  } else if (toArchive.length) {
    const moved = await moveIncidents(toArchive, 'archive', now);
    counts.archivedIncidents = moved.incidents;
    counts.archivedTimelineEntries = moved.timeline;
    log.info(moved, 'archived closed incidents');
  }

  // 3. Raw messages: those of long-closed incidents, and old quarantined ones.
  const rawIds = new Set<string>();
  const purgeRaw: string[] = [];
  const purgedRawIds = new Set<string>();
  const blobsToDelete: Id[] = [];
  const referencedBlobs = new Set<string>();
  const heldBlobs = new Set<string>();
  for await (const raw of scan('raw_messages', {
    state: 1,
    receivedAt: 1,
    incidentNumber: 1,
    openingIncident: 1,
    blobId: 1,
  })) {
    const number = (raw.incidentNumber ?? raw.openingIncident) as number | undefined;
    const isHeld = number !== undefined && held.has(number);
    const r = raw as unknown as Parameters<typeof rawVerdict>[0];
    const incident = {
      verdict: number === undefined ? undefined : verdicts.get(number),
      held: isHeld,
    };
    const verdict = rawVerdict(r, incident, policy, now);
    if (
      verdict === 'keep' &&
      isHeld &&
      rawVerdict(r, { verdict: verdictsWithoutHolds.get(number!), held: false }, policy, now) ===
        'purge'
    )
      counts.keptByHold++;
    if (verdict === 'purge') {
      purgeRaw.push(raw._id as string);
      purgedRawIds.add(raw._id as string);
      if (raw.state === 'quarantined' && incident.verdict !== 'purge')
        counts.purgedQuarantinedRawMessages++;
      else counts.purgedRawMessages++;
      if (raw.blobId) blobsToDelete.push(raw.blobId as Id);
    } else {
      rawIds.add(raw._id as string);
      if (raw.blobId) {
        referencedBlobs.add(key(raw.blobId));
        if (isHeld) heldBlobs.add(key(raw.blobId));
      }
    }
  }

  // 4. Attachments of purged raw messages, and attachments whose raw message is gone.
  const purgeAttachments: Id[] = [];
  for await (const a of scan('attachments', { rawId: 1, blobId: 1, incidentNumber: 1 })) {
    const isHeld = a.incidentNumber !== undefined && held.has(a.incidentNumber as number);
    if (!isHeld && !rawIds.has(a.rawId as string)) {
      purgeAttachments.push(a._id);
      if (purgedRawIds.has(a.rawId as string)) counts.purgedAttachments++;
      else counts.orphanAttachments++;
      if (a.blobId) blobsToDelete.push(a.blobId as Id);
    } else if (a.blobId) {
      referencedBlobs.add(key(a.blobId));
      if (isHeld) heldBlobs.add(key(a.blobId));
    }
  }

  // 5. Sent outbound mail past its period.
  const purgeOutbox: Id[] = [];
  for await (const o of scan('outbox', { state: 1, sentAt: 1, incidentNumber: 1 })) {
    const m = o as unknown as Parameters<typeof outboxVerdict>[0];
    const isHeld = held.has(o.incidentNumber as number);
    if (outboxVerdict(m, isHeld, policy, now) === 'purge') purgeOutbox.push(o._id);
    else if (isHeld && outboxVerdict(m, false, policy, now) === 'purge') counts.keptByHold++;
  }
  counts.purgedSentOutbox = purgeOutbox.length;

  // Documents first, bytes last: a run killed in between leaves unreferenced blobs, which the
  // orphan sweep below (of this run or the next) deletes; never a reference to missing bytes.
  if (!dryRun) {
    await deleteByIds('attachments', purgeAttachments);
    await deleteByIds('raw_messages', purgeRaw);
    await deleteByIds('outbox', purgeOutbox);
  }

  // 6. Blobs: those of purged records, and those nothing references (past a grace period:
  // an upload writes its bytes before the document that points at them).
  const bucket = new mongoose.mongo.GridFSBucket(db(), { bucketName: BLOB_BUCKET });
  const doomed = new Set(blobsToDelete.map(key));
  const files = new Set<string>();
  const deleteBlobs: mongoose.Types.ObjectId[] = [];
  for await (const f of scan(`${BLOB_BUCKET}.files`, { uploadDate: 1 })) {
    const id = key(f._id);
    files.add(id);
    const orphan =
      !doomed.has(id) &&
      orphanBlobVerdict(
        {
          uploadedAt: f.uploadDate as Date,
          referenced: referencedBlobs.has(id),
          held: heldBlobs.has(id),
        },
        policy,
        now,
      ) === 'purge';
    if (doomed.has(id) || orphan) deleteBlobs.push(f._id as mongoose.Types.ObjectId);
  }
  counts.deletedBlobs = deleteBlobs.length;
  if (!dryRun) {
    for (const id of deleteBlobs) {
      await bucket.delete(id).catch((err: Error) => {
        // Already gone (a previous, interrupted run): that is the goal.
        if (!/not found|FileNotFound/i.test(err.message)) throw err;
      });
    }
  }
  // Chunks whose file document is gone (a delete killed between the two), old enough not to
  // be an upload in progress (chunks are written before their file document).
  const graceCutoff = now.getTime() - policy.orphanBlobGraceHours * 3_600_000;
  const orphanFiles = new Set<string>();
  const orphanFileIds: Id[] = [];
  for await (const c of scan(`${BLOB_BUCKET}.chunks`, { files_id: 1 })) {
    const fid = key(c.files_id);
    if (files.has(fid)) continue;
    if (orphanFiles.has(fid)) {
      counts.deletedOrphanChunks++;
      continue;
    }
    const created = (c._id as mongoose.Types.ObjectId).getTimestamp?.().getTime() ?? 0;
    if (created < graceCutoff) {
      orphanFiles.add(fid);
      orphanFileIds.push(c.files_id as Id);
    }
    if (orphanFiles.has(fid)) counts.deletedOrphanChunks++;
  }
  if (orphanFileIds.length && !dryRun)
    await coll(`${BLOB_BUCKET}.chunks`).deleteMany({ files_id: { $in: orphanFileIds } });

  // 7. Acknowledgement history older than the rate-limit window: a conditional `$pull`, so
  // an acknowledgement recorded meanwhile stays.
  const cutoff = new Date(now.getTime() - ACK_WINDOW_MS);
  for await (const a of scan('addresses', { recentAcks: 1 })) {
    const acks = (a.recentAcks as Date[] | undefined) ?? [];
    if (expiredAcks(acks, now) === 0) continue;
    counts.trimmedAckAddresses++;
    if (!dryRun)
      await coll('addresses').updateOne({ _id: a._id }, {
        $pull: { recentAcks: { $lt: cutoff } },
      } as never);
  }

  // 8. Storage that earlier releases left: their indexes still cost every write.
  const leftovers = await findLeftovers();
  counts.droppedObsoleteCollections = leftovers.collections.length;
  counts.droppedObsoleteIndexes = leftovers.indexes.length;
  if (!dryRun && leftovers.collections.length + leftovers.indexes.length > 0) {
    await dropLeftovers(leftovers);
    log.info(
      {
        collections: leftovers.collections.length,
        indexes: leftovers.indexes.map((i) => `${i.collection}.${i.index}`),
      },
      'dropped storage that earlier releases left',
    );
  }
}

export async function recentRuns(limit = 10) {
  return MaintenanceRun.find().sort({ startedAt: -1 }).limit(limit).lean();
}
