/**
 * IMAP intake: holds IDLE on the support mailbox (imapflow polls where IDLE is missing, and a
 * timer polls anyway), fetches every message above the checkpoint, stores its raw bytes, and
 * enqueues `ingest`. Only then does the checkpoint move and the message get flagged \Seen, so
 * a crash at any point means "fetch again", which the content-hash store turns into a no-op.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FetchMessageObject, ImapFlow } from 'imapflow';
import { imapAuth, imapClient } from './imap.js';
import { OAuthRefusedError, type TokenProvider } from './oauth.js';
import type { MailboxConfig } from '../config.js';
import {
  AUTH_RETRY_MS,
  IMAP_BATCH_FETCH_MAX_BYTES,
  IMAP_RECONNECT_MAX_MS,
  IMAP_RECONNECT_MIN_MS,
  IMAP_SYNC_BATCH_SIZE,
  LEASE_RENEW_MS,
  LEASE_STANDBY_POLL_MS,
  LEASE_TTL_MS,
} from '../constants.js';
import type { AppContext } from '../context.js';
import { jobIds } from '../queues.js';
import { acquireLease, releaseLease } from '../store/mailbox-lease.js';
import {
  advanceCheckpoint,
  checkpointFor,
  FencedOffError,
  fenceCheckpoint,
  touchCheckpoint,
} from '../store/mailbox-state.js';
import {
  storeRaw,
  storeRawMany,
  type RawInput,
  type StoreRawResult,
} from '../store/raw-messages.js';
import { clearSignInRefused, recordSignInRefused } from '../store/sign-in.js';
import { isAuthFailure, serverWords } from '../domain/server-errors.js';

/** Start IDLE soon after our own commands: new mail is only heard while idling. */
const AUTO_IDLE_DELAY_MS = 300;

export interface IntakeStatus {
  connected: boolean;
  lastSyncAt?: Date;
  /** Last proof of a working session: a finished sync pass or batch (health reporting). */
  lastHeartbeatAt?: Date;
  lastError?: string;
  reconnects: number;
  stored: number;
  /** `held`: this process runs the mailbox's intake; `standby`: another one does. */
  lease: 'held' | 'standby';
  fence?: number;
}

export class ImapIntake {
  private stopped = false;
  /** Cuts a reconnect wait short when the process stops. */
  private readonly stopping = new AbortController();
  private client?: ImapFlow;
  private syncing?: Promise<void>;
  private syncAgain = false;
  private readonly log: AppContext['log'];
  /** The mailbox's lease and checkpoint key, `user/mailbox`. */
  readonly key: string;
  readonly status: IntakeStatus = { connected: false, reconnects: 0, stored: 0, lease: 'standby' };
  /** Who we are to the other processes that may run this mailbox's intake. */
  private readonly holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private fence = 0;
  /**
   * The checkpoint as this session last read or moved it: read once per session, not once per
   * sync pass. Only this process (the lease holder) moves it, and every move is fenced, so a
   * holder that lost the lease is still refused at its next write.
   */
  private checkpoint?: { uidValidity: string; lastUid: number };
  private running?: Promise<void>;
  /** The server refused our last access token: ask for a fresh one before calling it refused. */
  private renewToken = false;

  /** One support mailbox's intake; `tokens` when it signs in with OAuth2. */
  constructor(
    private readonly ctx: AppContext,
    private readonly box: MailboxConfig = ctx.config.mailboxes[0]!,
    private readonly tokens: TokenProvider | undefined = ctx.tokens.get(box.supportAddress),
  ) {
    this.log = ctx.log.child({
      component: 'intake',
      address: box.supportAddress,
      mailbox: box.imap.mailbox,
    });
    // Each mailbox has its own lease and checkpoint.
    this.key = `${box.imap.user}/${box.imap.mailbox}`;
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    const client = this.client;
    if (client) {
      await this.syncing?.catch(() => undefined);
      await client.logout().catch(() => client.close());
    }
    await this.running;
  }

