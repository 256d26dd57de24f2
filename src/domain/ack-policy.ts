/** Limits that keep acknowledgements from feeding mail loops between robots. */
export interface AckLimits {
  /** At most this many acknowledgements to one sender per rolling hour. */
  perSenderPerHour: number;
}

/**
 * Whether to acknowledge a new incident. Never to automatic mail (RFC 3834), never to an
 * address known to bounce, at most `perSenderPerHour` per sender per hour. (Only a new
 * incident is acknowledged, once, so no limit per incident is needed.)
 */
export function ackDecision(input: {
  automatic: boolean;
  undeliverable: boolean;
  acksToSenderLastHour: number;
  limits: AckLimits;
}): { send: true } | { send: false; reason: string } {
  const { perSenderPerHour } = input.limits;
  if (!Number.isFinite(perSenderPerHour) || perSenderPerHour < 0) {
    throw new RangeError(`perSenderPerHour must be >= 0, got ${perSenderPerHour}`);
  }

  if (input.automatic) {
    return { send: false, reason: 'message was sent automatically; never answer a robot' };
  }
  if (input.undeliverable) {
    return { send: false, reason: 'sender address is marked undeliverable' };
  }
  if (input.acksToSenderLastHour >= perSenderPerHour) {
    return {
      send: false,
      reason: `sender already received ${input.acksToSenderLastHour} acknowledgements in the last hour (limit ${perSenderPerHour})`,
    };
  }
  return { send: true };
}
