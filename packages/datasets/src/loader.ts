/**
 * Batches of an ImageDataset as tensors, PyTorch's DataLoader in spirit: seeded shuffling with a new
 * order every epoch, optional drop-last, transforms on the whole batch, and the next batch's pixels
 * gathered while the current batch is in use.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageDataset } from './dataset.js';
import { generator, permutation } from './random.js';
import { toTensor, type Transform } from './transforms.js';

export interface DataLoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  /** Seed of the shuffles and augmentations; epoch e uses a stream derived from (seed, e). */
  seed?: number;
  dropLast?: boolean;
  /** Applied to each batch of raw pixel values 0..255. Default: `toTensor()`. */
  transform?: Transform;
}

export interface Batch {
  /** [N, H, W, C] float32. Dispose it (and y) when done. */
  x: tf.Tensor4D;
  /** [N] int32 labels. */
  y: tf.Tensor1D;
}

interface HostBatch {
  pixels: Float32Array;
  labels: Int32Array;
  size: number;
}

export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly transform: Transform;
  /** The epoch the next `for await` over the loader will run. */
  epoch = 0;

  constructor(
    readonly dataset: ImageDataset,
    { batchSize, shuffle = false, seed = 0, dropLast = false, transform = toTensor() }: DataLoaderOptions,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
    this.dropLast = dropLast;
    this.transform = transform;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The sample order of an epoch: reproducible from (seed, epoch). */
  order(epoch: number): Uint32Array {
    const n = this.dataset.length;
    return this.shuffle
      ? permutation(n, generator(this.seed * 1000003 + epoch))
      : Uint32Array.from({ length: n }, (_, i) => i);
  }

  /** One epoch's batches. Each batch's tensors belong to the caller. */
  async *batches(epoch: number): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const augment = { random: generator(this.seed * 7919 + epoch + 1) };
    const count = this.length;
    const gather = (b: number): HostBatch =>
      this.gather(order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)));
    let next: Promise<HostBatch> | null = count > 0 ? Promise.resolve(gather(0)) : null;
    for (let b = 0; b < count; b++) {
      const host = await next!;
      // Gather the following batch on the next turn of the event loop, while this one is trained on.
      next = b + 1 < count ? new Promise((resolve) => setTimeout(() => resolve(gather(b + 1)), 0)) : null;
      const [h, w, c] = this.dataset.imageShape;
      const x = tf.tidy(() => this.transform(tf.tensor4d(host.pixels, [host.size, h, w, c]), augment));
      yield { x, y: tf.tensor1d(host.labels, 'int32') };
    }
  }

  /** Iterating the loader runs the next epoch (a new order each time when shuffling). */
  [Symbol.asyncIterator](): AsyncGenerator<Batch> {
    return this.batches(this.epoch++);
  }

  private gather(indices: Uint32Array): HostBatch {
    const n = this.dataset.pixelsPerImage;
    const pixels = new Float32Array(indices.length * n);
    const labels = new Int32Array(indices.length);
    const { images } = this.dataset;
    indices.forEach((index, i) => {
      const src = index * n;
      for (let k = 0; k < n; k++) pixels[i * n + k] = images[src + k]!;
      labels[i] = this.dataset.labels[index]!;
    });
    return { pixels, labels, size: indices.length };
  }
}

/**
 * Sample `index` of `dataset` as a batch of one through `transform`: what a net is fed for that one image (to look
 * inside it, or to predict it). Random augmentations, if the transform has any, draw from a fixed stream.
 */
export function sampleAsBatch(dataset: ImageDataset, index: number, transform: Transform = toTensor()): tf.Tensor4D {
  const { image } = dataset.get(index);
  const [h, w, c] = dataset.imageShape;
  return tf.tidy(() => transform(tf.tensor4d(Float32Array.from(image), [1, h, w, c]), { random: generator(0) }));
}
