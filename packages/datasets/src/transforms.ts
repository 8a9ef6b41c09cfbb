/**
 * Batch transforms, torchvision's in spirit: each maps an NHWC float batch to another. The loader hands
 * them raw pixel values 0..255, so `toTensor()` (scale to [0, 1]) comes first, as in the notebook's
 * Compose([ToTensor(), Resize(224), Normalize(0.5, 0.5)]).
 */
import * as tf from '@tensorflow/tfjs-core';
import { antialiasWeights } from './resample.js';

export interface TransformContext {
  /** Uniform [0, 1) numbers from the loader's seeded generator (for random augmentations). */
  random: () => number;
}

export type Transform = (x: tf.Tensor4D, context: TransformContext) => tf.Tensor4D;

/** Applies transforms left to right. */
export function compose(...transforms: Transform[]): Transform {
  return (x, context) => transforms.reduce((h, t) => t(h, context), x);
}

/** Pixel values 0..255 -> [0, 1]. */
export function toTensor(): Transform {
  return (x) => tf.div(x, 255);
}

export interface ResizeOptions {
  /**
   * Low-pass filter the image as it shrinks (torchvision's `antialias=True`; PIL images always are): the triangle
   * filter widened by the scale factor, so each output pixel averages every input pixel under it. Without it, plain
   * bilinear interpolation reads only the 2x2 nearest pixels however far the image shrinks.
   */
  antialias?: boolean;
}

/**
 * Bilinear resize (half-pixel centres, as torchvision on tensors). A number resizes the shorter side to it
 * keeping the aspect ratio (torchvision's Resize(int)); a pair sets height and width.
 */
export function resize(size: number | readonly [number, number], { antialias = false }: ResizeOptions = {}): Transform {
  return (x) => {
    const [, h, w] = x.shape;
    let target: [number, number];
    if (typeof size === 'number') {
      target = h <= w ? [size, Math.floor((size * w) / h)] : [Math.floor((size * h) / w), size];
    } else {
      target = [size[0], size[1]];
    }
    if (target[0] === h && target[1] === w) return x;
    return antialias ? resizeAntialiased(x, target) : tf.image.resizeBilinear(x, target, false, true);
  };
}

/** Separable antialiased resize: rows, then columns, each a matrix product with its axis's weights. */
function resizeAntialiased(x: tf.Tensor4D, [oh, ow]: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    // [h, n*w*c] -> [oh, n*w*c]: every column of pixels at once.
    const weights = (from: number, to: number) => tf.tensor2d(antialiasWeights(from, to), [to, from]);
    const rows = tf.matMul(weights(h, oh), tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]));
    const byColumn = tf.reshape(tf.transpose(tf.reshape(rows, [oh, n, w, c]), [2, 1, 0, 3]), [w, n * oh * c]);
    const columns = tf.matMul(weights(w, ow), byColumn);
    return tf.transpose(tf.reshape(columns, [ow, n, oh, c]), [1, 2, 0, 3]);
  });
}

/** Python's round(): halves to the even neighbour (torchvision's center_crop offsets use it). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The central size x size window (torchvision's CenterCrop): offsets round((h - size) / 2) as Python rounds them;
 * an image smaller than the window is first padded with zeros around it, as torchvision does.
 */
export function centerCrop(size: number | readonly [number, number]): Transform {
  const [ch, cw] = typeof size === 'number' ? [size, size] : size;
  return (x) =>
    tf.tidy(() => {
      let [, h, w] = x.shape;
      let image: tf.Tensor4D = x;
      if (ch > h || cw > w) {
        const [top, left] = [Math.max(0, Math.floor((ch - h) / 2)), Math.max(0, Math.floor((cw - w) / 2))];
        const [bottom, right] = [Math.max(0, Math.floor((ch - h + 1) / 2)), Math.max(0, Math.floor((cw - w + 1) / 2))];
        image = tf.pad(x, [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ]);
        [, h, w] = image.shape;
        if (h === ch && w === cw) return image;
      }
      const [top, left] = [roundHalfEven((h - ch) / 2), roundHalfEven((w - cw) / 2)];
      return tf.slice(image, [0, top, left, 0], [-1, ch, cw, -1]);
    });
}

/** (x - mean) / std per channel; a single number applies to every channel. */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): Transform {
  const all = [mean, std].flat();
  if (all.some((v) => !Number.isFinite(v)) || [std].flat().some((s) => s === 0)) {
    throw new RangeError(
      `normalize: mean and std must be finite and std non-zero, got mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)}`,
    );
  }
  return (x) => {
    const c = x.shape[3];
    const vector = (v: number | readonly number[], what: string) => {
      const values = typeof v === 'number' ? Array(c).fill(v) : [...v];
      if (values.length !== c) throw new RangeError(`normalize: ${what} has ${values.length} values for ${c} channels`);
      return tf.tensor1d(values);
    };
    return tf.div(tf.sub(x, vector(mean, 'mean')), vector(std, 'std'));
  };
}

/** Flips each image left-right with probability p. */
export function randomHorizontalFlip(p = 0.5): Transform {
  return (x, { random }) => {
    const flip = Array.from({ length: x.shape[0] }, () => (random() < p ? 1 : 0));
    if (!flip.some(Boolean)) return x;
    const mask = tf.reshape(tf.tensor1d(flip, 'bool'), [-1, 1, 1, 1]);
    return tf.where(tf.broadcastTo(mask, x.shape), tf.reverse(x, 2), x);
  };
}

