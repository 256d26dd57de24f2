import { describe, it, expect } from 'vitest';
import { ackDecision, type AckLimits } from '../../src/domain/ack-policy.js';

const limits: AckLimits = { perIncidentMinutes: 10, perSenderPerHour: 3 };
const now = new Date('2024-01-01T12:00:00Z');
const minutesAgo = (m: number): Date => new Date(now.getTime() - m * 60_000);

function base(
  over: Partial<Parameters<typeof ackDecision>[0]> = {},
): Parameters<typeof ackDecision>[0] {
  return { automatic: false, undeliverable: false, now, acksToSenderLastHour: 0, limits, ...over };
}

describe('ackDecision', () => {
  it('sends to a person who has had no ack yet', () => {
    expect(ackDecision(base())).toEqual({ send: true });
  });

  it('never answers automatic mail', () => {
    const d = ackDecision(base({ automatic: true }));
    expect(d.send).toBe(false);
    expect(d).toHaveProperty('reason', expect.stringMatching(/automatic/));
  });

  it('never writes to an undeliverable address', () => {
    const d = ackDecision(base({ undeliverable: true }));
    expect(d).toEqual({ send: false, reason: expect.stringMatching(/undeliverable/) });
  });

  it('automatic takes precedence in the reason', () => {
    const d = ackDecision(base({ automatic: true, undeliverable: true, acksToSenderLastHour: 99 }));
    expect(d).toHaveProperty('reason', expect.stringMatching(/automatic/));
  });

  it('suppresses a second ack to the same incident inside the window', () => {
    expect(ackDecision(base({ lastAckToIncident: minutesAgo(0) })).send).toBe(false);
    const d = ackDecision(base({ lastAckToIncident: minutesAgo(9.99) }));
    expect(d).toEqual({ send: false, reason: expect.stringMatching(/10 min/) });
  });

  it('allows it again once the window has passed (boundary inclusive)', () => {
    expect(ackDecision(base({ lastAckToIncident: minutesAgo(10) }))).toEqual({ send: true });
    expect(ackDecision(base({ lastAckToIncident: minutesAgo(60) }))).toEqual({ send: true });
  });

  it('treats a last ack in the future (clock skew) or an invalid date as inside the window', () => {
    expect(ackDecision(base({ lastAckToIncident: minutesAgo(-5) })).send).toBe(false);
    expect(ackDecision(base({ lastAckToIncident: new Date(Number.NaN) })).send).toBe(false);
  });

  it('perIncidentMinutes 0 disables the per-incident limit', () => {
    const d = ackDecision(
      base({ lastAckToIncident: now, limits: { perIncidentMinutes: 0, perSenderPerHour: 3 } }),
    );
    expect(d).toEqual({ send: true });
  });

  it('caps acks per sender per rolling hour', () => {
    expect(ackDecision(base({ acksToSenderLastHour: 2 }))).toEqual({ send: true });
    expect(ackDecision(base({ acksToSenderLastHour: 3 }))).toEqual({
      send: false,
      reason: expect.stringMatching(/limit 3/),
    });
    expect(ackDecision(base({ acksToSenderLastHour: 50 })).send).toBe(false);
  });

  it('perSenderPerHour 0 means never ack', () => {
    expect(
      ackDecision(base({ limits: { perIncidentMinutes: 10, perSenderPerHour: 0 } })).send,
    ).toBe(false);
  });

  it('rejects invalid limits', () => {
    expect(() =>
      ackDecision(base({ limits: { perIncidentMinutes: -1, perSenderPerHour: 3 } })),
    ).toThrow(RangeError);
    expect(() =>
      ackDecision(base({ limits: { perIncidentMinutes: 10, perSenderPerHour: Number.NaN } })),
    ).toThrow(RangeError);
  });
});
