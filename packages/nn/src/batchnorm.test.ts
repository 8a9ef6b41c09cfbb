import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { activation, maxAbsDiff, readJson, type TorchTensor } from '@convnets/tooling/fixtures';
import { BatchNorm2d } from './layers/batchnorm.js';

describe('BatchNorm2d', () => {
  it('train mode normalises with batch statistics and updates running stats; eval uses them (by hand)', () => {
    // One channel, N=1, 2x2: values 1, 2, 3, 6. Batch mean 3, biased variance 3.5, unbiased 14/3.
    const bn = new BatchNorm2d(1);
    const x = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
    const y = tf.tidy(() => bn.forward(x));
    const expected = [1, 2, 3, 6].map((v) => (v - 3) / Math.sqrt(3.5 + 1e-5));
    y.dataSync().forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i]!, 6);
    });
    expect(bn.running_mean.dataSync()[0]).toBeCloseTo(0.9 * 0 + 0.1 * 3, 6);
    expect(bn.running_var.dataSync()[0]).toBeCloseTo(0.9 * 1 + 0.1 * (14 / 3), 6);
    expect(bn.num_batches_tracked.dataSync()[0]).toBe(1);

    bn.eval();
    const z = tf.tidy(() => bn.forward(x));
    const rm = 0.3;
    const rv = 0.9 + 1.4 / 3;
    const expectedEval = [1, 2, 3, 6].map((v) => (v - rm) / Math.sqrt(rv + 1e-5));
    z.dataSync().forEach((v, i) => {
      expect(v).toBeCloseTo(expectedEval[i]!, 5);
    });
    expect(bn.num_batches_tracked.dataSync()[0]).toBe(1);
    tf.dispose([x, y, z]);
    bn.dispose();
  });

  it('matches PyTorch over two training steps and one eval step', () => {
    const c = readJson<{ cases: Array<Record<string, unknown>> }>(
      new URL('./__fixtures__/layers.json', import.meta.url),
    ).cases.find((k) => k.name === 'batchnorm2d') as unknown as {
      weight: TorchTensor;
      bias: TorchTensor;
      batches: TorchTensor[];
      outputs: TorchTensor[];
      running_mean: TorchTensor;
      running_var: TorchTensor;
      num_batches_tracked: number;
    };
    const bn = new BatchNorm2d(3);
    bn.weight!.assign(tf.tensor(c.weight.data));
    bn.bias!.assign(tf.tensor(c.bias.data));
    c.batches.forEach((batch, i) => {
      if (i === 2) bn.eval();
      tf.tidy(() => {
        expect(maxAbsDiff(bn.forward(activation(batch)), activation(c.outputs[i]!))).toBeLessThan(1e-5);
      });
    });
    tf.tidy(() => {
      expect(maxAbsDiff(bn.running_mean, tf.tensor(c.running_mean.data))).toBeLessThan(1e-6);
      expect(maxAbsDiff(bn.running_var, tf.tensor(c.running_var.data))).toBeLessThan(1e-6);
    });
    expect(bn.num_batches_tracked.dataSync()[0]).toBe(c.num_batches_tracked);
    bn.dispose();
  });
});
