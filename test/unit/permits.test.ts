import { describe, expect, it } from 'vitest';
import { Permits } from '../../src/permits.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Permits', () => {
  it('lets at most its count run at once, the rest in arrival order', async () => {
    const permits = new Permits(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        permits.with(async () => {
          started.push(i);
          most = Math.max(most, ++running);
          await tick();
          running--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives the permit back when the work throws', async () => {
    const permits = new Permits(1);
    await expect(
      permits.with(async () => {
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    // Were it kept, this would wait for ever.
    expect(await permits.with(async () => 'next')).toBe('next');
  }, 2000);
});
