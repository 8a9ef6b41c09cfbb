import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { BatchNorm2d, Conv2d, Dropout, Flatten, Linear, type Module, ReLU, Sequential, withSeed } from '@convnets/nn';
import { describe, expect, it } from 'vitest';
import { Sgd } from './optimizers.js';
import { TrainingDivergedError, type TrainStepOptions, trainStep } from './step.js';

/** A 2 -> 2 linear layer with known weights: W = [[1, 0], [0, -1]] ([in, out]), b = [0.5, 0]. */
function tinyNet() {
  const fc = new Linear(2, 2);
  fc.weight.assign(tf.tensor2d([1, 0, 0, -1], [2, 2]));
  fc.bias!.assign(tf.tensor1d([0.5, 0]));
  return { net: new Sequential(fc), fc };
}

describe('trainStep', () => {
  it('is one SGD step of cross-entropy, by hand: dL/dlogits = (softmax - onehot) / N', async () => {
    const { net, fc } = tinyNet();
    const x = tf.tensor2d([1, 2, -1, 0], [2, 2]);
    const y = tf.tensor1d([1, 0], 'int32');
    const before = tf.memory().numTensors;
    const { loss, correct } = await trainStep(net, { x, y }, new Sgd(), { lr: 0.5 });
    expect(tf.memory().numTensors).toBe(before);
    // logits: [1.5, -2] and [-0.5, 0]; labels 1 and 0.
    const softmax = (a: number, b: number) => [Math.exp(a) / (Math.exp(a) + Math.exp(b)), 0];
    const p1 = softmax(1.5, -2)[0]!; // P(class 0) of sample 1
    const p2 = softmax(-0.5, 0)[0]!; // P(class 0) of sample 2
    expect(loss).toBeCloseTo((-Math.log(1 - p1) - Math.log(p2)) / 2, 6);
    expect(correct).toBe(0); // sample 1 predicts 0 (label 1), sample 2 predicts 1 (label 0)
    const d = [
      [p1 / 2, -p1 / 2], // (softmax - onehot) / N, sample 1: label 1
      [(p2 - 1) / 2, (1 - p2) / 2], // sample 2: label 0
    ];
    const gradW = [
      [1 * d[0]![0]! - 1 * d[1]![0]!, 1 * d[0]![1]! - 1 * d[1]![1]!],
      [2 * d[0]![0]!, 2 * d[0]![1]!],
    ];
    const w = fc.weight.arraySync() as number[][];
    expect(w[0]![0]).toBeCloseTo(1 - 0.5 * gradW[0]![0]!, 6);
    expect(w[1]![1]).toBeCloseTo(-1 - 0.5 * gradW[1]![1]!, 6);
    expect(fc.bias!.arraySync()).toEqual([
      expect.closeTo(0.5 - 0.5 * (d[0]![0]! + d[1]![0]!), 6),
      expect.closeTo(-0.5 * (d[0]![1]! + d[1]![1]!), 6),
    ]);
    tf.dispose([x, y]);
    net.dispose();
  });

  it('a non-finite loss throws before anything is updated', async () => {
    const { net, fc } = tinyNet();
    const x = tf.tensor2d([Number.NaN, 0, 0, 0], [2, 2]);
    const y = tf.tensor1d([1, 0], 'int32');
    const before = tf.memory().numTensors;
    await expect(trainStep(net, { x, y }, new Sgd({ momentum: 0.9 }), { lr: 0.1 })).rejects.toThrow(
      new TrainingDivergedError('loss became NaN'),
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(fc.weight.arraySync()).toEqual([
      [1, 0],
      [0, -1],
    ]);
    tf.dispose([x, y]);
    net.dispose();
  });
});

describe('trainStep with microBatch', () => {
  /** A conv net without BatchNorm (the kind micro-batches are for), seeded. */
  const convNet = (seed: number) =>
    withSeed(
      seed,
      () => new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new ReLU(), new Flatten(), new Linear(4 * 6 * 6, 5)),
    );

  it("takes the batch's step: loss, correct count and weights equal one pass over the batch (1e-6); tensors flat", async () => {
    // Chunks of 4, 4 and 2: the last one smaller, weighted by its share.
    await expectTheSameStep(convNet, { microBatch: 4 });
  });

  it("with classifierStart: the features in chunks, the classifier's Dropout the batch's masks: the batch's step", async () => {
    // VGG's shape: conv features, then Dropout and linear layers. Chunked whole, the Dropout would draw a mask per
    // chunk; split at the classifier, it draws the one-pass mask, so every weight equals one pass's.
    const vggLike = (seed: number) =>
      withSeed(
        seed,
        () =>
          new Sequential(
            new Conv2d(3, 4, 3, { padding: 1 }),
            new ReLU(),
            new Conv2d(4, 4, 3, { padding: 1 }),
            new ReLU(),
            new Flatten(),
            new Linear(4 * 6 * 6, 8),
            new ReLU(),
            new Dropout(0.5),
            new Linear(8, 5),
          ),
      );
    await expectTheSameStep(vggLike, { microBatch: 4, classifierStart: 4 });
    // BatchNorm after the split is no matter: it sees the whole batch (its running statistics compared too).
    const bnAfter = (seed: number) =>
      withSeed(
        seed,
        () =>
          new Sequential(
            new Conv2d(3, 4, 3, { padding: 1 }),
            new ReLU(),
            new Conv2d(4, 4, 3),
            new BatchNorm2d(4),
            new Flatten(),
            new Linear(64, 5),
          ),
      );
    await expectTheSameStep(bnAfter, { microBatch: 3, classifierStart: 2 });
  });

  it('is refused where BatchNorm trains (its statistics would be per chunk), and for a size that is not a count', async () => {
    const net = new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new Flatten(), new Linear(16, 2));
    const x = tf.zeros([4, 4, 4, 3]);
    const y = tf.tensor1d([0, 1, 0, 1], 'int32');
    await expect(trainStep(net, { x, y }, new Sgd(), { lr: 0.1, microBatch: 2 })).rejects.toThrow(
      "trainStep: microBatch 2 of a batch of 4: 1 is a BatchNorm layer in training mode, whose statistics would be each chunk's",
    );
    await expect(trainStep(net, { x, y }, new Sgd(), { lr: 0.1, microBatch: 0.5 })).rejects.toThrow(
      'trainStep: microBatch must be a positive integer, got 0.5',
    );
    await expect(trainStep(net, { x, y }, new Sgd(), { lr: 0.1, microBatch: 2, classifierStart: 2 })).rejects.toThrow(
      "trainStep: microBatch 2 of a batch of 4: 1 is a BatchNorm layer in training mode, whose statistics would be each chunk's",
    );
    await expect(trainStep(net, { x, y }, new Sgd(), { lr: 0.1, microBatch: 2, classifierStart: 4 })).rejects.toThrow(
      "trainStep: classifierStart must be the index of one of the net's 4 top-level modules after the first, got 4",
    );
    // A chunk as big as the batch is the batch: BatchNorm is no matter then.
    await expect(trainStep(net, { x, y }, new Sgd(), { lr: 0.1, microBatch: 4 })).resolves.toMatchObject({});
    tf.dispose([x, y]);
    net.dispose();
  });
});

