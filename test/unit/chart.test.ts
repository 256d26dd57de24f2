import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  chartLayout,
  niceScale,
  renderChartSvg,
  shortNumber,
  type ChartSpec,
} from '../../src/domain/chart.js';
import { rasteriseSvg } from '../../src/mail/chart.js';

const spec = (values: number[][], width = 560, height = 200): ChartSpec => ({
  width,
  height,
  labels: values[0]!.map((_, i) => `11-${String(10 + i).padStart(2, '0')}`),
  series: [
    { name: 'new', color: '#3465a4', values: values[0]! },
    { name: 'resolved', color: '#4e9a06', values: values[1]! },
  ],
});

describe('chart scale', () => {
  it('steps are 1, 2 or 5 × 10^k, whole, at most five of them', () => {
    expect(niceScale(0)).toEqual({ step: 1, top: 1, ticks: [0, 1] });
    expect(niceScale(3).ticks).toEqual([0, 1, 2, 3]);
    expect(niceScale(7)).toMatchObject({ step: 2, top: 8, ticks: [0, 2, 4, 6, 8] });
    expect(niceScale(10)).toMatchObject({ step: 2, top: 10 });
    expect(niceScale(23)).toMatchObject({ step: 5, top: 25 });
    expect(niceScale(480)).toMatchObject({ step: 100, top: 500 });
    expect(niceScale(0.4).ticks).toEqual([0, 1]);
  });

  it('short numbers', () => {
    expect(shortNumber(999)).toBe('999');
    expect(shortNumber(12_345)).toBe('12k');
    expect(shortNumber(1_500_000)).toBe('1.5M');
  });

  it('the last bar keeps a margin from the right edge; labels that do not fit are thinned', () => {
    const l = chartLayout(spec([Array(14).fill(1), Array(14).fill(2)]));
    const last = l.bars[l.bars.length - 1]!;
    expect(560 - (last.x + last.width)).toBeGreaterThanOrEqual(16);
    expect(l.plot.left).toBeGreaterThan(10);
    const few = chartLayout(
      spec([
        [1, 2, 3],
        [3, 2, 1],
      ]),
    );
    expect(few.labelEvery).toBe(1);
  });

  it('the SVG has y ticks, labels, the legend and escapes text', () => {
    const s = spec([
      [3, 7],
      [1, 0],
    ]);
    const svg = renderChartSvg({ ...s, labels: ['a<b', '11-11'] });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="560" height="200"/);
    for (const t of ['0', '2', '4', '6', '8']) expect(svg).toContain(`>${t}</text>`);
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('>resolved</text>');
    expect(svg).not.toContain('<b');
  });
});

describe('chart raster', () => {
  const values = [
    [3, 5, 2, 0, 7, 4, 3, 1, 0, 2, 6, 4, 3, 5],
    [2, 4, 3, 1, 5, 4, 2, 2, 0, 1, 5, 3, 4, 4],
  ];
  const s = spec(values);
  const png = PNG.sync.read(rasteriseSvg(renderChartSvg(s)));
  const px = (x: number, y: number) => {
    const i = (y * png.width + x) * 4;
    return [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
  };
  const isBlue = ([r, g, b]: number[]) => r === 0x34 && g === 0x65 && b === 0xa4;
  const isInk = ([r, g, b]: number[]) => r! < 160 && g! < 160 && b! < 160;

  it('is twice the CSS size', () => {
    expect([png.width, png.height]).toEqual([1120, 400]);
  });

  it('draws y-axis labels: dark pixels left of the plot', () => {
    const l = chartLayout(s);
    let ink = 0;
    for (let y = 2 * l.plot.top - 10; y < 2 * l.plot.bottom + 10; y++)
      for (let x = 0; x < 2 * l.plot.left - 8; x++) if (isInk(px(x, y))) ink++;
    expect(ink).toBeGreaterThan(100);
    // and x labels below the axis
    let below = 0;
    for (let y = 2 * l.plot.bottom + 4; y < png.height; y++)
      for (let x = 2 * l.plot.left; x < png.width; x++) if (isInk(px(x, y))) below++;
    expect(below).toBeGreaterThan(100);
  });

  it('puts each bar where its value says', () => {
    const l = chartLayout(s);
    const h = l.plot.bottom - l.plot.top;
    for (const b of l.bars.filter((b) => b.series === 0)) {
      const cx = Math.round(2 * (b.x + b.width / 2));
      const topY = 2 * (l.plot.bottom - (b.value / l.scale.top) * h);
      if (b.value === 0) {
        expect(isBlue(px(cx, 2 * l.plot.bottom - 4))).toBe(false);
        continue;
      }
      expect(isBlue(px(cx, Math.round(topY) + 3)), `bar ${b.index} inside`).toBe(true);
      expect(isBlue(px(cx, Math.round(topY) - 3)), `bar ${b.index} above`).toBe(false);
    }
  });
});
