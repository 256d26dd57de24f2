/**
 * Search over incidents and known errors: what is indexed about each, keeping the index up
 * to date (the `index` queue), rebuilding it, querying it, and "similar incidents" for the
 * assignment mail.
 */
import type { AppContext } from '../context.js';
import {
  INDEX_DELAY_MS,
  SIMILAR_MAX_INCIDENTS,
  SIMILAR_MAX_KNOWN_ERRORS,
  SIMILAR_MIN_SCORE_RATIO,
  SIMILAR_QUERY_TERMS,
} from '../constants.js';
import { parseCommands } from '../domain/commands.js';
import { indexDelayMs } from '../domain/index-batch.js';
import { formatKnownErrorId } from '../domain/known-errors.js';
import {
  knownErrorDocId,
  queryTerms,
  similarityQuery,
  termWeights,
  type SearchFields,
} from '../domain/search.js';
import { formatIncidentId } from '../domain/tokens.js';
import { jobIds, type IndexJob, type Queues } from '../queues.js';
import { findKnownErrors } from '../store/known-errors.js';
import {
  Incident,
  KnownError,
  TimelineEntry,
  type IncidentDoc,
  type KnownErrorDoc,
  type TimelineDoc,
} from '../store/models.js';
import { atomically } from '../store/db.js';
import {
  applyDocuments,
  BulkLoader,
  dropIndex,
  incidentsToIndex,
  IndexBuilder,
  type IndexedTerms,
  type IndexUpdate,
  searchTerms,
  type RecordBody,
  type SearchResult,
} from '../store/search-index.js';

/**
 * Which timeline messages are searchable: what people wrote, customers and agents, not our
 * automatic mail. An agent's answer is indexed from their own message: its relay to the
 * customer repeats it inside our template's boilerplate.
 */
export function searchableMessage(
  e: Pick<TimelineDoc, 'type' | 'direction' | 'automatic'>,
): boolean {
  return e.type === 'message' && e.direction === 'inbound' && !e.automatic;
}

/**
 * The text of a searchable message that is indexed as message text. An agent's command lines
 * (`#resolve cause: …; fix: …`, `#note …`) are not: the resolution is indexed as its own
 * fields, and commands never reach the customer either.
 */
export function messageText(e: Pick<TimelineDoc, 'text'>): string {
  return parseCommands(e.text ?? '').body;
}

type Indexable = { fields: SearchFields; record: RecordBody };

function incidentIndexable(incident: IncidentDoc, bodies: string[]): Indexable {
  const r = incident.resolution ?? undefined;
  return {
    fields: {
      subject: incident.subject,
      bodies,
      cause: r?.cause ?? undefined,
      fix: r?.fix ?? undefined,
      workaround: r?.workaround ?? undefined,
    },
    record: {
      kind: 'incident',
      ref: formatIncidentId(incident.number),
      title: incident.subject,
      status: incident.status,
      at: (incident.createdAt as Date | undefined) ?? new Date(0),
      ...(r?.cause
        ? {
            resolution: {
              cause: r.cause ?? undefined,
              fix: r.fix ?? undefined,
              workaround: r.workaround ?? undefined,
            },
          }
        : {}),
    },
  };
}

function knownErrorIndexable(ke: KnownErrorDoc): Indexable {
  return {
    fields: { subject: ke.title, cause: ke.cause, fix: ke.fix, workaround: ke.workaround },
    record: {
      kind: 'known-error',
      ref: formatKnownErrorId(ke._id),
      title: ke.title,
      status: ke.status,
      at: (ke.createdAt as Date | undefined) ?? new Date(0),
      resolution: { cause: ke.cause, fix: ke.fix, workaround: ke.workaround },
    },
  };
}

const docId = (job: IndexJob) => (job.kind === 'incident' ? job.id : knownErrorDocId(job.id));

/**
 * A batch of index jobs: read each document's current text and make the index agree with it,
 * all in one transaction. The reads are shared (one aggregation for all the incidents with
 * their messages and entries, one read for the known errors), and so are the writes.
 */
export async function indexDocuments(ctx: Pick<AppContext, 'log'>, jobs: readonly IndexJob[]) {
  // One update per document, however many of its jobs the batch holds.
  const unique = [...new Map(jobs.map((j) => [docId(j), j] as const)).values()];
  const incidentIds = unique.filter((j) => j.kind === 'incident').map((j) => j.id);
  const keIds = unique.filter((j) => j.kind === 'known-error').map((j) => j.id);
  const changes = await atomically(async () => {
    const incidents = incidentIds.length
      ? await incidentsToIndex<IncidentDoc, TimelineDoc>(incidentIds)
      : new Map();
    const kes = new Map(
      (keIds.length ? await findKnownErrors(keIds) : []).map((ke) => [ke._id, ke] as const),
    );
    const updates: IndexUpdate[] = unique.map((job) => {
      if (job.kind === 'incident') {
        const found = incidents.get(job.id);
        const bodies = found?.messages.filter(searchableMessage).map(messageText) ?? [];
        const doc = found && incidentIndexable(found.incident, bodies);
        // An incident no longer there (archived) leaves the index.
        return update(job.id, doc, found ? found.indexed : undefined);
      }
      const ke = kes.get(job.id);
      return update(docId(job), ke && knownErrorIndexable(ke), undefined);
    });
    return applyDocuments(updates);
  });
  ctx.log.debug({ component: 'search', documents: unique.length, jobs: jobs.length }, 'indexed');
  return jobs.map((j) => changes.get(docId(j))!);
}