  /** The support address whose mailbox this intake serves. */
  get address(): string {
    return this.box.supportAddress;
  }

  /** Whether the connection is in IDLE right now (imapflow tracks it). */
  get idling(): boolean {
    return this.client?.idling ?? false;
  }

  /** Resolves once the first full sync after connecting has finished (for tests and `status`). */
  async synced(): Promise<void> {
    while (!this.status.lastSyncAt && !this.stopped) await sleep(50);
    await this.syncing;
  }

  private async run(): Promise<void> {
    let delay = IMAP_RECONNECT_MIN_MS;
    while (!this.stopped) {
      if (!(await this.holdLease())) break;
      const began = Date.now();
      let refused = false;
      const renewal = setInterval(() => void this.renewLease(), LEASE_RENEW_MS);
      try {
        await fenceCheckpoint(this.key, this.fence);
        await this.session();
      } catch (err) {
        if (err instanceof FencedOffError) {
          this.leaseLost();
          continue;
        }
        this.status.lastError = serverWords(err);
        refused = isAuthFailure(err);
        if (this.stopped) break;
        // A cached token can be revoked before it expires: one fresh token before giving up.
        if (refused && this.retryWithFreshToken(err)) continue;
        if (refused) await this.signInRefused(serverWords(err));
        else this.log.warn({ err: serverWords(err) }, 'IMAP session ended');
      } finally {
        clearInterval(renewal);
      }
      this.status.connected = false;
      if (this.stopped) break;
      if (this.status.lease === 'standby') continue; // lost it: stand by again at once
      if (Date.now() - began > IMAP_RECONNECT_MAX_MS) delay = IMAP_RECONNECT_MIN_MS;
      // A refused password does not fix itself in seconds; hammering can lock the account.
      const wait = refused ? AUTH_RETRY_MS : delay / 2 + Math.random() * (delay / 2);
      this.log.info({ inMs: Math.round(wait) }, 'reconnecting');
      await sleep(wait, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, IMAP_RECONNECT_MAX_MS);
      this.status.reconnects++;
    }
    await releaseLease(this.key, this.holder).catch(() => undefined);
  }

  private retryWithFreshToken(err: unknown): boolean {
    const fresh = this.renewToken || err instanceof OAuthRefusedError;
    this.renewToken = !fresh && this.tokens !== undefined;
    if (this.renewToken)
      this.log.info('IMAP server refused the access token: asking for a new one');
    return this.renewToken;
  }

  /** Wait until this process holds the mailbox's lease; false when stopped first. */
  private async holdLease(): Promise<boolean> {
    let said = false;
    while (!this.stopped) {
      const lease = await acquireLease(this.key, this.holder, LEASE_TTL_MS, new Date()).catch(
        (err: Error) => {
          this.log.warn({ err: err.message }, 'could not ask for the mailbox lease');
          return null;
        },
      );
      if (lease) {
        this.fence = lease.fence;
        Object.assign(this.status, { lease: 'held', fence: lease.fence });
        this.log.info({ fence: lease.fence, holder: this.holder }, 'holding the mailbox lease');
        return true;
      }
      if (!said) this.log.info('another process runs this mailbox: standing by');
      said = true;
      await sleep(LEASE_STANDBY_POLL_MS, undefined, { signal: this.stopping.signal }).catch(
        () => undefined,
      );
    }
    return false;
  }

  /** Keep the lease; a lost one (expired while we were stalled, taken over) ends the session. */
  private async renewLease(): Promise<void> {
    const lease = await acquireLease(this.key, this.holder, LEASE_TTL_MS, new Date()).catch(
      () => undefined, // a store hiccup: the next renewal tries again before the lease runs out
    );
    if (lease === null || (lease && lease.fence !== this.fence)) this.leaseLost();
  }

  private leaseLost(): void {
    if (this.status.lease === 'standby') return;
    this.status.lease = 'standby';
    this.log.warn({ fence: this.fence }, 'mailbox lease lost to another process: standing by');
    this.client?.close();
  }

