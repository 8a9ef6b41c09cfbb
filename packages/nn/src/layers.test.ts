import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { activation, maxAbsDiff, readJson, stateFromJson, tensor, type TorchTensor } from '@convnets/tooling/fixtures';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { Conv2d, liveSpan } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from './layers/pool.js';
import { Flatten } from './layers/simple.js';
import type { Module } from './module.js';
import { loadStateDict, stateDict } from './state-dict.js';

interface Case {
  name: string;
  input: TorchTensor;
  output: TorchTensor;
  weight?: TorchTensor;
  bias?: TorchTensor;
  config?: Record<string, unknown> & { kernel_size: number | [number, number] };
  weight_grad?: TorchTensor;
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

function convFromCase(c: Case): Conv2d {
  const cfg = c.config!;
  const conv = new Conv2d(c.input.shape[1]!, c.output.shape[1]!, cfg.kernel_size, {
    stride: cfg.stride as number,
    padding: cfg.padding as [number, number],
    dilation: cfg.dilation as number,
    groups: cfg.groups as number,
    bias: cfg.bias !== false,
  });
  loadWeights(conv, c);
  return conv;
}

describe('layers agree with PyTorch 1.13 on fixed inputs', () => {
  it.each(byPrefix('conv2d'))('$name', (c) => {
    const conv = convFromCase(c);
    expectMatchesTorch(conv, c);
    conv.dispose();
  });

  it.each(cases.filter((c) => c.weight_grad))(
    '$name: weight gradient of sum(y^2)/2, zero on taps that meet only padding',
    (c) => {
      const conv = convFromCase(c);
      tf.tidy(() => {
        const x = activation(c.input);
        const { grads } = tf.variableGrads(
          () => tf.div(tf.sum(tf.square(conv.forward(x))), 2) as tf.Scalar,
          [conv.weight],
        );
        // Into PyTorch's layout through the one place that converts: the weight slot and stateDict.
        conv.weight.assign(grads[conv.weight.name]!);
        expect(maxAbsDiff(stateDict(conv).get('weight')!, tensor(c.weight_grad!))).toBeLessThanOrEqual(1e-5);
      });
      conv.dispose();
    },
  );

  it.each(byPrefix('maxpool2d'))('$name', (c) => {
    const cfg = c.config!;
    expectMatchesTorch(
      new MaxPool2d(cfg.kernel_size, {
        stride: cfg.stride as number,
        padding: cfg.padding as number,
        ceilMode: !!cfg.ceil_mode,
      }),
      c,
    );
  });

  it.each(byPrefix('avgpool2d'))('$name', (c) => {
    const cfg = c.config!;
    expectMatchesTorch(
      new AvgPool2d(cfg.kernel_size, {
        stride: cfg.stride as number,
        padding: cfg.padding as number,
        ceilMode: !!cfg.ceil_mode,
      }),
      c,
    );
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

describe('Conv2d skips kernel taps that only meet padding', () => {
  it('crops ResNet-18 stage 4 at 32 px to the taps that see the map', () => {
    expect(liveSpan(1, 3, 1, 1, 1)).toEqual({ first: 1, taps: 1, pad: [0, 0] }); // 1x1 map, 3x3 conv
    expect(liveSpan(2, 3, 2, 1, 1)).toEqual({ first: 1, taps: 2, pad: [0, 0] }); // 2x2 -> 1x1, stride 2
    expect(liveSpan(32, 3, 1, 1, 1)).toEqual({ first: 0, taps: 3, pad: [1, 1] }); // every tap meets a 32-px map
  });

  it('keeps exactly the taps some window puts on the input, with the same output size (all small geometries)', () => {
    for (let size = 1; size <= 6; size++) {
      for (const kernel of [1, 2, 3, 5, 7]) {
        for (const stride of [1, 2, 3]) {
          for (let padding = 0; padding <= 3; padding++) {
            for (const dilation of [1, 2]) {
              const out = Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
              if (out < 1) continue;
              // brute force: which taps land on a real pixel for some output position
              const live = [...Array(kernel).keys()].filter((k) =>
                [...Array(out).keys()].some(
                  (o) => o * stride - padding + k * dilation >= 0 && o * stride - padding + k * dilation < size,
                ),
              );
              const span = liveSpan(size, kernel, stride, padding, dilation);
              const where = `size ${size} k ${kernel} s ${stride} p ${padding} d ${dilation}`;
              const [before, after] = span.pad;
              const last = span.first + span.taps - 1;
              // every live tap is kept; the crop is exact unless it would need negative padding
              expect(span.first, where).toBeLessThanOrEqual(live[0] ?? 0);
              expect(last, where).toBeGreaterThanOrEqual(live[live.length - 1] ?? kernel - 1);
              if (live.length > 0 && padding - live[0]! * dilation >= 0)
                expect([span.first, last], where).toEqual([live[0], live[live.length - 1]]);
              else expect([span.first, span.taps], where).toEqual([0, kernel]);
              // each kept tap meets the same input rows as before, and the output size is unchanged
              expect(before, where).toBe(padding - span.first * dilation);
              expect(before, where).toBeGreaterThanOrEqual(0);
              expect(after, where).toBeGreaterThanOrEqual(0);
              expect(Math.floor((size + before + after - dilation * (span.taps - 1) - 1) / stride) + 1, where).toBe(
                out,
              );
            }
          }
        }
      }
    }
  });

  it('gives the uncropped convolution and its input gradient on a 2x3 map through a 5x5 kernel', () => {
    const conv = new Conv2d(3, 4, 5, { padding: 2 });
    tf.tidy(() => {
      const x = tf.randomNormal([2, 2, 3, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const full = (input: tf.Tensor4D) =>
        tf.add(
          tf.conv2d(input, conv.weight as tf.Tensor as tf.Tensor4D, 1, [
            [0, 0],
            [2, 2],
            [2, 2],
            [0, 0],
          ]),
          conv.bias!,
        );
      expect(maxAbsDiff(conv.forward(x), full(x))).toBeLessThan(1e-5);
      const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.square(conv.forward(input))))(x);
      const dxFull = tf.grad((input: tf.Tensor) => tf.sum(tf.square(full(input as tf.Tensor4D))))(x);
      expect(maxAbsDiff(dx, dxFull)).toBeLessThan(1e-5);
    });
    conv.dispose();
  });

  it('without a gradient tape, keeps nothing between calls and follows weight updates', () => {
    const conv = new Conv2d(4, 5, 3, { padding: 1, bias: false });
    const x = tf.randomNormal([2, 1, 1, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const reference = () =>
      tf.conv2d(x, conv.weight as tf.Tensor as tf.Tensor4D, 1, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]);
    const before = tf.memory().numTensors;
    const check = () =>
      tf.tidy(() => {
        expect(maxAbsDiff(conv.forward(x), reference())).toBeLessThan(1e-6);
      });
    check();
    expect(tf.memory().numTensors).toBe(before);
    const next = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 4);
    conv.weight.assign(next);
    next.dispose();
    check();
    expect(tf.memory().numTensors).toBe(before);
    conv.dispose();
    expect(tf.memory().numTensors).toBe(before - 1); // the weight is gone
    x.dispose();
  });
});