function update(
  id: number,
  doc: Indexable | undefined,
  indexed: IndexedTerms | null | undefined,
): IndexUpdate {
  return {
    id,
    record: doc?.record ?? null,
    weights: doc ? termWeights(doc.fields) : new Map(),
    indexed,
  };
}

/**
 * Ask for a re-index of a document whose text changed; `cause` names the change (idempotent).
 * The job comes due at the next whole INDEX_DELAY_MS at least that far ahead, so the requests
 * of one moment come due together and the worker applies them as one batch.
 */
export async function queueIndex(
  ctx: { queues: Pick<Queues, 'index'> },
  job: IndexJob,
  cause: string,
): Promise<void> {
  await ctx.queues.index.add('index', job, {
    jobId: jobIds.index(job, cause),
    delay: indexDelayMs(Date.now(), INDEX_DELAY_MS),
    // The job indexes the document as it is when it runs, so a request made while another for
    // the same document still waits adds nothing; one made while it runs queues one more run,
    // which BullMQ starts only after that one ends.
    deduplication: { id: `${job.kind}-${job.id}`, keepLastIfActive: true },
  });
}

/** Rebuild the whole index from incidents, their timelines and known errors. */
export async function rebuildIndex(progress?: {
  start(total: number): void;
  tick(): void;
}): Promise<{ docs: number; terms: number }> {
  await dropIndex();
  // Estimated: only for the progress bar, and exact counts read whole collections.
  const total =
    (await Incident.estimatedDocumentCount()) + (await KnownError.estimatedDocumentCount());
  progress?.start(total);
  // Incidents in number order next to their messages in the same order (the timeline's
  // { incidentNumber, at } index): one streaming pass over each, whatever their size. The
  // order of an incident's messages does not change its term weights (frequencies add up).
  const messages = TimelineEntry.find(
    { type: 'message' },
    { incidentNumber: 1, type: 1, direction: 1, automatic: 1, text: 1 },
  )
    .sort({ incidentNumber: 1, at: 1 })
    .lean<TimelineDoc[]>()
    .cursor();
  let next: TimelineDoc | null = await messages.next();
  const builder = new IndexBuilder(new BulkLoader());
  for await (const incident of Incident.find().sort({ _id: 1 }).lean<IncidentDoc[]>().cursor()) {
    const bodies: string[] = [];
    for (; next && next.incidentNumber <= incident.number; next = await messages.next())
      if (next.incidentNumber === incident.number && searchableMessage(next))
        bodies.push(messageText(next));
    const doc = incidentIndexable(incident, bodies);
    await builder.addDocument(incident.number, doc.record, termWeights(doc.fields));
    progress?.tick();
  }
  await messages.close();
  for await (const ke of KnownError.find().sort({ _id: 1 }).lean<KnownErrorDoc[]>().cursor()) {
    const doc = knownErrorIndexable(ke);
    await builder.addDocument(knownErrorDocId(ke._id), doc.record, termWeights(doc.fields));
    progress?.tick();
  }
  return builder.finish();
}

const SOLVED = ['resolved', 'closed'];

/** `incidesk search`: incidents and known errors for a free-text query, best first. */
export async function search(query: string, limit: number): Promise<SearchResult[]> {
  return (await searchTerms(queryTerms(query), { limit })).results;
}

export interface Similar {
  incidents: { ref: string; title: string; cause: string; workaround: string; fix: string }[];
  knownErrors: { ref: string; title: string; status: string; workaround: string; fix: string }[];
}

/**
 * Resolved incidents and known errors like this incident (its subject and first message),
 * for the assignee. One bounded index lookup; empty when nothing is close enough.
 */
export async function similarTo(
  incident: Pick<IncidentDoc, 'number' | 'subject'>,
  firstMessage: string,
): Promise<Similar> {
  const terms = similarityQuery(
    { subject: incident.subject, bodies: [firstMessage] },
    SIMILAR_QUERY_TERMS,
  );
  const { results, ideal } = await searchTerms(terms, {
    limit: 4 * (SIMILAR_MAX_INCIDENTS + SIMILAR_MAX_KNOWN_ERRORS),
    candidates: 60,
    // Incidents only while resolved or closed: a reopened one is not solved, whatever it says.
    accept: (r, hit) =>
      r._id !== incident.number &&
      hit.matched >= 2 &&
      (r.kind === 'known-error' || (SOLVED.includes(r.status) && Boolean(r.resolution?.cause))),
  });
  const close = results.filter((r) => r.score >= ideal * SIMILAR_MIN_SCORE_RATIO);
  const res = (r: SearchResult) => r.record.resolution ?? {};
  return {
    incidents: close
      .filter((r) => r.record.kind === 'incident')
      .slice(0, SIMILAR_MAX_INCIDENTS)
      .map((r) => ({
        ref: r.record.ref,
        title: r.record.title,
        cause: res(r).cause ?? '',
        workaround: res(r).workaround ?? '',
        fix: res(r).fix ?? '',
      })),
    knownErrors: close
      .filter((r) => r.record.kind === 'known-error')
      .slice(0, SIMILAR_MAX_KNOWN_ERRORS)
      .map((r) => ({
        ref: r.record.ref,
        title: r.record.title,
        status: r.record.status,
        workaround: res(r).workaround ?? '',
        fix: res(r).fix ?? '',
      })),
  };
}