  /** One connection's life: open the mailbox, sync, then sync on every EXISTS and poll tick. */
  private async session(): Promise<void> {
    const { imap } = this.box;
    const auth = await imapAuth(imap, this.tokens, this.renewToken);
    const client = imapClient(imap, auth, {
      autoIdleDelay: AUTO_IDLE_DELAY_MS,
      maxIdleTime: imap.pollSeconds * 1000,
      missingIdleCommand: 'STATUS',
    });
    this.client = client;
    this.checkpoint = undefined;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', (err: Error) => this.log.warn({ err: err.message }, 'IMAP error'));
    client.on('exists', (e: { count: number }) => {
      // Timestamps of the delivery→acknowledgement path (bench/intake.ts reads them at debug).
      this.log.debug({ count: e.count }, 'new mail announced');
      this.requestSync();
    });
    await client.connect();
    // Stopped while connecting: stop() may have found no client yet, or one not yet connected
    // enough to log out, and would otherwise wait for this session forever.
    if (this.stopped) {
      await client.logout().catch(() => client.close());
      this.client = undefined;
      return;
    }
    await client.mailboxOpen(imap.mailbox);
    this.renewToken = false;
    await clearSignInRefused('imap', this.account);
    this.status.connected = true;
    this.log.info({ idle: client.capabilities.has('IDLE') }, 'mailbox open');
    const poll = setInterval(() => this.requestSync(), imap.pollSeconds * 1000);
    try {
      this.requestSync();
      await closed;
    } finally {
      clearInterval(poll);
      await this.syncing?.catch(() => undefined);
      this.client = undefined;
    }
  }

  private get account(): string {
    return `${this.box.imap.user}@${this.box.imap.host}`;
  }

  /** Said once per attempt, loudly, with the server's own words; `status` and /healthz show it. */
  private async signInRefused(response: string): Promise<void> {
    this.log.error(
      { err: response, user: this.box.imap.user, retryInMs: AUTH_RETRY_MS },
      this.tokens
        ? 'IMAP sign-in refused: check IMAP_USER and the OAUTH_ settings, and that the app may use this mailbox'
        : 'IMAP sign-in refused: check IMAP_USER and IMAP_PASS',
    );
    await recordSignInRefused('imap', this.account, response, this.ctx.now()).catch((err: Error) =>
      this.log.warn({ err: err.message }, 'could not record the refused sign-in'),
    );
  }

