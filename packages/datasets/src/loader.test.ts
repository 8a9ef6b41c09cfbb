import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ImageDataset } from './dataset.js';
import { DataLoader, sampleAsBatch } from './loader.js';
import {
  compose,
  normalize,
  parseAugmentation,
  randomCrop,
  randomHorizontalFlip,
  randomResizedCrop,
  resize,
  toTensor,
  trainTransform,
} from './transforms.js';

/** 10 images of 2x2x1 whose pixels all equal 10 * index, labelled index % 3. */
const dataset = new ImageDataset(
  Uint8Array.from({ length: 40 }, (_, i) => 10 * Math.floor(i / 4)),
  Uint8Array.from({ length: 10 }, (_, i) => i % 3),
  [2, 2, 1],
  ['a', 'b', 'c'],
  'synthetic',
);

async function collect(loader: DataLoader, epoch: number) {
  const out: Array<{ ids: number[]; labels: number[] }> = [];
  for await (const { x, y } of loader.batches(epoch)) {
    const values = Array.from(x.dataSync());
    out.push({
      ids: values.filter((_, i) => i % 4 === 0).map((v) => Math.round(v * 25.5)),
      labels: Array.from(y.dataSync()),
    });
    tf.dispose([x, y]);
  }
  return out;
}

describe('DataLoader', () => {
  it('batches in order without shuffling, keeping a short last batch unless dropLast', async () => {
    const batches = await collect(new DataLoader(dataset, { batchSize: 4 }), 0);
    expect(batches.map((b) => b.ids)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(batches[1]!.labels).toEqual([1, 2, 0, 1]);
    expect((await collect(new DataLoader(dataset, { batchSize: 4, dropLast: true }), 0)).length).toBe(2);
    expect(new DataLoader(dataset, { batchSize: 4 }).length).toBe(3);
  });

  it('shuffles reproducibly from the seed, differently each epoch, visiting every sample once', async () => {
    const loader = new DataLoader(dataset, { batchSize: 3, shuffle: true, seed: 7 });
    const e0 = (await collect(loader, 0)).flatMap((b) => b.ids);
    const e1 = (await collect(loader, 1)).flatMap((b) => b.ids);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e0).not.toEqual(e1);
    expect(
      (await collect(new DataLoader(dataset, { batchSize: 3, shuffle: true, seed: 7 }), 0)).flatMap((b) => b.ids),
    ).toEqual(e0);
    // labels travel with their images
    for (const b of await collect(loader, 2)) expect(b.labels).toEqual(b.ids.map((i) => i % 3));
  });

  it('advances the epoch on each for-await, and leaves no tensors behind', async () => {
    const loader = new DataLoader(dataset, {
      batchSize: 4,
      shuffle: true,
      transform: compose(toTensor(), resize(8), normalize(0.5, 0.5)),
    });
    const before = tf.memory().numTensors;
    for (let epoch = 0; epoch < 2; epoch++) {
      for await (const { x, y } of loader) {
        expect(x.shape.slice(1)).toEqual([8, 8, 1]);
        tf.dispose([x, y]);
      }
    }
    expect(loader.epoch).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("sampleAsBatch: one sample as the loader's batch of one, the same each call, no tensors left behind", async () => {
    const transform = compose(toTensor(), resize(4), normalize(0.5, 0.5), randomHorizontalFlip(0));
    const loader = new DataLoader(dataset, { batchSize: 1, transform });
    let k = 0;
    const before = tf.memory().numTensors;
    for await (const { x, y } of loader) {
      const one = sampleAsBatch(dataset, k++, transform);
      expect(one.shape).toEqual([1, 4, 4, 1]);
      expect(Array.from(one.dataSync())).toEqual(Array.from(x.dataSync()));
      tf.dispose([x, y, one]);
    }
    expect(k).toBe(10);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => sampleAsBatch(dataset, 10)).toThrow('synthetic: index 10 is out of range 0..9');
  });

  it('rejects a bad batch size', () => {
    expect(() => new DataLoader(dataset, { batchSize: 0 })).toThrow(
      'DataLoader: batchSize must be a positive integer, got 0',
    );
  });
});

describe('transforms', () => {
  const context = { random: () => 0.3 };
  it('toTensor scales to [0, 1] and normalize(0.5, 0.5) maps that to [-1, 1], as the notebook', () => {
    const x = tf.tensor4d([0, 255, 51, 204], [1, 2, 2, 1]);
    const y = compose(toTensor(), normalize(0.5, 0.5))(x, context);
    expect(Array.from(y.dataSync()).map((v) => +v.toFixed(5))).toEqual([-1, 1, -0.6, 0.6]);
  });

  it('resize(224) takes 28x28 to 224x224 bilinearly (a constant stays constant; a ramp stays monotonic)', () => {
    const ramp = tf.tensor4d(
      Array.from({ length: 28 * 28 }, (_, i) => i % 28),
      [1, 28, 28, 1],
    );
    const y = resize(224)(ramp, context);
    expect(y.shape).toEqual([1, 224, 224, 1]);
    const row = Array.from(y.dataSync().slice(0, 224));
    expect(row.every((v, i) => i === 0 || v >= row[i - 1]!)).toBe(true);
    expect(
      Array.from(resize(224)(tf.fill([1, 28, 28, 1], 3) as tf.Tensor4D, context).dataSync()).every(
        (v) => Math.abs(v - 3) < 1e-5,
      ),
    ).toBe(true);
    expect(resize(10)(tf.zeros([1, 20, 40, 3]) as tf.Tensor4D, context).shape).toEqual([1, 10, 20, 3]);
  });

  it('normalize names a channel-count mismatch', () => {
    expect(() => normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])(tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, context)).toThrow(
      'normalize: mean has 3 values for 1 channels',
    );
    expect(() => normalize(0, 0)).toThrow('std non-zero');
  });

  it('randomHorizontalFlip flips the images its random draws select; randomCrop pads and crops', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 4, 1]);
    const draws = [0.1, 0.9];
    const flipped = randomHorizontalFlip(0.5)(x, { random: () => draws.shift()! });
    expect(Array.from(flipped.dataSync())).toEqual([4, 3, 2, 1, 5, 6, 7, 8]);
    const cropped = randomCrop(3, 1)(x, { random: () => 0 });
    expect(cropped.shape).toEqual([2, 3, 3, 1]);
    // the top-left window of the padded 3x6 image: a padding row, then 0 (padding), 1, 2
    expect(Array.from(cropped.dataSync().slice(0, 6))).toEqual([0, 0, 0, 0, 1, 2]);
    expect(() => randomCrop(9)(x, context)).toThrow('randomCrop: 9x9 does not fit a padded 1x4 image');
  });

  it("randomResizedCrop cuts torchvision's windows (area share in scale, aspect in ratio) and resizes them", () => {
    // 1 image of 20x30 whose pixel is its column index: a crop's columns show where it was cut.
    const x = tf.tidy(() => tf.tile(tf.reshape(tf.range(0, 30), [1, 1, 30, 1]), [1, 20, 1, 1])) as tf.Tensor4D;
    // The first try's draws: area share 0.08 + 0.92 u, log-aspect, then top and left.
    const draws = [0.5, 0.5, 0, 1 - 1e-9];
    const out = randomResizedCrop(8)(x, { random: () => draws.shift()! });
    expect(out.shape).toEqual([1, 8, 8, 1]);
    // area 600 * 0.54 = 324, aspect 1: an 18x18 window, at row 0 and the last column it fits (12): columns 12..29.
    const row = Array.from(out.dataSync().slice(0, 8));
    expect(row[0]).toBeGreaterThan(12);
    expect(row[7]).toBeLessThan(29);
    expect(row.every((v, i) => i === 0 || v > row[i - 1]!)).toBe(true);
    // No try fits (every draw asks for the whole area at the widest aspect): the central fallback, all 30 columns.
    const whole = randomResizedCrop(30, { scale: [1, 1], ratio: [2, 2] })(x, { random: () => 0.5 });
    expect(Array.from(whole.dataSync().slice(0, 3))).toEqual([0, 1, 2]);
    tf.dispose([x, out, whole]);
  });

  it('parses --augment lists and builds the seeded training transform', () => {
    expect(parseAugmentation('flip,crop')).toEqual({ resizedCrop: false, flip: true, cropPadding: 4 });
    expect(parseAugmentation('resized-crop, crop:0')).toEqual({ resizedCrop: true, flip: false, cropPadding: 0 });
    expect(() => parseAugmentation('rotate')).toThrow("augment: unknown 'rotate' in 'rotate'");
    expect(() => parseAugmentation('')).toThrow("augment: '' names no augmentation");
    const before = tf.memory().numTensors;
    const x = tf.fill([2, 6, 6, 1], 255) as tf.Tensor4D; // raw pixels: white
    const y = tf.tidy(() => trainTransform(4, parseAugmentation('flip,crop:1'), 0.5, 0.5)(x, { random: () => 0 }));
    // resize 6 -> 4, pad 1 and crop the top-left 4x4 (a zero row and column), flip (draw 0 < 0.5: the zero column
    // goes right), normalise: zeros -> -1, white -> (1 - 0.5) / 0.5 = 1.
    expect(y.shape).toEqual([2, 4, 4, 1]);
    expect(Array.from(y.dataSync().slice(0, 8))).toEqual([-1, -1, -1, -1, 1, 1, 1, -1]);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
