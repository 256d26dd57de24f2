/**
 * The `slaCheckAt` the SLA code leaves on an incident seeded straight into the store: what
 * its clocks' last change (`changedAt`) computed, by the product's own rule (reviewSla and
 * slaCheckAfterChange), all time counting (24×7), with the plan's default warning and chain.
 * A digest finds the incidents due soon by this field, so seeds that skip the SLA code must
 * carry it.
 */
import { ALWAYS } from '../../src/domain/business-time.js';
import { reviewSla, slaCheckAfterChange, type TrackedClock } from '../../src/domain/escalation.js';

const POLICY = {
  warnFraction: 0.75,
  repeatAfterMs: 30 * 60_000,
  chain: ['lead', 'manager'] as const,
};

type SeedClock = Omit<TrackedClock, 'runningSince' | 'stoppedAt'> & {
  runningSince?: Date | null;
  stoppedAt?: Date | null;
};

export function seededSlaCheck(
  sla: {
    firstResponse?: SeedClock | null;
    resolution?: SeedClock | null;
    escalationLevel?: number;
  },
  changedAt: Date,
): Date | null {
  const clock = (c: SeedClock | null | undefined): TrackedClock | null =>
    c ? { ...c, runningSince: c.runningSince ?? null, stoppedAt: c.stoppedAt ?? null } : null;
  const review = reviewSla(
    {
      clocks: { firstResponse: clock(sla.firstResponse), resolution: clock(sla.resolution) },
      escalationLevel: sla.escalationLevel ?? 0,
    },
    ALWAYS,
    POLICY,
    changedAt,
  );
  return slaCheckAfterChange(review, changedAt);
}

/** When the running clocks last (re)started: the moment their last change was made. */
export function lastClockChange(
  sla: { firstResponse?: SeedClock | null; resolution?: SeedClock | null },
  createdAt: Date,
): Date {
  const starts = [sla.firstResponse, sla.resolution].flatMap((c) =>
    c?.runningSince ? [c.runningSince.getTime()] : [],
  );
  return new Date(Math.max(createdAt.getTime(), ...starts));
}
