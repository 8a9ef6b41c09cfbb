import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { activation, maxAbsDiff, readJson, stateFromJson, type TorchTensor } from '@convnets/tooling/fixtures';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from './layers/pool.js';
import { Flatten } from './layers/simple.js';
import type { Module } from './module.js';
import { loadStateDict } from './state-dict.js';

interface Case {
  name: string;
  input: TorchTensor;
  output: TorchTensor;
  weight?: TorchTensor;
  bias?: TorchTensor;
  config?: Record<string, unknown> & { kernel_size: number | [number, number] };
}

const { cases } = readJson<{ cases: Case[] }>(new URL('./__fixtures__/layers.json', import.meta.url));
const byPrefix = (prefix: string) => cases.filter((c) => c.name.startsWith(prefix));

/** Runs `layer` on the case's input (converted to NHWC) and compares with PyTorch's output. */
function expectMatchesTorch(layer: Module, c: Case, tolerance = 1e-5): void {
  tf.tidy(() => {
    const y = layer.forward(activation(c.input));
    const expected = activation(c.output);
    expect(y.shape).toEqual(expected.shape);
    expect(layer.inferShape(activation(c.input).shape)).toEqual(expected.shape);
    expect(maxAbsDiff(y, expected)).toBeLessThanOrEqual(tolerance);
  });
}

/** PyTorch's weights for the layer, through the real layout conversion. */
function loadWeights(layer: Conv2d | Linear, c: Case): void {
  const state = stateFromJson(c.bias ? { weight: c.weight!, bias: c.bias } : { weight: c.weight! });
  loadStateDict(layer, state);
  tf.dispose([...state.values()]);
}

describe('layers agree with PyTorch 1.13 on fixed inputs', () => {
  it.each(byPrefix('conv2d'))('$name', (c) => {
    const cfg = c.config!;
    const inC = c.input.shape[1]!;
    const outC = c.output.shape[1]!;
    const conv = new Conv2d(inC, outC, cfg.kernel_size, {
      stride: cfg.stride as number,
      padding: cfg.padding as number,
      dilation: cfg.dilation as number,
      groups: cfg.groups as number,
      bias: cfg.bias !== false,
    });
    loadWeights(conv, c);
    expectMatchesTorch(conv, c);
    conv.dispose();
  });

  it.each(byPrefix('maxpool2d'))('$name', (c) => {
    const cfg = c.config!;
    expectMatchesTorch(new MaxPool2d(cfg.kernel_size, { stride: cfg.stride as number, padding: cfg.padding as number, ceilMode: !!cfg.ceil_mode }), c);
  });

  it.each(byPrefix('avgpool2d'))('$name', (c) => {
    const cfg = c.config!;
    expectMatchesTorch(new AvgPool2d(cfg.kernel_size, { stride: cfg.stride as number, padding: cfg.padding as number, ceilMode: !!cfg.ceil_mode }), c);
  });

  it.each(byPrefix('adaptiveavgpool2d'))('$name', (c) => {
    expectMatchesTorch(new AdaptiveAvgPool2d(c.config!.output_size as [number, number]), c);
  });

  it('linear', () => {
    const c = byPrefix('linear')[0]!;
    const linear = new Linear(c.input.shape[1]!, c.output.shape[1]!);
    loadWeights(linear, c);
    expectMatchesTorch(linear, c);
    linear.dispose();
  });

  it('flatten gives PyTorch (C, H, W) feature order from NHWC input', () => {
    const c = byPrefix('flatten')[0]!;
    expectMatchesTorch(new Flatten(), c, 0);
  });
});

describe('shape rules', () => {
  it('conv output size follows floor((H + 2p - d(k-1) - 1)/s) + 1', () => {
    expect(new Conv2d(3, 96, 11, { stride: 4, padding: 1 }).inferShape([1, 224, 224, 3])).toEqual([1, 54, 54, 96]);
  });

  it('names the expected channels on a mismatch', () => {
    expect(() => new Conv2d(3, 8, 3).inferShape([1, 8, 8, 1])).toThrow(/expects 3 input channels, got 1/);
  });

  it('rejects a window larger than the input', () => {
    expect(() => new MaxPool2d(3, { stride: 2 }).inferShape([1, 2, 2, 4])).toThrow(/does not fit input \[1, 2, 2, 4\]/);
  });

  it('counts conv and linear FLOPs as 2 x multiply-adds per sample', () => {
    // 54*54 outputs x 96 channels x (3*11*11) MACs each.
    expect(new Conv2d(3, 96, 11, { stride: 4, padding: 1 }).flops([1, 224, 224, 3])).toBe(2 * 54 * 54 * 96 * 3 * 121);
    expect(new Linear(6400, 4096).flops()).toBe(2 * 6400 * 4096);
  });
});
