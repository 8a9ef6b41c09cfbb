/**
 * The notebook's image pictures as Vega-Lite specs: a grid of samples titled with their class names, and one
 * image's channels as grey heatmaps with each pixel's value written in its cell. Images come as NHWC tensors,
 * `{data, shape}` arrays, or anything shaped like a dataset (`images`, `imageShape`, `labels`, `classes`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { encode as encodePng } from 'fast-png';
import type { TopLevelSpec } from 'vega-lite';
import { PlotError } from './errors.js';

export interface PixelArray {
  data: ArrayLike<number>;
  /** [N, H, W, C] or [H, W, C]. */
  shape: readonly number[];
}

/** Structurally an `ImageDataset` from `@convnets/datasets` (no dependency on it). */
export interface DatasetLike {
  images: Uint8Array;
  imageShape: readonly [number, number, number];
  labels: ArrayLike<number>;
  classes: readonly string[];
  length: number;
}

export type Images = tf.Tensor | PixelArray | DatasetLike;

/** Undo a `normalize(mean, std)` before display (the notebook's `img / 2 + 0.5` is mean 0.5, std 0.5). */
export interface Denormalize {
  mean: number | readonly number[];
  std: number | readonly number[];
}

interface Pixels {
  data: Float32Array;
  n: number;
  h: number;
  w: number;
  c: number;
  labels?: ArrayLike<number>;
  classes?: readonly string[];
}

function isTensor(x: unknown): x is tf.Tensor {
  return typeof x === 'object' && x !== null && 'dataSync' in x && 'shape' in x;
}

/** Reads any accepted input as float pixels [N, H, W, C]; uint8 input is scaled to [0, 1] as `toTensor` does. */
function readPixels(images: Images, chart: string): Pixels {
  let data: ArrayLike<number>;
  let shape: readonly number[];
  let extra: Pick<Pixels, 'labels' | 'classes'> = {};
  if (isTensor(images)) {
    data = images.dataSync();
    shape = images.shape;
  } else if ('imageShape' in images) {
    data = images.images;
    shape = [images.length, ...images.imageShape];
    extra = { labels: images.labels, classes: images.classes };
  } else {
    data = images.data;
    shape = images.shape;
  }
  if (shape.length === 3) shape = [1, ...shape];
  if (shape.length !== 4)
    throw new PlotError(
      `${chart}: images have shape [${shape.join(', ')}]: expected NHWC [N, H, W, C] or one [H, W, C] image`,
    );
  const [n, h, w, c] = shape as [number, number, number, number];
  if (c !== 1 && c !== 3)
    throw new PlotError(
      `${chart}: images have ${c} channels (shape [${shape.join(', ')}]): expected 1 or 3, channels last (NHWC)`,
    );
  if (data.length !== n * h * w * c)
    throw new PlotError(`${chart}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  const scale = data instanceof Uint8Array ? 1 / 255 : 1;
  return { data: Float32Array.from(data, (v) => v * scale), n, h, w, c, ...extra };
}

function perChannel(value: number | readonly number[], c: number, what: string, chart: string): number[] {
  const values = typeof value === 'number' ? Array<number>(c).fill(value) : [...value];
  if (values.length !== c)
    throw new PlotError(`${chart}: denormalize ${what} has ${values.length} values for ${c} channels`);
  return values;
}

function denormalized(p: Pixels, d: Denormalize | undefined, chart: string): Float32Array {
  if (!d) return p.data;
  const mean = perChannel(d.mean, p.c, 'mean', chart);
  const std = perChannel(d.std, p.c, 'std', chart);
  return p.data.map((v, i) => v * std[i % p.c]! + mean[i % p.c]!);
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** One image as a PNG data URL (values in [0, 1], clamped). */
function pngUrl(values: Float32Array, h: number, w: number, c: number): string {
  const bytes = Uint8Array.from(values, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  return `data:image/png;base64,${base64(encodePng({ width: w, height: h, data: bytes, channels: c, depth: 8 }))}`;
}

export interface ImageGridOptions {
  /** Columns of the grid (the notebook: 10). */
  columns?: number;
  /** How many images (the notebook: 60, i.e. 6 x 10). */
  count?: number;
  /** Labels and class names for the titles (taken from a dataset when one is passed). */
  labels?: ArrayLike<number>;
  classes?: readonly string[];
  /** Titles per image instead, e.g. "cat (pred dog)". */
  titles?: readonly string[];
  denormalize?: Denormalize;
  /** Pixel size of each shown image. */
  cellSize?: number;
  title?: string;
}

/** A grid of images, each titled with its class name (the notebook's 6 x 10 figure). */
export function imageGridChart(images: Images, options: ImageGridOptions = {}): TopLevelSpec {
  const chart = 'image grid';
  const p = readPixels(images, chart);
  const { columns = 10, cellSize = 64, denormalize } = options;
  const count = Math.min(options.count ?? 60, p.n);
  if (count === 0) throw new PlotError(`${chart}: no images to show`);
  const labels = options.labels ?? p.labels;
  const classes = options.classes ?? p.classes;
  if (options.titles && options.titles.length < count)
    throw new PlotError(`${chart}: ${options.titles.length} titles for ${count} images`);
  if (labels && labels.length < count) throw new PlotError(`${chart}: ${labels.length} labels for ${count} images`);
  const values = denormalized(p, denormalize, chart);
  const size = p.h * p.w * p.c;
  const rows = Math.ceil(count / columns);
  const cells = Array.from({ length: count }, (_, i) => {
    const label = labels?.[i];
    const title = options.titles?.[i] ?? (label === undefined ? `#${i}` : (classes?.[label] ?? String(label)));
    return {
      index: i,
      col: i % columns,
      row: Math.floor(i / columns),
      title,
      url: pngUrl(values.subarray(i * size, (i + 1) * size), p.h, p.w, p.c),
    };
  });
  const titleBand = 16;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    width: columns * (cellSize + 8),
    height: rows * (cellSize + titleBand + 8),
    data: { values: cells },
    view: { stroke: null },
    encoding: {
      x: { field: 'col', type: 'quantitative', scale: { domain: [0, columns], nice: false }, axis: null },
      y: { field: 'row', type: 'quantitative', scale: { domain: [rows, 0], nice: false }, axis: null },
    },
    layer: [
      {
        mark: {
          type: 'image',
          width: cellSize,
          height: cellSize,
          align: 'left',
          baseline: 'top',
          yOffset: titleBand,
          smooth: false,
        },
        encoding: { url: { field: 'url', type: 'nominal' } },
      },
      {
        mark: { type: 'text', align: 'left', baseline: 'top', fontSize: 10, limit: cellSize + 8 },
        encoding: { text: { field: 'title', type: 'nominal' } },
      },
    ],
  };
}

