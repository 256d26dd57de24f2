/**
 * The digest's trend chart as SVG: grouped bars, a y axis with round steps and grid lines,
 * x labels, a legend. Pure: spec in, SVG text out; src/mail/chart.ts rasterises it with resvg
 * and a real font. Sizes are CSS pixels; the raster is made at a multiple of them.
 */

export interface ChartSeries {
  name: string;
  /** A CSS colour (#rrggbb). */
  color: string;
  values: readonly number[];
}

export interface ChartSpec {
  width: number;
  height: number;
  labels: readonly string[];
  series: readonly ChartSeries[];
  /** Font family the SVG names (the rasteriser must have it). */
  fontFamily?: string;
}

export const CHART_COLORS = {
  background: '#ffffff',
  axis: '#555555',
  grid: '#e4e4e4',
  text: '#333333',
};

export const CHART_FONT = 'DejaVu Sans';
const FONT_SIZE = 11;
/** DejaVu Sans advance widths are at most ~0.7 em for digits and lower case; a safe estimate. */
const CHAR_EM = 0.64;

export const textWidth = (s: string, size = FONT_SIZE) => Math.ceil(s.length * size * CHAR_EM);

/**
 * Round axis steps: the smallest step of 1, 2 or 5 × 10^k (and at least 1: counts are whole)
 * that covers `max` in at most `maxTicks` steps. `top` is the axis end, `ticks` its labels.
 */
export function niceScale(
  max: number,
  maxTicks = 5,
): { step: number; top: number; ticks: number[] } {
  const m = Math.max(0, Math.ceil(max));
  if (m === 0) return { step: 1, top: 1, ticks: [0, 1] };
  let k = 1;
  while (5 * k * maxTicks < m) k *= 10;
  const step = [k, 2 * k, 5 * k].find((c) => c * maxTicks >= m)!;
  const top = Math.ceil(m / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= top; v += step) ticks.push(v);
  return { step, top, ticks };
}

/** 1234 → "1234", 12345 → "12k", 1.5M → "1.5M": y labels stay narrow. */
export function shortNumber(n: number): string {
  if (n >= 1_000_000) return `${+(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  return String(n);
}

export interface Bar {
  series: number;
  index: number;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartLayout {
  plot: { left: number; top: number; right: number; bottom: number };
  scale: ReturnType<typeof niceScale>;
  bars: Bar[];
  /** Centre x of each label's group of bars. */
  labelX: number[];
  /** Every `labelEvery`-th label is drawn (all of them when they fit). */
  labelEvery: number;
}

/** Where everything goes; exported so tests can look at the pixels of a given bar. */
export function chartLayout(spec: ChartSpec): ChartLayout {
  const n = spec.labels.length;
  const max = Math.max(0, ...spec.series.flatMap((s) => s.values));
  const scale = niceScale(max);
  const yLabelWidth = Math.max(...scale.ticks.map((t) => textWidth(shortNumber(t))));
  const plot = {
    left: 10 + yLabelWidth + 6,
    top: 30,
    right: spec.width - 16,
    bottom: spec.height - 24,
  };
  const slot = n ? (plot.right - plot.left) / n : 0;
  const groupWidth = slot * 0.7;
  const barWidth = spec.series.length ? groupWidth / spec.series.length : 0;
  const bars: Bar[] = [];
  const labelX: number[] = [];
  const h = plot.bottom - plot.top;
  for (let i = 0; i < n; i++) {
    const x0 = plot.left + slot * i + (slot - groupWidth) / 2;
    labelX.push(plot.left + slot * (i + 0.5));
    spec.series.forEach((s, si) => {
      const value = s.values[i] ?? 0;
      const height = (value / scale.top) * h;
      bars.push({
        series: si,
        index: i,
        value,
        x: x0 + si * barWidth,
        y: plot.bottom - height,
        width: barWidth,
        height,
      });
    });
  }
  const widest = Math.max(0, ...spec.labels.map((l) => textWidth(l)));
  const labelEvery = slot > 0 ? Math.max(1, Math.ceil((widest + 6) / slot)) : 1;
  return { plot, scale, bars, labelX, labelEvery };
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const r1 = (n: number) => Math.round(n * 10) / 10;

/** The chart as a standalone SVG document. */
export function renderChartSvg(spec: ChartSpec): string {
  const { plot, scale, bars, labelX, labelEvery } = chartLayout(spec);
  const font = esc(spec.fontFamily ?? CHART_FONT);
  const h = plot.bottom - plot.top;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${spec.width}" height="${spec.height}" viewBox="0 0 ${spec.width} ${spec.height}" font-family="${font}" font-size="${FONT_SIZE}">`,
    `<rect width="100%" height="100%" fill="${CHART_COLORS.background}"/>`,
  );
  for (const t of scale.ticks) {
    const y = r1(plot.bottom - (t / scale.top) * h);
    if (t > 0)
      out.push(
        `<line x1="${plot.left}" y1="${y}" x2="${plot.right}" y2="${y}" stroke="${CHART_COLORS.grid}" stroke-width="1"/>`,
      );
    out.push(
      `<text x="${plot.left - 6}" y="${r1(y + 4)}" text-anchor="end" fill="${CHART_COLORS.text}">${shortNumber(t)}</text>`,
    );
  }
  for (const b of bars)
    if (b.height > 0)
      out.push(
        `<rect x="${r1(b.x)}" y="${r1(b.y)}" width="${r1(b.width)}" height="${r1(b.height)}" fill="${esc(spec.series[b.series]!.color)}"/>`,
      );
  out.push(
    `<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="${CHART_COLORS.axis}" stroke-width="1"/>`,
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="${CHART_COLORS.axis}" stroke-width="1"/>`,
  );
  // Label the most recent bucket always: count the skipping from the right.
  const n = spec.labels.length;
  spec.labels.forEach((l, i) => {
    if ((n - 1 - i) % labelEvery) return;
    out.push(
      `<text x="${r1(labelX[i]!)}" y="${plot.bottom + 16}" text-anchor="middle" fill="${CHART_COLORS.text}">${esc(l)}</text>`,
    );
  });
  // Legend, top right.
  let x = plot.right;
  for (const s of [...spec.series].reverse()) {
    const w = textWidth(s.name);
    x -= w;
    out.push(`<text x="${x}" y="18" fill="${CHART_COLORS.text}">${esc(s.name)}</text>`);
    x -= 14;
    out.push(`<rect x="${x}" y="9" width="10" height="10" fill="${esc(s.color)}"/>`);
    x -= 14;
  }
  out.push('</svg>');
  return out.join('\n');
}
