import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/micro-batch.js';

/** A batcher whose runs are recorded; `fails(item)` makes any batch holding that item throw. */
function recording(options: { maxItems: number; waitMs?: number }, fails = (_: number) => false) {
  const runs: number[][] = [];
  let running = 0;
  let overlapped = false;
  const batcher = new MicroBatcher(async (items: number[]) => {
    runs.push(items);
    overlapped ||= running > 0;
    running++;
    await new Promise((r) => setTimeout(r, 20));
    running--;
    if (items.some(fails)) throw new Error(`batch ${items.join(',')} failed`);
    return items.map((i) => i * 10);
  }, options);
  return { batcher, runs, overlapped: () => overlapped };
}

describe('MicroBatcher', () => {
  it('runs what arrives within the wait as one batch, and gives each caller its result', async () => {
    const { batcher, runs } = recording({ maxItems: 10, waitMs: 30 });
    const results = await Promise.all([1, 2, 3].map((i) => batcher.add(i)));
    expect(results).toEqual([10, 20, 30]);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('cuts at maxItems, runs one batch at a time, and gathers the next meanwhile', async () => {
    const { batcher, runs, overlapped } = recording({ maxItems: 2, waitMs: 1000 });
    const first = [1, 2].map((i) => batcher.add(i)); // full: runs at once
    await new Promise((r) => setTimeout(r, 5));
    const later = [3, 4, 5].map((i) => batcher.add(i)); // while it runs
    expect(await Promise.all([...first, ...later])).toEqual([10, 20, 30, 40, 50]);
    expect(runs).toEqual([[1, 2], [3, 4], [5]]);
    expect(overlapped()).toBe(false);
  });

  it('runs each item at once when batches hold one (no transactions: one job at a time)', async () => {
    const { batcher, runs } = recording({ maxItems: 1, waitMs: 60_000 });
    expect(await batcher.add(1)).toBe(10); // would time out if it waited for the minute
    expect(runs).toEqual([[1]]);
  });

  it('runs the items of a failed batch alone, so only the failing one fails', async () => {
    const { batcher, runs } = recording({ maxItems: 10, waitMs: 10 }, (i) => i === 2);
    const settled = await Promise.allSettled([1, 2, 3].map((i) => batcher.add(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason.message).toBe('batch 2 failed');
    expect(runs).toEqual([[1, 2, 3], [1], [2], [3]]);
    // Still working afterwards.
    expect(await batcher.add(4)).toBe(40);
  });
  describe('without a wait (group commit)', () => {
    it('starts a call made alone as soon as the event loop turns, with no timer', async () => {
      const { batcher, runs } = recording({ maxItems: 10 });
      const result = batcher.add(1);
      expect(runs).toEqual([]); // not in the caller's own turn: others of that turn may join
      await new Promise((r) => setImmediate(r));
      expect(runs).toEqual([[1]]); // already running, after one turn
      expect(await result).toBe(10);
    });

    it('joins the calls made in the same turn of the event loop, and not a later turn', async () => {
      const { batcher, runs } = recording({ maxItems: 10 });
      const first = [1, 2, 3].map((i) => batcher.add(i));
      await Promise.all(first);
      const second = batcher.add(4);
      expect(await second).toBe(40);
      expect(runs).toEqual([[1, 2, 3], [4]]);
    });

    it('gathers the calls made while a batch runs into the next, one batch at a time', async () => {
      const { batcher, runs, overlapped } = recording({ maxItems: 3 });
      const first = batcher.add(1);
      await new Promise((r) => setTimeout(r, 5)); // batch [1] is running
      const later = [2, 3, 4, 5].map((i) => batcher.add(i));
      await new Promise((r) => setImmediate(r));
      const last = batcher.add(6);
      expect(await Promise.all([first, ...later, last])).toEqual([10, 20, 30, 40, 50, 60]);
      expect(runs).toEqual([[1], [2, 3, 4], [5, 6]]);
      expect(overlapped()).toBe(false);
    });

    it('still runs each item of a failed batch alone', async () => {
      const { batcher, runs } = recording({ maxItems: 10 }, (i) => i === 2);
      const settled = await Promise.allSettled([1, 2, 3].map((i) => batcher.add(i)));
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(runs).toEqual([[1, 2, 3], [1], [2], [3]]);
    });
  });

  it('says how long its running batch has run and how many calls wait behind it', async () => {
    let release = () => {};
    const batcher = new MicroBatcher(
      (items: number[]) => new Promise<number[]>((resolve) => (release = () => resolve(items))),
      { maxItems: 10 },
    );
    expect(batcher.state()).toEqual({ runningMs: 0, waiting: 0 });
    const first = batcher.add(1);
    await new Promise((r) => setImmediate(r)); // cut: the batch of 1 runs, and hangs
    const later = [batcher.add(2), batcher.add(3)];
    const since = Date.now();
    expect(batcher.state(since + 5000)).toEqual({ runningMs: expect.any(Number), waiting: 2 });
    expect(batcher.state(since + 5000).runningMs).toBeGreaterThanOrEqual(5000);
    release();
    await first;
    await new Promise((r) => setImmediate(r)); // the two that waited run as the next batch
    expect(batcher.state().waiting).toBe(0);
    release();
    expect(await Promise.all(later)).toEqual([2, 3]);
    expect(batcher.state()).toEqual({ runningMs: 0, waiting: 0 });
  }, 5000);
});
