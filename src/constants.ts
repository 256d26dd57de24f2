/** Tunables of the pipeline, with their units in their names. Policy lives in the plan. */

/** Messages up to this size are fetched in one IMAP FETCH batch; larger ones are streamed. */
export const IMAP_BATCH_FETCH_MAX_BYTES = 1024 * 1024;
/** How many UIDs one sync pass asks the server for at a time. */
export const IMAP_SYNC_BATCH_SIZE = 200;
/** Reconnect backoff after the IMAP connection drops: doubles from min to max. */
export const IMAP_RECONNECT_MIN_MS = 500;
export const IMAP_RECONNECT_MAX_MS = 60_000;
/**
 * The intake lease (src/store/mailbox-lease.ts): held for LEASE_TTL_MS past each renewal,
 * renewed every LEASE_RENEW_MS; a standby process asks every LEASE_STANDBY_POLL_MS. A dead
 * holder is replaced within TTL + poll (about 7 s), well inside the 10 s target.
 */
export const LEASE_TTL_MS = 6_000;
export const LEASE_RENEW_MS = 2_000;
export const LEASE_STANDBY_POLL_MS = 1_000;
/**
 * After the server refuses our IMAP or SMTP credentials, try again this much later: a wrong
 * password does not fix itself in seconds, and a tight loop can get the account locked.
 */
export const AUTH_RETRY_MS = 5 * 60_000;
/** How long the OAuth2 token endpoint may take to answer before the sign-in counts as failed. */
export const OAUTH_TOKEN_TIMEOUT_MS = 10_000;
/** `incidesk check --connect` and one-shot commands: how long a service may take to answer. */
export const CONNECT_CHECK_TIMEOUT_MS = 5_000;
/** One-shot commands give up on an unreachable MongoDB or Redis after this long. */
export const CLI_CONNECT_TIMEOUT_MS = 2_000;

/**
 * Jobs at once per process for the stages after the acknowledgement (triage, the assignment's
 * announcement, the notify queue's mail: the ingest job sends acknowledgements itself), whatever
 * INCIDESK_CONCURRENCY says. Ingest, the acknowledgement's path, keeps the configured
 * concurrency: on a busy database every job in flight holds a place in the server's queue, and
 * the customer's acknowledgement should not wait behind a backlog of triage and notices; the
 * later stages catch up behind it.
 */
export const FOLLOW_ON_CONCURRENCY = 2;

/** BullMQ retry policy for transient failures (SMTP 4xx, database hiccups). */
export const JOB_ATTEMPTS = 8;
export const JOB_BACKOFF_MS = 2_000;
/**
 * A job whose worker died is put back after this long. Every job is idempotent, so a
 * generous stalled count is safe: a crash loop ends up in the dead-letter set, not lost.
 */
export const JOB_STALLED_INTERVAL_MS = 5_000;
/**
 * A job (other than maintenance, which scans whole collections) or a shared store round that
 * runs this long is named in the log: far beyond any step's worst case, a database outage's
 * retries included, so it is most likely stuck.
 */
export const STUCK_AFTER_MS = 120_000;
/** A worker holds a job's lock this long and renews it at half-time; a dead worker's job is free after it. */
export const JOB_LOCK_MS = 10_000;
/**
 * How long a claim on an outbox message holds against other jobs: longer than any SMTP send
 * takes (its timeouts are 15 s to connect and 60 s of silence), so a second job sends only
 * what a sender that died without a rerun left behind.
 */
export const SEND_CLAIM_MS = 2 * 60_000;
export const JOB_MAX_STALLED_COUNT = 10;
/** Finished jobs kept for inspection (and as a deterministic-jobId dedupe window). */
export const JOB_KEEP_COMPLETED = { age: 24 * 3600, count: 10_000 };
export const JOB_KEEP_FAILED = { age: 30 * 24 * 3600 };

