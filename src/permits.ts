/**
 * At most `count` holders at once; the others wait in arrival order. For work whose memory
 * grows with its input (parsing a large message), so that many jobs in flight cannot all
 * hold a large one at the same time.
 */
export class Permits {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(count: number) {
    this.free = count;
  }

  /** Run `fn` holding a permit. */
  async with<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // Handed straight to the next in line, or back to the pool.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
