/**
 * A tiny raster bar chart (grouped bars, axes, grid, legend, a 3×5 bitmap font) for the
 * digest's trend image. Pure: spec in, RGB raster out; png.ts encodes it.
 */
import type { Raster } from './png.js';

export type Rgb = readonly [number, number, number];

export interface ChartSeries {
  name: string;
  color: Rgb;
  values: readonly number[];
}

export interface ChartSpec {
  width: number;
  height: number;
  labels: readonly string[];
  series: readonly ChartSeries[];
}

export const COLORS = {
  background: [255, 255, 255] as Rgb,
  axis: [68, 68, 68] as Rgb,
  grid: [228, 228, 228] as Rgb,
  text: [51, 51, 51] as Rgb,
};

/** 3×5 glyphs, rows top to bottom, '#' set. */
const GLYPHS: Record<string, string> = {
  '0': '### #.# #.# #.# ###',
  '1': '.#. ##. .#. .#. ###',
  '2': '### ..# ### #.. ###',
  '3': '### ..# ### ..# ###',
  '4': '#.# #.# ### ..# ..#',
  '5': '### #.. ### ..# ###',
  '6': '### #.. ### #.# ###',
  '7': '### ..# ..# ..# ..#',
  '8': '### #.# ### #.# ###',
  '9': '### #.# ### ..# ###',
  '-': '... ... ### ... ...',
  '/': '..# ..# .#. #.. #..',
  ':': '... .#. ... .#. ...',
  '.': '... ... ... ... .#.',
  ' ': '... ... ... ... ...',
  n: '... ##. #.# #.# #.#',
  e: '... ### ### #.. ###',
  w: '... #.# #.# ### #.#',
  r: '... #.# ##. #.. #..',
  s: '... .## #.. ..# ##.',
  o: '... ### #.# #.# ###',
  l: '#.. #.. #.. #.. .##',
  v: '... #.# #.# #.# .#.',
  d: '..# ..# ### #.# ###',
  k: '#.. #.# ##. #.# #.#',
};

const FONT_SCALE = 2;
/** Width of one character cell in pixels (glyph plus spacing). */
export const CHAR_ADVANCE = 4 * FONT_SCALE;
const GLYPH_HEIGHT = 5 * FONT_SCALE;

export function textWidth(s: string): number {
  return s.length === 0 ? 0 : s.length * CHAR_ADVANCE - FONT_SCALE;
}

class Canvas implements Raster {
  readonly rgb: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    bg: Rgb,
  ) {
    this.rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.rgb.set(bg, i * 3);
  }
  rect(x: number, y: number, w: number, h: number, c: Rgb) {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++)
      for (let xx = x0; xx < x1; xx++) this.rgb.set(c, (yy * this.width + xx) * 3);
  }
  text(s: string, x: number, y: number, c: Rgb) {
    [...s].forEach((ch, i) => {
      const rows = (GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? GLYPHS[' ']!).split(' ');
      rows.forEach((row, ry) =>
        [...row].forEach((bit, rx) => {
          if (bit === '#')
            this.rect(
              x + i * CHAR_ADVANCE + rx * FONT_SCALE,
              y + ry * FONT_SCALE,
              FONT_SCALE,
              FONT_SCALE,
              c,
            );
        }),
      );
    });
  }
}

/** Round steps that keep most grid lines on round numbers. */
const NICE = [1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10];

/** The smallest whole "nice" number (NICE × 10^k) that is at least `n` (and at least 1). */
export function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of NICE) if (Number.isInteger(m * p) && m * p >= n) return m * p;
  return 10 * p;
}

/** Compact numbers for axis labels: 950, 1.2k, 35k. */
export function shortNumber(n: number): string {
  if (n < 1000) return String(n);
  const k = n / 1000;
  return `${k < 10 ? Math.round(k * 10) / 10 : Math.round(k)}k`;
}

export interface Bar {
  series: number;
  index: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ChartLayout {
  plot: { x: number; y: number; w: number; h: number };
  max: number;
  bars: Bar[];
}

const MARGIN = { left: 44, right: 12, top: 26, bottom: 22 };

/** Where everything goes; exported so tests can look at the pixels of a given bar. */
export function chartLayout(spec: ChartSpec): ChartLayout {
  const plot = {
    x: MARGIN.left,
    y: MARGIN.top,
    w: spec.width - MARGIN.left - MARGIN.right,
    h: spec.height - MARGIN.top - MARGIN.bottom,
  };
  const max = niceMax(Math.max(0, ...spec.series.flatMap((s) => s.values)));
  const slot = plot.w / Math.max(1, spec.labels.length);
  const groupW = slot * 0.7;
  const barW = Math.max(1, Math.floor(groupW / Math.max(1, spec.series.length)));
  const bars: Bar[] = [];
  spec.series.forEach((s, si) =>
    s.values.forEach((v, i) => {
      const h = Math.round((plot.h * v) / max);
      bars.push({
        series: si,
        index: i,
        x: Math.round(plot.x + i * slot + (slot - groupW) / 2 + si * barW),
        y: plot.y + plot.h - h,
        w: barW,
        h,
      });
    }),
  );
  return { plot, max, bars };
}

export function renderBarChart(spec: ChartSpec): Raster {
  const c = new Canvas(spec.width, spec.height, COLORS.background);
  const { plot, max, bars } = chartLayout(spec);
  // Grid and y labels at 0, ¼, ½, ¾ and the top.
  for (let t = 0; t <= 4; t++) {
    const y = Math.round(plot.y + plot.h - (plot.h * t) / 4);
    if (t > 0) c.rect(plot.x, y, plot.w, 1, COLORS.grid);
    const value = (max * t) / 4;
    if (Number.isInteger(value)) {
      const label = shortNumber(value);
      c.text(label, plot.x - 6 - textWidth(label), y - GLYPH_HEIGHT / 2, COLORS.text);
    }
  }
  for (const b of bars) c.rect(b.x, b.y, b.w, b.h, spec.series[b.series]!.color);
  // Axes over the bars' feet.
  c.rect(plot.x, plot.y, 1, plot.h + 1, COLORS.axis);
  c.rect(plot.x, plot.y + plot.h, plot.w, 1, COLORS.axis);
  // X labels, thinned so they never overlap.
  const slot = plot.w / Math.max(1, spec.labels.length);
  const widest = Math.max(0, ...spec.labels.map(textWidth));
  const every = Math.max(1, Math.ceil((widest + CHAR_ADVANCE) / slot));
  spec.labels.forEach((label, i) => {
    if ((spec.labels.length - 1 - i) % every !== 0) return; // always label the newest
    const cx = plot.x + i * slot + slot / 2;
    c.text(label, Math.round(cx - textWidth(label) / 2), plot.y + plot.h + 6, COLORS.text);
  });
  // Legend, top left.
  let lx = plot.x;
  for (const s of spec.series) {
    c.rect(lx, 8, 10, 10, s.color);
    c.text(s.name, lx + 14, 8, COLORS.text);
    lx += 14 + textWidth(s.name) + 16;
  }
  return c;
}