export interface ChannelHeatmapOptions {
  /** Which image of a batch (the notebook shows image 19). */
  index?: number;
  /** Show the top-left `crop` x `crop` pixels (the notebook: 32). */
  crop?: number;
  denormalize?: Denormalize;
  /** Size of one pixel's cell. */
  cellSize?: number;
}

const CHANNEL_TITLES = ['red channel', 'green channel', 'blue channel'];

/** Each channel of one image as a grey heatmap with every value (2 decimals) written in its cell. */
export function channelHeatmapChart(images: Images, options: ChannelHeatmapOptions = {}): TopLevelSpec {
  const chart = 'channel heatmap';
  const p = readPixels(images, chart);
  const { index = 0, crop = 32, cellSize = 26 } = options;
  if (!Number.isInteger(index) || index < 0 || index >= p.n)
    throw new PlotError(`${chart}: image ${index} does not exist: expected 0..${p.n - 1}`);
  const values = denormalized(p, options.denormalize, chart);
  const h = Math.min(crop, p.h);
  const w = Math.min(crop, p.w);
  const titles = p.c === 1 ? ['grey channel'] : CHANNEL_TITLES;
  const base = index * p.h * p.w * p.c;
  const channels = titles.map((title, ch) => {
    const cells: { x: number; y: number; value: number; dark: boolean }[] = [];
    let max = -Infinity;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) max = Math.max(max, values[base + (y * p.w + x) * p.c + ch]!);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const value = Math.round(values[base + (y * p.w + x) * p.c + ch]! * 100) / 100;
        cells.push({ x, y, value, dark: value < max / 2.5 }); // the notebook's white-on-dark threshold
      }
    }
    return {
      title,
      width: w * cellSize,
      height: h * cellSize,
      data: { values: cells },
      encoding: {
        x: { field: 'x', type: 'ordinal', axis: null },
        y: { field: 'y', type: 'ordinal', axis: null },
      },
      layer: [
        {
          mark: 'rect',
          encoding: {
            color: { field: 'value', type: 'quantitative', scale: { scheme: 'greys', reverse: true }, legend: null },
          },
        },
        {
          mark: { type: 'text', fontSize: Math.max(6, Math.floor(cellSize / 3.2)) },
          encoding: {
            text: { field: 'value', type: 'quantitative', format: '.2~f' },
            color: { condition: { test: 'datum.dark', value: 'white' }, value: 'black' },
          },
        },
      ],
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    hconcat: channels,
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}
