/** Limits that keep acknowledgements from feeding mail loops between robots. */
export interface AckLimits {
  /** At most one acknowledgement per incident within this many minutes (0 = no limit). */
  perIncidentMinutes: number;
  /** At most this many acknowledgements to one sender per rolling hour. */
  perSenderPerHour: number;
}

const MINUTE_MS = 60_000;

/**
 * Whether to send an automatic acknowledgement. Never to automatic mail
 * (RFC 3834), never to an address known to bounce, at most one per incident
 * per `perIncidentMinutes`, at most `perSenderPerHour` per sender per hour.
 * A last-ack time in the future (clock skew) counts as inside the window.
 */
export function ackDecision(input: {
  automatic: boolean;
  undeliverable: boolean;
  now: Date;
  lastAckToIncident?: Date;
  acksToSenderLastHour: number;
  limits: AckLimits;
}): { send: true } | { send: false; reason: string } {
  const { perIncidentMinutes, perSenderPerHour } = input.limits;
  if (!Number.isFinite(perIncidentMinutes) || perIncidentMinutes < 0) {
    throw new RangeError(`perIncidentMinutes must be >= 0, got ${perIncidentMinutes}`);
  }
  if (!Number.isFinite(perSenderPerHour) || perSenderPerHour < 0) {
    throw new RangeError(`perSenderPerHour must be >= 0, got ${perSenderPerHour}`);
  }

  if (input.automatic) {
    return { send: false, reason: 'message was sent automatically; never answer a robot' };
  }
  if (input.undeliverable) {
    return { send: false, reason: 'sender address is marked undeliverable' };
  }
  if (input.lastAckToIncident && perIncidentMinutes > 0) {
    const elapsed = input.now.getTime() - input.lastAckToIncident.getTime();
    if (!(elapsed >= perIncidentMinutes * MINUTE_MS)) {
      return {
        send: false,
        reason: `incident was acknowledged less than ${perIncidentMinutes} min ago`,
      };
    }
  }
  if (input.acksToSenderLastHour >= perSenderPerHour) {
    return {
      send: false,
      reason: `sender already received ${input.acksToSenderLastHour} acknowledgements in the last hour (limit ${perSenderPerHour})`,
    };
  }
  return { send: true };
}
