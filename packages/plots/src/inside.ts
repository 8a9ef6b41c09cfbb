/**
 * Pictures of what happens inside a net: a layer's activation maps (one small heatmap per channel) beside the
 * input, and Grad-CAM heatmaps over the image. The maps come as arrays (an NHWC output, a [H, W] map), so this
 * package needs no model code.
 */
import type { TopLevelSpec } from 'vega-lite';
import { PlotError } from './errors.js';
import { imageGridChart, type Images, type PixelArray } from './images.js';

export interface FeatureMapsOptions {
  /** The image the maps were computed from, shown first (values in [0, 1], or uint8). */
  input?: Images;
  /** At most this many channels are drawn (the first ones); the title says how many there are. Default 64. */
  maxChannels?: number;
  columns?: number;
  cellSize?: number;
  /** E.g. the layer's path and output shape. */
  title?: string;
}

/** Each channel of `maps` ([1, H, W, C] or [H, W, C]) as a grey image scaled to its own min..max, titled `ch k`. */
export function featureMapsChart(maps: PixelArray, options: FeatureMapsOptions = {}): TopLevelSpec {
  const shape = maps.shape.length === 4 ? maps.shape.slice(1) : maps.shape;
  if (shape.length !== 3 || (maps.shape.length === 4 && maps.shape[0] !== 1))
    throw new PlotError(`feature maps: shape [${maps.shape.join(', ')}]: expected one map stack [1, H, W, C]`);
  const [h, w, c] = shape as [number, number, number];
  const { maxChannels = 64, columns = 8, cellSize = 56 } = options;
  const shown = Math.min(c, maxChannels);
  const data = new Float32Array(shown * h * w);
  for (let k = 0; k < shown; k++) {
    let [low, high] = [Infinity, -Infinity];
    for (let p = 0; p < h * w; p++) {
      const v = maps.data[p * c + k]!;
      [low, high] = [Math.min(low, v), Math.max(high, v)];
    }
    const range = high - low;
    for (let p = 0; p < h * w; p++) data[k * h * w + p] = range > 0 ? (maps.data[p * c + k]! - low) / range : 0;
  }
  const titles = Array.from({ length: shown }, (_, k) => `ch ${k}`);
  const count = shown < c ? `the first ${shown} of ${c} channels` : `${c} channels`;
  const grid = imageGridChart({ data, shape: [shown, h, w, 1] }, { titles, count: shown, columns, cellSize });
  const title = `${options.title ? `${options.title}: ` : ''}${count}, ${h}x${w} each (each scaled to its range)`;
  if (!options.input) return { ...grid, title } as TopLevelSpec;
  const input = imageGridChart(options.input, { titles: ['input'], count: 1, columns: 1, cellSize: cellSize * 2 });
  return {
    $schema: grid.$schema,
    title,
    hconcat: [strip(input), strip(grid)],
  } as TopLevelSpec;
}

/** A chart inside a concat: no schema of its own. */
function strip(spec: TopLevelSpec): object {
  const { $schema: _, ...rest } = spec as { $schema?: string };
  return rest;
}

/** The jet colour map (blue, cyan, yellow, red) of v in [0, 1]. */
function jet(v: number): [number, number, number] {
  const band = (centre: number) => Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - centre)));
  return [band(3), band(2), band(1)];
}

export interface GradCamPanel {
  /** [H, W] values in [0, 1] (`gradCam(...).map`). */
  map: ArrayLike<number>;
  title: string;
}

/**
 * Grad-CAM maps over their image: each panel is the image (greyed, so colour means evidence) blended half and half
 * with the map in the jet colours, at `cellSize` pixels, titled (e.g. with the class and its probability).
 */
export function gradCamChart(
  image: PixelArray,
  panels: readonly GradCamPanel[],
  { cellSize = 224, title }: { cellSize?: number; title?: string } = {},
): TopLevelSpec {
  const shape = image.shape.length === 4 ? image.shape.slice(1) : image.shape;
  const [h, w, c] = shape as [number, number, number];
  if (shape.length !== 3 || (c !== 1 && c !== 3))
    throw new PlotError(`grad-cam: image shape [${image.shape.join(', ')}]: expected one image [H, W, 1 or 3]`);
  if (!panels.length) throw new PlotError('grad-cam: no maps to draw');
  const scale = image.data instanceof Uint8Array ? 1 / 255 : 1;
  const data = new Float32Array(panels.length * h * w * 3);
  panels.forEach(({ map }, n) => {
    if (map.length !== h * w) throw new PlotError(`grad-cam: a map of ${map.length} values for a ${h}x${w} image`);
    for (let p = 0; p < h * w; p++) {
      let grey = 0;
      for (let k = 0; k < c; k++) grey += image.data[p * c + k]! * scale;
      const colour = jet(map[p]!);
      for (let k = 0; k < 3; k++) data[(n * h * w + p) * 3 + k] = 0.5 * (grey / c) + 0.5 * colour[k]!;
    }
  });
  const titles = panels.map((p) => p.title);
  const grid = imageGridChart(
    { data, shape: [panels.length, h, w, 3] },
    { titles, count: panels.length, columns: panels.length, cellSize },
  );
  return (title ? { ...grid, title } : grid) as TopLevelSpec;
}
