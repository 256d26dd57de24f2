/**
 * Rasterises the digest's SVG chart to PNG with resvg (its native binary ships in its npm
 * packages) and DejaVu Sans from the `dejavu-fonts-ttf` package; system fonts are not read,
 * so the image is the same on every machine.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { CHART_FONT } from '../domain/chart.js';

const require = createRequire(import.meta.url);
const FONT_DIR = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
export const CHART_FONT_FILES = [
  join(FONT_DIR, 'DejaVuSans.ttf'),
  join(FONT_DIR, 'DejaVuSans-Bold.ttf'),
];

/** The PNG of an SVG at `scale` × its CSS size (2: sharp on high-resolution screens). */
export function rasteriseSvg(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { fontFiles: CHART_FONT_FILES, loadSystemFonts: false, defaultFontFamily: CHART_FONT },
    background: '#ffffff',
  });
  return resvg.render().asPng();
}