  /** Syncs never overlap; a request during a sync runs one more pass after it. */
  private requestSync(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        await this.syncOnce();
      } while (this.syncAgain && !this.stopped);
    })()
      .catch((err: Error) => {
        if (err instanceof FencedOffError) return this.leaseLost();
        this.status.lastError = err.message;
        this.log.error({ err: err.message }, 'sync failed; closing the connection to start over');
        this.client?.close();
      })
      .finally(() => (this.syncing = undefined));
  }

  private async syncOnce(): Promise<void> {
    const client = this.client;
    if (!client?.mailbox || this.stopped) return;
    const uidValidity = client.mailbox.uidValidity.toString();
    if (this.checkpoint?.uidValidity !== uidValidity) {
      const read = await checkpointFor(this.key, uidValidity, this.fence);
      if (read.reset) this.log.warn({ uidValidity }, 'UIDVALIDITY changed: rescanning the mailbox');
      this.checkpoint = { uidValidity, lastUid: read.lastUid };
    }
    const checkpoint = this.checkpoint;
    let lastUid = checkpoint.lastUid;
    let advanced = false;
    while (!this.stopped) {
      const listed = await client.fetchAll(
        `${lastUid + 1}:*`,
        { uid: true, size: true },
        { uid: true },
      );
      // "n:*" also names the highest message when n is above it, hence the filter.
      const pending = listed.filter((m) => m.uid > lastUid).sort((a, b) => a.uid - b.uid);
      if (pending.length === 0) break;
      const batch = pending.slice(0, IMAP_SYNC_BATCH_SIZE);
      this.log.debug({ from: batch[0]!.uid, to: batch[batch.length - 1]!.uid }, 'listed');
      await this.takeBatch(client, uidValidity, batch);
      if (this.stopped) return; // the batch may be partial: leave the checkpoint where it is
      lastUid = batch[batch.length - 1]!.uid;
      await advanceCheckpoint(this.key, uidValidity, lastUid, this.fence);
      checkpoint.lastUid = lastUid;
      advanced = true;
      // A long backlog is progress too: health must not call a busy intake dead.
      this.status.lastHeartbeatAt = new Date();
      await client.messageFlagsAdd(
        batch.map((m) => m.uid),
        ['\\Seen'],
        { uid: true },
      );
      if (pending.length <= IMAP_SYNC_BATCH_SIZE) break;
    }
    // A pass that moved the checkpoint has stamped its sync time already.
    if (!advanced) await touchCheckpoint(this.key, this.fence);
    this.status.lastSyncAt = new Date();
    this.status.lastHeartbeatAt = this.status.lastSyncAt;
  }

  /** Store every message of the batch, then enqueue those not yet ingested, in one round trip. */
  private async takeBatch(client: ImapFlow, uidValidity: string, batch: FetchMessageObject[]) {
    const { maxMessageBytes } = this.ctx.config;
    const { imap, supportAddress } = this.box;
    const source = (uid: number) => ({
      address: supportAddress,
      mailbox: imap.mailbox,
      uidValidity,
      uid,
    });
    const small = batch
      .filter((m) => (m.size ?? 0) <= IMAP_BATCH_FETCH_MAX_BYTES)
      .map((m) => m.uid);
    const sources = new Map<number, Buffer>();
    if (small.length > 0) {
      for (const m of await client.fetchAll(small, { uid: true, source: true }, { uid: true })) {
        if (m.source) sources.set(m.uid, m.source);
      }
      this.log.debug({ from: small[0], to: small[small.length - 1] }, 'fetched');
    }
    const results: StoreRawResult[] = [];
    // Messages in hand are stored together, in one insert, after the loop.
    const inHand: RawInput[] = [];
    for (const m of batch) {
      // Stopping mid-batch is safe: the checkpoint has not moved, the rest comes next time.
      if (this.stopped) break;
      const size = m.size ?? 0;
      const log = this.log.child({ uid: m.uid, size });
      if (size > maxMessageBytes) {
        // Over the cap: fetch only the header block, keep it, and leave the message on the server.
        const [head] = await client.fetchAll(
          String(m.uid),
          { uid: true, headers: true },
          { uid: true },
        );
        inHand.push({
          bytes: head?.headers ?? Buffer.alloc(0),
          source: source(m.uid),
          quarantineReason: `too large: ${size} bytes exceeds the ${maxMessageBytes}-byte limit; the full message stays on the IMAP server (UID ${m.uid})`,
          headersOnly: true,
        });
        log.warn('oversized message quarantined');
        continue;
      }
      const inBatch = sources.get(m.uid);
      if (inBatch) {
        inHand.push({ bytes: inBatch, source: source(m.uid) });
      } else {
        // Large: streamed from the server into the blob store, never whole in memory.
        const download = await client.download(String(m.uid), undefined, { uid: true });
        if (!download.content) {
          log.warn('message vanished before it could be downloaded');
          continue;
        }
        results.push(await storeRaw(download.content, source(m.uid)));
      }
    }
    results.push(...(await storeRawMany(inHand)));
    this.status.stored += results.filter((r) => r.created).length;
    const toIngest = results.filter((r) => r.state === 'stored');
    if (toIngest.length > 0) {
      await this.ctx.queues.ingest.addBulk(
        toIngest.map((r) => ({
          name: 'ingest',
          data: { rawId: r.rawId },
          opts: { jobId: jobIds.ingest(r.rawId) },
        })),
      );
    }
  }
}
