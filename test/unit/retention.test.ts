import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETENTION,
  expiredAcks,
  incidentVerdict,
  maintenanceDayDue,
  orphanBlobVerdict,
  outboxVerdict,
  rawVerdict,
  type RetentionPolicy,
} from '../../src/domain/retention.js';
import { parsePlan } from '../../src/plan/load.js';

const policy: RetentionPolicy = {
  archiveClosedAfterDays: 30,
  purge: { rawMessagesOfClosedAfterDays: 365, quarantinedAfterDays: 14, sentOutboxAfterDays: 60 },
  orphanBlobGraceHours: 24,
};
const now = new Date('2026-11-24T00:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);

describe('retention decisions', () => {
  it('archives closed incidents past the period, purges long-closed ones, keeps the rest', () => {
    const closed = (d: number) => ({ status: 'closed', closedAt: daysAgo(d) });
    expect(incidentVerdict(closed(29), policy, now, false)).toBe('keep');
    expect(incidentVerdict(closed(30), policy, now, false)).toBe('archive');
    expect(incidentVerdict(closed(364), policy, now, false)).toBe('archive');
    expect(incidentVerdict(closed(365), policy, now, false)).toBe('purge');
    expect(
      incidentVerdict({ status: 'resolved', closedAt: daysAgo(400) }, policy, now, false),
    ).toBe('keep');
    expect(incidentVerdict({ status: 'closed' }, policy, now, false)).toBe('keep');
  });

  it('a legal hold wins over every period', () => {
    expect(incidentVerdict({ status: 'closed', closedAt: daysAgo(1000) }, policy, now, true)).toBe(
      'keep',
    );
    const raw = { state: 'quarantined', receivedAt: daysAgo(1000) };
    expect(rawVerdict(raw, { verdict: 'purge', held: true }, policy, now)).toBe('keep');
    expect(outboxVerdict({ state: 'sent', sentAt: daysAgo(1000) }, true, policy, now)).toBe('keep');
    expect(
      orphanBlobVerdict({ uploadedAt: daysAgo(1000), referenced: false, held: true }, policy, now),
    ).toBe('keep');
  });

  it('counts an incident restored from the archive from its restore', () => {
    const restored = {
      status: 'closed',
      closedAt: daysAgo(400),
      restoredFromArchiveAt: daysAgo(2),
    };
    expect(incidentVerdict(restored, policy, now, false)).toBe('keep');
  });

  it('purges raw messages with their incident, or when quarantined too long', () => {
    const ingested = { state: 'ingested', receivedAt: daysAgo(500) };
    expect(rawVerdict(ingested, { verdict: 'purge', held: false }, policy, now)).toBe('purge');
    expect(rawVerdict(ingested, { verdict: 'archive', held: false }, policy, now)).toBe('keep');
    expect(rawVerdict(ingested, { verdict: undefined, held: false }, policy, now)).toBe('keep');
    const q = (d: number) => ({ state: 'quarantined', receivedAt: daysAgo(d) });
    expect(rawVerdict(q(13), { verdict: undefined, held: false }, policy, now)).toBe('keep');
    expect(rawVerdict(q(14), { verdict: undefined, held: false }, policy, now)).toBe('purge');
  });

  it('purges only sent outbox records past their period', () => {
    expect(outboxVerdict({ state: 'sent', sentAt: daysAgo(61) }, false, policy, now)).toBe('purge');
    expect(outboxVerdict({ state: 'sent', sentAt: daysAgo(59) }, false, policy, now)).toBe('keep');
    expect(outboxVerdict({ state: 'failed', sentAt: null }, false, policy, now)).toBe('keep');
    expect(outboxVerdict({ state: 'pending' }, false, policy, now)).toBe('keep');
  });

  it('deletes unreferenced blobs only after the grace period', () => {
    const blob = (h: number, referenced = false) => ({
      uploadedAt: new Date(now.getTime() - h * 3_600_000),
      referenced,
      held: false,
    });
    expect(orphanBlobVerdict(blob(23), policy, now)).toBe('keep');
    expect(orphanBlobVerdict(blob(25), policy, now)).toBe('purge');
    expect(orphanBlobVerdict(blob(1000, true), policy, now)).toBe('keep');
  });

  it('finds acknowledgements older than the rate-limit hour', () => {
    const ago = (m: number) => new Date(now.getTime() - m * 60_000);
    expect(expiredAcks([ago(5), ago(59), ago(61), ago(600)], now)).toBe(2);
  });

  it('defaults in the plan when `retention` is absent', () => {
    expect(parsePlan('version: 1\norganisation: X\n').retention).toEqual(DEFAULT_RETENTION);
    const plan = parsePlan(
      'version: 1\norganisation: X\nretention: { archiveClosedAfterDays: 7 }\n',
    );
    expect(plan.retention.archiveClosedAfterDays).toBe(7);
    expect(plan.retention.purge).toEqual(DEFAULT_RETENTION.purge);
  });
});

describe('maintenanceDayDue', () => {
  it('names the UTC day once its hour has come, and nothing before', () => {
    expect(maintenanceDayDue(new Date('2026-12-09T02:59:59Z'), 3)).toBeNull();
    expect(maintenanceDayDue(new Date('2026-12-09T03:00:00Z'), 3)).toBe('2026-12-09');
    expect(maintenanceDayDue(new Date('2026-12-09T23:59:59Z'), 3)).toBe('2026-12-09');
    expect(maintenanceDayDue(new Date('2026-12-10T00:00:00Z'), 0)).toBe('2026-12-10');
    // The day is UTC's: 01:30 in Athens on the 10th is still the 9th's run.
    expect(maintenanceDayDue(new Date('2026-12-10T01:30:00+02:00'), 3)).toBe('2026-12-09');
  });
});
