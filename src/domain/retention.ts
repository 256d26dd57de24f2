/**
 * Retention decisions: what the maintenance run archives, purges or keeps. Pure; the run
 * (src/store/maintenance.ts) feeds it records and acts on the verdicts. A legal hold always
 * wins: a held incident, its raw messages and attachments are kept whatever their age.
 */
export interface RetentionPolicy {
  /** Closed incidents (and their timelines) move to the archive collections after this. */
  archiveClosedAfterDays: number;
  purge: {
    /** Raw messages (and their attachments) of incidents closed this long ago are deleted. */
    rawMessagesOfClosedAfterDays: number;
    /** Quarantined raw messages are deleted this long after they arrived. */
    quarantinedAfterDays: number;
    /** Sent outbound mail records are deleted this long after sending. */
    sentOutboxAfterDays: number;
  };
  /** Blobs nothing references are deleted once this old (younger ones may be mid-write). */
  orphanBlobGraceHours: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  archiveClosedAfterDays: 90,
  purge: { rawMessagesOfClosedAfterDays: 365, quarantinedAfterDays: 90, sentOutboxAfterDays: 180 },
  orphanBlobGraceHours: 24,
};

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const olderThan = (at: Date | null | undefined, ms: number, now: Date) =>
  at != null && now.getTime() - new Date(at).getTime() >= ms;

/** keep; archive (incident + timeline leave the hot collections); purge (archive, and delete its raw messages). */
export type IncidentVerdict = 'keep' | 'archive' | 'purge';

export interface RetentionIncident {
  status: string;
  closedAt?: Date | null;
  /** Brought back by `incidesk archive restore`: its age counts from then. */
  restoredFromArchiveAt?: Date | null;
}

export function incidentVerdict(
  incident: RetentionIncident,
  policy: RetentionPolicy,
  now: Date,
  held: boolean,
): IncidentVerdict {
  if (held || incident.status !== 'closed' || !incident.closedAt) return 'keep';
  const since = [incident.closedAt, incident.restoredFromArchiveAt]
    .filter((d): d is Date => d != null)
    .reduce((a, b) => (new Date(a) > new Date(b) ? a : b));
  if (olderThan(since, policy.purge.rawMessagesOfClosedAfterDays * DAY_MS, now)) return 'purge';
  if (olderThan(since, policy.archiveClosedAfterDays * DAY_MS, now)) return 'archive';
  return 'keep';
}

export interface RetentionRaw {
  state: string;
  receivedAt?: Date | null;
}

/**
 * A raw message goes when its incident's verdict is `purge`, or when it was quarantined long
 * enough ago; never when its incident is held.
 */
export function rawVerdict(
  raw: RetentionRaw,
  incident: { verdict: IncidentVerdict | undefined; held: boolean },
  policy: RetentionPolicy,
  now: Date,
): 'keep' | 'purge' {
  if (incident.held) return 'keep';
  if (incident.verdict === 'purge') return 'purge';
  if (
    raw.state === 'quarantined' &&
    olderThan(raw.receivedAt, policy.purge.quarantinedAfterDays * DAY_MS, now)
  )
    return 'purge';
  return 'keep';
}

export function outboxVerdict(
  message: { state: string; sentAt?: Date | null },
  held: boolean,
  policy: RetentionPolicy,
  now: Date,
): 'keep' | 'purge' {
  if (held || message.state !== 'sent') return 'keep';
  return olderThan(message.sentAt, policy.purge.sentOutboxAfterDays * DAY_MS, now)
    ? 'purge'
    : 'keep';
}

/** A blob nothing references, old enough not to be an upload whose document is still coming. */
export function orphanBlobVerdict(
  blob: { uploadedAt: Date; referenced: boolean; held: boolean },
  policy: RetentionPolicy,
  now: Date,
): 'keep' | 'purge' {
  if (blob.referenced || blob.held) return 'keep';
  return olderThan(blob.uploadedAt, policy.orphanBlobGraceHours * HOUR_MS, now) ? 'purge' : 'keep';
}

/** The acknowledgement rate limit looks back one hour; older entries are dead weight. */
export const ACK_WINDOW_MS = HOUR_MS;

export function expiredAcks(acks: readonly Date[], now: Date): number {
  return acks.filter((d) => now.getTime() - new Date(d).getTime() > ACK_WINDOW_MS).length;
}

/**
 * The built-in nightly run (INCIDESK_MAINTENANCE_HOUR): the UTC day whose run is due at `now`,
 * or null before the hour. Every process asks on every tick; the day is the job id, so the
 * run happens once per day however many replicas ask.
 */
export function maintenanceDayDue(now: Date, hourUtc: number): string | null {
  return now.getUTCHours() >= hourUtc ? now.toISOString().slice(0, 10) : null;
}
