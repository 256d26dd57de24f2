import { inflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  chartLayout,
  COLORS,
  niceMax,
  renderBarChart,
  shortNumber,
  type ChartSpec,
} from '../../src/domain/chart.js';
import { crc32, encodePng, PNG_SIGNATURE } from '../../src/domain/png.js';

/** A test-side PNG reader: chunks with their CRCs checked, IHDR, and the unfiltered pixels. */
function decodePng(png: Buffer) {
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let off = 8; off < png.length;) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    const crc = png.readUInt32BE(off + 8 + len);
    expect(crc, `CRC of ${type}`).toBe(zlibCrc32(png.subarray(off + 4, off + 8 + len)));
    chunks.push({ type, data });
    off += 12 + len;
  }
  expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const ihdr = chunks[0]!.data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  expect([...ihdr.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
  const raw = inflateSync(chunks[1]!.data);
  expect(raw.length).toBe((width * 3 + 1) * height);
  const pixel = (x: number, y: number) => {
    const row = y * (width * 3 + 1);
    expect(raw[row]).toBe(0); // filter None
    const i = row + 1 + x * 3;
    return [raw[i], raw[i + 1], raw[i + 2]];
  };
  return { width, height, pixel };
}

describe('PNG encoder', () => {
  it('CRC-32 matches the standard check value and zlib', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const bytes = Buffer.from('IEND');
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
  });

  it('encodes a raster that decodes back to the same pixels', () => {
    const width = 3;
    const height = 2;
    const rgb = new Uint8Array([
      255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90,
    ]);
    const img = decodePng(encodePng({ width, height, rgb }));
    expect([img.width, img.height]).toEqual([3, 2]);
    expect(img.pixel(0, 0)).toEqual([255, 0, 0]);
    expect(img.pixel(2, 0)).toEqual([0, 0, 255]);
    expect(img.pixel(1, 1)).toEqual([40, 50, 60]);
  });

  it('refuses a raster of the wrong size', () => {
    expect(() => encodePng({ width: 2, height: 2, rgb: new Uint8Array(5) })).toThrow(RangeError);
  });
});

describe('bar chart', () => {
  const blue = [52, 101, 164] as const;
  const green = [78, 154, 6] as const;
  const spec: ChartSpec = {
    width: 560,
    height: 200,
    labels: ['11-20', '11-21', '11-22', '11-23'],
    series: [
      { name: 'new', color: blue, values: [4, 0, 10, 7] },
      { name: 'resolved', color: green, values: [2, 5, 10, 1] },
    ],
  };

  it('scales to a nice maximum and puts bars side by side', () => {
    const layout = chartLayout(spec);
    expect(layout.max).toBe(10);
    const newTall = layout.bars.find((b) => b.series === 0 && b.index === 2)!;
    const resTall = layout.bars.find((b) => b.series === 1 && b.index === 2)!;
    expect(newTall.h).toBe(layout.plot.h); // 10 of 10: full height
    expect(resTall.x).toBe(newTall.x + newTall.w);
    const zero = layout.bars.find((b) => b.series === 0 && b.index === 1)!;
    expect(zero.h).toBe(0);
  });

  it('draws each bar in its series colour, and background where there is no bar', () => {
    const img = decodePng(encodePng(renderBarChart(spec)));
    const layout = chartLayout(spec);
    for (const b of layout.bars.filter((b) => b.h > 4)) {
      const px = img.pixel(b.x + (b.w >> 1), b.y + (b.h >> 1));
      expect(px).toEqual([...spec.series[b.series]!.color]);
    }
    // Above the "resolved" bar of 11-23 (1 of 10) there is only background or grid.
    const small = layout.bars.find((b) => b.series === 1 && b.index === 3)!;
    const above = img.pixel(small.x + (small.w >> 1), small.y - 30);
    expect([[...COLORS.background], [...COLORS.grid]]).toContainEqual(above);
    // The x axis runs along the plot's foot.
    expect(img.pixel(layout.plot.x + 3, layout.plot.y + layout.plot.h)).toEqual([...COLORS.axis]);
    // The legend's first swatch is the first series' colour.
    expect(img.pixel(layout.plot.x + 5, 13)).toEqual([...blue]);
  });

  it('draws an all-zero chart without dividing by zero', () => {
    const zero = { ...spec, series: spec.series.map((s) => ({ ...s, values: [0, 0, 0, 0] })) };
    expect(chartLayout(zero).max).toBe(1);
    expect(decodePng(encodePng(renderBarChart(zero))).width).toBe(560);
  });

  it('nice maxima and short numbers', () => {
    expect([0, 1, 3, 7, 10, 11, 260, 999, 1001, 1700].map(niceMax)).toEqual([
      1, 1, 3, 8, 10, 12, 300, 1000, 1200, 2000,
    ]);
    expect([0, 950, 1200, 35_400].map(shortNumber)).toEqual(['0', '950', '1.2k', '35k']);
  });
});
