/**
 * An in-memory image classification set: uint8 pixels in NHWC order and one label per image. Small
 * enough for MNIST and CIFAR-10 (47 MB and 150 MB), and what the DataLoader batches from.
 */
import { DatasetError } from './errors.js';
import { generator, permutation } from './random.js';

export interface Sample {
  /** [H, W, C] uint8 pixels. */
  image: Uint8Array;
  label: number;
}

export class ImageDataset {
  readonly length: number;

  constructor(
    /** N * H * W * C bytes, NHWC. */
    readonly images: Uint8Array,
    readonly labels: Uint8Array,
    /** [H, W, C]. */
    readonly imageShape: readonly [number, number, number],
    readonly classes: readonly string[],
    /** Where the data came from, for error messages. */
    readonly source: string,
  ) {
    const pixels = imageShape[0] * imageShape[1] * imageShape[2];
    if (images.length % pixels !== 0) {
      throw new DatasetError(
        source,
        `${images.length} image bytes are not a whole number of ${imageShape.join('x')} images`,
      );
    }
    this.length = images.length / pixels;
    if (labels.length !== this.length) {
      throw new DatasetError(source, `${this.length} images but ${labels.length} labels`);
    }
    const bad = labels.findIndex((l) => l >= classes.length);
    if (bad >= 0)
      throw new DatasetError(
        source,
        `label ${labels[bad]} of image ${bad} is out of range: expected 0..${classes.length - 1}`,
      );
  }

  get pixelsPerImage(): number {
    return this.imageShape[0] * this.imageShape[1] * this.imageShape[2];
  }

  get(index: number): Sample {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`${this.source}: index ${index} is out of range 0..${this.length - 1}`);
    }
    const n = this.pixelsPerImage;
    return { image: this.images.subarray(index * n, (index + 1) * n), label: this.labels[index]! };
  }

  /** The first `count` images (a view, no copy), e.g. for a sample grid. */
  head(count: number): ImageDataset {
    const k = Math.min(count, this.length);
    return new ImageDataset(
      this.images.subarray(0, k * this.pixelsPerImage),
      this.labels.subarray(0, k),
      this.imageShape,
      this.classes,
      this.source,
    );
  }

  /**
   * `count` images chosen by `seed`, as evenly over the classes as they allow: the classes take turns, each
   * giving its next image in a seeded shuffle. Unlike `head`, representative of a class-sorted source (an
   * image folder); the same seed gives the same subset, in the source's order. A copy.
   */
  sample(count: number, seed: number): ImageDataset {
    const k = Math.min(count, this.length);
    const byClass = this.classes.map((): number[] => []);
    for (const i of permutation(this.length, generator(seed))) byClass[this.labels[i]!]!.push(i);
    const chosen: number[] = [];
    for (let turn = 0; chosen.length < k; turn++) {
      for (const members of byClass) if (turn < members.length && chosen.length < k) chosen.push(members[turn]!);
    }
    chosen.sort((a, b) => a - b);
    const n = this.pixelsPerImage;
    const images = new Uint8Array(k * n);
    chosen.forEach((from, to) => {
      images.set(this.images.subarray(from * n, (from + 1) * n), to * n);
    });
    const labels = Uint8Array.from(chosen, (i) => this.labels[i]!);
    return new ImageDataset(images, labels, this.imageShape, this.classes, this.source);
  }

  /** Per-channel mean and standard deviation of the pixels scaled to [0, 1] (what Normalize wants). */
  channelStats(): { mean: number[]; std: number[] } {
    const c = this.imageShape[2];
    const sum = new Float64Array(c);
    const sq = new Float64Array(c);
    for (let i = 0; i < this.images.length; i++) {
      const v = this.images[i]! / 255;
      sum[i % c] += v;
      sq[i % c] += v * v;
    }
    const n = this.images.length / c;
    const mean = Array.from(sum, (s) => s / n);
    return { mean, std: Array.from(sq, (s, i) => Math.sqrt(Math.max(0, s / n - mean[i]! ** 2))) };
  }
}

export const SPLITS = ['train', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** A dataset's training and test splits (every loader returns one, or the part of it that was asked for). */
export interface DatasetSplits {
  train: ImageDataset;
  test: ImageDataset;
}

/** `splits`, or both when not given: every loader's default. */
export function splitsOrBoth<S extends Split>(splits?: readonly S[]): readonly S[] {
  return splits ?? (SPLITS as readonly Split[] as readonly S[]);
}

/** Loads each of `splits` (default: both) with `load`, in order: what every loader's `splits` option does. */
export async function loadSplits<S extends Split>(
  only: readonly S[] | undefined,
  load: (split: S) => Promise<ImageDataset>,
): Promise<Pick<DatasetSplits, S>> {
  const splits = splitsOrBoth(only);
  if (!splits.length) throw new RangeError('splits: expected at least one of train, test');
  const sets: Partial<DatasetSplits> = {};
  for (const split of splits) sets[split] = await load(split);
  return sets as Pick<DatasetSplits, S>;
}
