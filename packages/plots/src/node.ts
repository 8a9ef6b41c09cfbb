/**
 * Node-only: charts to PNG (SVG rasterised by resvg with the system's fonts) and to files. Charts are drawn from data
 * written elsewhere (a history.json, atomically), so a chart cut short by a crash is redrawn, not lost.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { accuracyChart, type HistoryLike, lossChart } from './history.js';
import { renderSvg } from './render.js';

/** resvg is an optional peer (a native binary per platform): only PNG output needs it. */
async function loadResvg(): Promise<typeof import('@resvg/resvg-js')> {
  try {
    return await import('@resvg/resvg-js');
  } catch {
    throw new Error('PNG output needs @resvg/resvg-js (npm install @resvg/resvg-js); SVG output works without it');
  }
}

/** The chart as PNG bytes; `scale` 2 gives a sharp image on high-density screens. */
export async function renderPng(spec: TopLevelSpec, { scale = 2 }: { scale?: number } = {}): Promise<Uint8Array> {
  const svg = await renderSvg(spec);
  const { Resvg } = await loadResvg();
  const png = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
  });
  return new Uint8Array(png.render().asPng());
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
    await writeFile(file, format === 'svg' ? await renderSvg(spec) : await renderPng(spec));
    written.push(file);
  }
  return written;
}

/** Writes the `accuracy` and `loss` charts of a training history into `folder`; returns the files written. */
export async function writeCurves(
  folder: string,
  history: HistoryLike,
  formats: readonly ('svg' | 'png')[] = ['svg', 'png'],
): Promise<string[]> {
  return [
    ...(await writeChart(accuracyChart(history), path.join(folder, 'accuracy'), formats)),
    ...(await writeChart(lossChart(history), path.join(folder, 'loss'), formats)),
  ];
}
