import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { Linear, Sequential } from '@convnets/nn';
import { describe, expect, it } from 'vitest';
import { Sgd } from './optimizers.js';
import { TrainingDivergedError, trainStep } from './step.js';

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