describe('trainStep with recompute', () => {
  /** Blocks with BatchNorm (what recompute is for), seeded. */
  const bnNet = (seed: number) =>
    withSeed(
      seed,
      () =>
        new Sequential(
          new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU()),
          new Sequential(new Conv2d(4, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU()),
          new Flatten(),
          new Linear(4 * 6 * 6, 5),
        ),
    );

  it("takes the plain step: loss, weights and BatchNorm's running statistics equal (1e-6); tensors flat", async () => {
    await expectTheSameStep(bnNet, { recompute: true });
  });
});

/**
 * One SGD step (momentum 0.9) of two nets built alike, plainly and with `options`: the same loss and correct count,
 * every parameter and buffer within 1e-6, and no tensor left but the second optimizer's momentum buffers.
 */
async function expectTheSameStep(build: (seed: number) => Module, options: Partial<TrainStepOptions>) {
  const [plain, other] = [build(1), build(1)];
  const x = tf.randomNormal([10, 6, 6, 3], 0, 1, 'float32', 2);
  const y = tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], 'int32');
  const a = await trainStep(plain, { x, y }, new Sgd({ momentum: 0.9 }), { lr: 0.1 });
  const before = tf.memory().numTensors;
  const b = await trainStep(other, { x, y }, new Sgd({ momentum: 0.9 }), { lr: 0.1, ...options });
  expect(tf.memory().numTensors).toBe(before + other.parameters().length);
  expect(b.loss).toBeCloseTo(a.loss, 6);
  expect(b.correct).toBe(a.correct);
  const state = (m: Module) => [...m.namedState()].map(([, v]) => v.dataSync() as Float32Array);
  const [sa, sb] = [state(plain), state(other)];
  for (let i = 0; i < sa.length; i++)
    expect(Math.max(...sa[i]!.map((v, k) => Math.abs(v - sb[i]![k]!)))).toBeLessThan(1e-6);
  tf.dispose([x, y]);
  plain.dispose();
  other.dispose();
}
