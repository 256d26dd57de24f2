import { describe, it, expect } from 'vitest';
import { ackDecision, type AckLimits } from '../../src/domain/ack-policy.js';

const limits: AckLimits = { perSenderPerHour: 3 };

function base(
  over: Partial<Parameters<typeof ackDecision>[0]> = {},
): Parameters<typeof ackDecision>[0] {
  return { automatic: false, undeliverable: false, acksToSenderLastHour: 0, limits, ...over };
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

  it('caps acks per sender per rolling hour', () => {
    expect(ackDecision(base({ acksToSenderLastHour: 2 }))).toEqual({ send: true });
    expect(ackDecision(base({ acksToSenderLastHour: 3 }))).toEqual({
      send: false,
      reason: expect.stringMatching(/limit 3/),
    });
    expect(ackDecision(base({ acksToSenderLastHour: 50 })).send).toBe(false);
  });

  it('perSenderPerHour 0 means never ack', () => {
    expect(ackDecision(base({ limits: { perSenderPerHour: 0 } })).send).toBe(false);
  });

  it('rejects invalid limits', () => {
    expect(() => ackDecision(base({ limits: { perSenderPerHour: -1 } }))).toThrow(RangeError);
    expect(() => ackDecision(base({ limits: { perSenderPerHour: Number.NaN } }))).toThrow(
      RangeError,
    );
  });
});
