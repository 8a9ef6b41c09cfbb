import '@tensorflow/tfjs-backend-cpu';
import type * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { fans, kaimingNormal, xavierUniform } from './init.js';
import { initWeights } from './init-weights.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { Sequential } from './layers/sequential.js';

function stats(t: tf.Tensor) {
  const v = Array.from(t.dataSync() as Float32Array);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  return { min: Math.min(...v), max: Math.max(...v), mean, std: Math.sqrt(variance) };
}

describe('initialisers', () => {
  it('compute PyTorch fans for conv [kh, kw, in, out] and linear [in, out]', () => {
    expect(fans([3, 3, 16, 32])).toEqual({ fanIn: 144, fanOut: 288 });
    expect(fans([100, 10])).toEqual({ fanIn: 100, fanOut: 10 });
  });

  it('xavierUniform stays within ±sqrt(6/(fanIn+fanOut)) with the uniform variance bound^2/3', () => {
    const bound = Math.sqrt(6 / (144 + 288));
    const w = xavierUniform([3, 3, 16, 32], { seed: 1 });
    const s = stats(w);
    expect(s.max).toBeLessThanOrEqual(bound);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.std).toBeCloseTo(bound / Math.sqrt(3), 2);
    w.dispose();
  });

  it('kaimingNormal has std sqrt(2/fanIn)', () => {
    const w = kaimingNormal([3, 3, 64, 64], { seed: 2 });
    expect(stats(w).std).toBeCloseTo(Math.sqrt(2 / 576), 3);
    w.dispose();
  });

  it('initWeights re-initialises conv and linear weights only, reproducibly', () => {
    const net = new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new Linear(8, 2));
    const bias = net[0] as Conv2d;
    const biasBefore = [...bias.bias!.dataSync()];
    initWeights(net, 'xavier', 5);
    const first = [...(net[0] as Conv2d).weight.dataSync()];
    initWeights(net, 'xavier', 5);
    expect([...(net[0] as Conv2d).weight.dataSync()]).toEqual(first);
    expect([...bias.bias!.dataSync()]).toEqual(biasBefore);
    expect([...(net[1] as BatchNorm2d).weight!.dataSync()]).toEqual([1, 1, 1, 1]);
    const bound = Math.sqrt(6 / (8 + 2));
    expect(Math.max(...(net[2] as Linear).weight.dataSync().map(Math.abs))).toBeLessThanOrEqual(bound);
    net.dispose();
  });
});
