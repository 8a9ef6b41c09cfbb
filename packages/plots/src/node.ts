/** Node-only: charts to PNG (SVG rasterised by resvg with the system's fonts) and to files, written atomically. */
import { Resvg } from '@resvg/resvg-js';
import { rename, writeFile } from 'node:fs/promises';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from './render.js';

/** The chart as PNG bytes; `scale` 2 gives a sharp image on high-density screens. */
export async function renderPng(spec: TopLevelSpec, { scale = 2 }: { scale?: number } = {}): Promise<Uint8Array> {
  const svg = await renderSvg(spec);
  const png = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
  });
  return new Uint8Array(png.render().asPng());
}

async function writeAtomically(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, data);
  await rename(temp, file);
}

/** Writes `base.svg` and/or `base.png`; returns the paths written. */
export async function writeChart(
  spec: TopLevelSpec,
  base: string,
  formats: readonly ('svg' | 'png')[] = ['svg', 'png'],
): Promise<string[]> {
  const written: string[] = [];
  for (const format of formats) {
    const file = `${base}.${format}`;
    await writeAtomically(file, format === 'svg' ? await renderSvg(spec) : await renderPng(spec));
    written.push(file);
  }
  return written;
}
