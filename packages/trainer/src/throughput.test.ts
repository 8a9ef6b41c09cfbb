import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { Conv2d, Flatten, Linear, Module, ReLU, Sequential, type Shape } from '@convnets/nn';
import { describe, expect, it } from 'vitest';
import { measureThroughput } from './throughput.js';

/** A net that counts its forward passes (train and eval). */
function countingNet() {
  const counts = { train: 0, eval: 0 };
  const body = new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }),
    new ReLU(),
    new Flatten(),
    new Linear(4 * 8 * 8, 10),
  );
  class Counting extends Module {
    readonly body = body;
    forward(x: tf.Tensor): tf.Tensor {
      counts[this.training ? 'train' : 'eval']++;
      return this.body.forward(x);
    }
    protected override computeShape(input: Shape) {
      return this.body.inferShape(input);
    }
  }
  return { net: new Counting(), counts };
}

describe('measureThroughput', () => {
  it('times warm-up plus at least `steps` steps of each mode, trains the net, keeps its mode and tensors flat', async () => {
    const { net, counts } = countingNet();
    net.eval();
    const before = tf.memory().numTensors;
    const weight = (net.parameters()[0] as tf.Tensor).dataSync().slice();
    const result = await measureThroughput(net, { batchSize: 3, imageShape: [8, 8, 1], steps: 4, warmup: 2 });
    expect(counts).toEqual({ train: 6, eval: 6 });
    expect(result.trainImagesPerSec).toBeGreaterThan(0);
    expect(result.inferImagesPerSec).toBeGreaterThan(0);
    expect(Number.isFinite(result.trainImagesPerSec)).toBe(true);
    expect(net.training).toBe(false);
    expect((net.parameters()[0] as tf.Tensor).dataSync()).not.toEqual(weight);
    expect(tf.memory().numTensors).toBe(before);
    const trainOnly = await measureThroughput(net, { batchSize: 2, imageShape: [8, 8, 1], modes: ['train'] });
    expect(Object.keys(trainOnly)).toEqual(['trainImagesPerSec']);
    expect(counts).toEqual({ train: 6 + 5, eval: 6 });
    expect(tf.memory().numTensors).toBe(before);
    await expect(measureThroughput(net, { batchSize: 0, imageShape: [8, 8, 1] })).rejects.toThrow(
      'measureThroughput: batchSize must be a positive integer, got 0',
    );
    net.dispose();
  });
});