/** Raw messages up to this size are kept inside their document instead of the blob store. */
export const INLINE_RAW_MAX_BYTES = 256 * 1024;
/**
 * The parser is fed at most this much at a time. mailparser turns what it is fed into strings;
 * under V8's regular object size (128 KB) they live and die in the young generation, while a
 * 255 KB blob chunk's strings go to the large-object space, which only a full collection frees
 * (parsing a 25 MB attachment fed in 255 KB chunks grew RSS by 51–59 MB, by 39–41 MB cut to 64 KB).
 */
export const PARSE_CHUNK_BYTES = 64 * 1024;
/** GridFS chunk size for raw messages and attachments. */
export const BLOB_CHUNK_BYTES = 255 * 1024;
/** Longest text body kept on a timeline entry; the full body always stays in the raw message. */
export const TIMELINE_BODY_MAX_CHARS = 200_000;

/** A stored message larger than this parses under a permit (src/actions/ingest.ts)… */
export const LARGE_MESSAGE_BYTES = 1024 * 1024;
/** …of which a process has this many. */
export const LARGE_MESSAGES_AT_ONCE = 2;
/**
 * An opening message's text up to this length travels in its triage job (Redis), so triage
 * and the agent's mail need not read it back; a longer one is read from the timeline.
 */
export const OPENING_TEXT_IN_JOB_MAX_CHARS = 8_000;

/** How often each worker process looks for manager digests that are due. */
export const DIGEST_TICK_MS = 5 * 60_000;

/** How often each process links recorded audit entries into the chain (see sealAudit). */
export const AUDIT_SEAL_EVERY_MS = 500;
/**
 * How long a re-index request waits before it runs, so that the changes of one moment (triage,
 * then assignment a moment later) are indexed once: requests come due at the next whole
 * period at least this far ahead, together, so search lags a change by one to two of these.
 */
export const INDEX_DELAY_MS = 1000;
/**
 * Index jobs one process applies as one batch (one transaction): at most this many documents,
 * cut this long after the first job of the batch started; jobs that start while a batch is
 * being applied form the next. The `index` worker runs twice this many jobs at once.
 */
export const INDEX_BATCH_MAX_DOCUMENTS = 50;
export const INDEX_BATCH_WAIT_MS = 50;
/**
 * The most calls of one kind that concurrent jobs of a process share in one command or
 * transaction (`sharedCall` in src/store/db.ts: raw messages read and marked, incidents
 * opened, mail marked sent). More than the jobs that run at once, so it rarely binds.
 */
export const SHARED_CALL_MAX_ITEMS = 64;
/** Postings per stored chunk (8 bytes each): keeps every chunk document small. */
export const SEARCH_CHUNK_POSTINGS = 2000;
/**
 * A query reads at most this many chunks of a term, its highest-impact ones: a term in
 * hundreds of thousands of documents costs what one in 20,000 does.
 */
export const SEARCH_MAX_CHUNKS_PER_TERM = 10;
/** Terms of an incident's subject and first message used to find similar ones. */
export const SIMILAR_QUERY_TERMS = 12;
/** How many similar resolved incidents and known errors an assignment mail lists. */
export const SIMILAR_MAX_INCIDENTS = 3;
export const SIMILAR_MAX_KNOWN_ERRORS = 2;
/** A hit counts as similar from this fraction of the best possible score, on ≥ 2 shared terms. */
export const SIMILAR_MIN_SCORE_RATIO = 0.12;

/** Sender authentication (DKIM/DMARC) DNS look-ups: each query's timeout and tries. */
export const DNS_TIMEOUT_MS = 2_000;
export const DNS_TRIES = 2;
/** How long answers (and "no such record") are kept; errors are never cached. */
export const DNS_CACHE_MS = 10 * 60_000;
export const DNS_CACHE_MAX_ENTRIES = 5_000;
/** An agent whose mail is refused is told at most once per incident in this window. */
export const REFUSAL_NOTICE_WINDOW_MS = 60 * 60_000;
/**
 * Communication protocols: an opening or resolution whose messages a protocol owes makes the
 * incident due for the protocol sweep this long after it (the moment's own job has had its
 * chance by then), and the sweep replays it once, so a message a killed process never
 * recorded is still sent. Replays are keyed: no repeats.
 */
export const PROTOCOL_REPLAY_GRACE_MS = 10_000;