/** Pads each image with `padding` zeros, then crops a random size x size window from it. */
export function randomCrop(size: number, padding = 0): Transform {
  return (x, { random }) => {
    const [n, h, w, c] = x.shape;
    const padded =
      padding > 0
        ? tf.pad(x, [
            [0, 0],
            [padding, padding],
            [padding, padding],
            [0, 0],
          ])
        : x;
    const ph = h + 2 * padding;
    const pw = w + 2 * padding;
    if (size > ph || size > pw)
      throw new RangeError(`randomCrop: ${size}x${size} does not fit a padded ${ph}x${pw} image`);
    const crops = Array.from({ length: n }, (_, i) => {
      const top = Math.floor(random() * (ph - size + 1));
      const left = Math.floor(random() * (pw - size + 1));
      return tf.slice(padded, [i, top, left, 0], [1, size, size, c]);
    });
    return tf.concat(crops, 0);
  };
}

/** Where RandomResizedCrop cuts one h x w image: torchvision's `get_params`, ten tries then a central fallback. */
function resizedCropWindow(
  h: number,
  w: number,
  [minScale, maxScale]: readonly [number, number],
  [minRatio, maxRatio]: readonly [number, number],
  random: () => number,
): [number, number, number, number] {
  const uniform = (a: number, b: number) => a + (b - a) * random();
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = h * w * uniform(minScale, maxScale);
    const aspect = Math.exp(uniform(Math.log(minRatio), Math.log(maxRatio)));
    const cw = roundHalfEven(Math.sqrt(area * aspect));
    const ch = roundHalfEven(Math.sqrt(area / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h)
      return [Math.floor(random() * (h - ch + 1)), Math.floor(random() * (w - cw + 1)), ch, cw];
  }
  const ratio = w / h;
  const [ch, cw] =
    ratio < minRatio ? [roundHalfEven(w / minRatio), w] : ratio > maxRatio ? [h, roundHalfEven(h * maxRatio)] : [h, w];
  return [Math.floor((h - ch) / 2), Math.floor((w - cw) / 2), ch, cw];
}

export interface RandomResizedCropOptions {
  /** The crop's share of the image's area (default [0.08, 1], torchvision's). */
  scale?: readonly [number, number];
  /** The crop's width / height (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
}

/**
 * torchvision's RandomResizedCrop: for each image a random window of `scale` of its area and `ratio` aspect, resized
 * (antialiased, as on PIL images) to size x size. ImageNet's training crop.
 */
export function randomResizedCrop(
  size: number,
  { scale = [0.08, 1], ratio = [3 / 4, 4 / 3] }: RandomResizedCropOptions = {},
): Transform {
  return (x, { random }) =>
    tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const crops = Array.from({ length: n }, (_, i) => {
        const [top, left, ch, cw] = resizedCropWindow(h, w, scale, ratio, random);
        const crop = tf.slice(x, [i, top, left, 0], [1, ch, cw, c]);
        return ch === size && cw === size ? crop : resizeAntialiased(crop, [size, size]);
      });
      return tf.concat(crops, 0);
    });
}

/** What an `--augment` list asks for: `flip`, `crop[:PAD]` (default pad 4: CIFAR-10's), `resized-crop`. */
export interface Augmentation {
  resizedCrop: boolean;
  /** Zero padding before the random crop, where there is one. */
  cropPadding?: number;
  flip: boolean;
}

/** Parses `flip,crop:4,resized-crop` (any order, each once); an unknown or malformed item is named. */
export function parseAugmentation(list: string): Augmentation {
  const items = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const spec: Augmentation = { resizedCrop: false, flip: false };
  for (const item of items) {
    const [name, arg] = item.split(':');
    const repeated = () => new RangeError(`augment: '${name}' is given twice in '${list}'`);
    if (name === 'flip' && arg === undefined) {
      if (spec.flip) throw repeated();
      spec.flip = true;
    } else if (name === 'resized-crop' && arg === undefined) {
      if (spec.resizedCrop) throw repeated();
      spec.resizedCrop = true;
    } else if (name === 'crop' && (arg === undefined || /^\d+$/.test(arg))) {
      if (spec.cropPadding !== undefined) throw repeated();
      spec.cropPadding = arg === undefined ? 4 : Number(arg);
    } else {
      throw new RangeError(
        `augment: unknown '${item}' in '${list}'; expected a comma-separated list of flip, crop[:PAD], resized-crop`,
      );
    }
  }
  if (items.length === 0) throw new RangeError(`augment: '${list}' names no augmentation`);
  return spec;
}

/**
 * The training transform of raw pixels for a net of input `size`: the augmentations (seeded by the loader's
 * generator), then `normalize`. Without a resized crop the image is first resized to `size`.
 */
export function trainTransform(
  size: number,
  augmentation: Augmentation | undefined,
  mean: number | readonly number[],
  std: number | readonly number[],
): Transform {
  const { resizedCrop = false, cropPadding, flip = false } = augmentation ?? {};
  return compose(
    toTensor(),
    resizedCrop ? randomResizedCrop(size) : resize(size),
    ...(cropPadding !== undefined ? [randomCrop(size, cropPadding)] : []),
    ...(flip ? [randomHorizontalFlip()] : []),
    normalize(mean, std),
  );
}
