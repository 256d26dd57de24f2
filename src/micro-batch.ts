/**
 * Joins calls that arrive together into one batch: each `add` waits for the batch it joined
 * and gets its own item's result. A batch is cut `waitMs` after its first item, or, without
 * `waitMs`, as soon as the event loop turns (only the calls made in the same turn join: no
 * added latency when calls come one at a time), or at `maxItems`; batches run one at a time,
 * and items that arrive while one runs form the next (group commit: the busier, the larger).
 * A failed batch of several items runs each item alone, so one item that always fails does
 * not fail the others with it.
 */
export class MicroBatcher<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  /** Cancels the cut scheduled for the pending items (none while a batch runs). */
  private cancelScheduledCut: (() => void) | undefined;
  /** When the running batch began (Date.now()), undefined while none runs. */
  private runningSince: number | undefined;

  constructor(
    /** Runs one batch; returns one result per item, in the items' order. */
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly options: { maxItems: number; waitMs?: number },
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.runningSince !== undefined) return; // the running batch starts the next when it ends
      if (this.pending.length >= this.options.maxItems) this.cut();
      else this.cancelScheduledCut ??= this.scheduleCut();
    });
  }

  /** How long the running batch has run, in ms (0 when none runs), and the calls waiting. */
  state(now = Date.now()): { runningMs: number; waiting: number } {
    return {
      runningMs: this.runningSince === undefined ? 0 : now - this.runningSince,
      waiting: this.pending.length,
    };
  }

  private scheduleCut(): () => void {
    const { waitMs } = this.options;
    if (waitMs === undefined) {
      const immediate = setImmediate(() => this.cut());
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(() => this.cut(), waitMs);
    return () => clearTimeout(timer);
  }

  private cut(): void {
    this.cancelScheduledCut?.();
    this.cancelScheduledCut = undefined;
    const batch = this.pending.splice(0, this.options.maxItems);
    if (batch.length === 0) return;
    this.runningSince = Date.now();
    void this.settle(batch).finally(() => {
      this.runningSince = undefined;
      if (this.pending.length > 0) this.cut();
    });
  }

  private async settle(batch: MicroBatcher<T, R>['pending']): Promise<void> {
    try {
      const results = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const b of batch) await this.settle([b]);
    }
  }
}
