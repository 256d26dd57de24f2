/**
 * Storage that earlier releases of incidesk wrote and this one never reads: collections of
 * the partitioned search index and of the old reporting projections, and indexes on fields
 * no query filters by any more. An index left behind still costs every write to its
 * collection, and a collection still costs disk and backup time, so the maintenance run
 * drops them. Only these names: anything else in the database (an index an operator added
 * for their own reports, say) is left alone.
 */
import { db } from './db.js';

/** Collections earlier releases wrote, by name or by the pattern of their partitions. */
const OBSOLETE_COLLECTIONS: readonly (string | RegExp)[] = [
  // The search index in 3 × 4096 partitions (now search_postings, search_documents, …).
  /^search_(terms|docs|contrib)_[0-9a-f]{3}$/,
  // Reporting facts and packs per day, and per-day counts per month (now read from incidents).
  /^(facts|packs)_\d{8}$/,
  /^fact_days_\d{6}$/,
  'open_incidents',
  // Recent incidents for duplicates and outages (now found on incidents itself).
  'recent_incidents',
];

/** Indexes earlier releases made, by collection and index name. */
const OBSOLETE_INDEXES: Readonly<Record<string, readonly string[]>> = {
  // Recent open incidents were once found by when they were triaged.
  incidents: ['status_1_triagedAt_-1', 'triagedAt_1'],
  // The acknowledgement rate limit once counted a sender's mail in the outbox.
  outbox: ['to_1_kind_1_createdAt_-1'],
};

const isObsolete = (name: string) =>
  OBSOLETE_COLLECTIONS.some((o) => (typeof o === 'string' ? o === name : o.test(name)));

export interface Leftovers {
  collections: string[];
  indexes: { collection: string; index: string }[];
}

/** The obsolete collections and indexes present in the database. */
export async function findLeftovers(): Promise<Leftovers> {
  const names = (await db().listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  const indexes: Leftovers['indexes'] = [];
  for (const [collection, obsolete] of Object.entries(OBSOLETE_INDEXES)) {
    if (!names.includes(collection)) continue;
    const present = (await db().collection(collection).indexes()).map((i) => i.name);
    for (const index of obsolete) if (present.includes(index)) indexes.push({ collection, index });
  }
  return { collections: names.filter(isObsolete).sort(), indexes };
}

/**
 * Drop what `findLeftovers` found. Each drop stands alone and one already gone (another
 * process's run) is what was wanted, so a run killed midway is finished by the next.
 */
export async function dropLeftovers(found: Leftovers): Promise<void> {
  for (const { collection, index } of found.indexes)
    await db().collection(collection).dropIndex(index).catch(ignoreGone);
  for (const name of found.collections) await db().dropCollection(name).catch(ignoreGone);
}

/** NamespaceNotFound (26) and IndexNotFound (27): gone already. */
function ignoreGone(err: unknown): void {
  const code = (err as { code?: unknown }).code;
  if (code !== 26 && code !== 27) throw err;
}
