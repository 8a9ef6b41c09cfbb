/**
 * Batch transforms, torchvision's in spirit: each maps an NHWC float batch to another. The loader hands
 * them raw pixel values 0..255, so `toTensor()` (scale to [0, 1]) comes first, as in the notebook's
 * Compose([ToTensor(), Resize(224), Normalize(0.5, 0.5)]).
 */
import * as tf from '@tensorflow/tfjs-core';

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

/**
 * Bilinear resize (half-pixel centres, as torchvision on tensors). A number resizes the shorter side to it
 * keeping the aspect ratio (torchvision's Resize(int)); a pair sets height and width.
 */
export function resize(size: number | readonly [number, number]): Transform {
  return (x) => {
    const [, h, w] = x.shape;
    let target: [number, number];
    if (typeof size === 'number') {
      target = h <= w ? [size, Math.floor((size * w) / h)] : [Math.floor((size * h) / w), size];
    } else {
      target = [size[0], size[1]];
    }
    return target[0] === h && target[1] === w ? x : tf.image.resizeBilinear(x, target, false, true);
  };
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
