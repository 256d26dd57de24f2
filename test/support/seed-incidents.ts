/** Incidents with their messages written straight into the database, for search tests. */
import { Incident, TimelineEntry } from '../../src/store/models.js';
import { SUPPORT } from './harness.js';

export interface Seed {
  number: number;
  subject: string;
  bodies: string[];
  status: string;
  priority: string;
  group: string;
  customer: string;
  createdAt: Date;
  resolvedAt?: Date;
  resolution?: { cause: string; fix?: string; workaround?: string };
}

/** Store the incidents and one inbound message per body, as intake would have. */
export async function insertCorpus(seeds: Seed[]) {
  await Incident.collection.insertMany(
    seeds.map((s) => ({
      _id: s.number as never,
      number: s.number,
      openedBy: `seed-${s.number}`,
      status: s.status,
      subject: s.subject,
      customer: { address: s.customer },
      participants: [s.customer],
      messageCount: s.bodies.length,
      priority: s.priority,
      group: s.group,
      category: 'general',
      createdAt: s.createdAt,
      updatedAt: s.createdAt,
      ...(s.resolution ? { resolution: s.resolution, resolvedAt: s.resolvedAt } : {}),
    })),
  );
  await TimelineEntry.collection.insertMany(
    seeds.flatMap((s) =>
      s.bodies.map((text, i) => ({
        _id: `seed-msg-${s.number}-${i}` as never,
        incidentNumber: s.number,
        at: new Date(s.createdAt.getTime() + i * 60_000),
        type: 'message',
        direction: 'inbound',
        from: s.customer,
        to: [SUPPORT],
        subject: s.subject,
        text,
      })),
    ),
  );
}
