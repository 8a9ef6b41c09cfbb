// Test helpers for the PyTorch golden files (tooling/pytorch): read them and turn NCHW activations into NHWC.
// Weights go through the packages' own loadStateDict, so the tests exercise the real conversion.
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/** Every notebook net at a small size it takes (the PyTorch logits fixture's), 3 channels: what parity checks run. */
export const SMALL_NETS = [
  ['alexnet', 67],
  ['vgg11', 32],
  ['vgg11-small', 32],
  ['nin', 67],
  ['googlenet', 32],
  ['resnet18', 32],
  ['densenet', 32],
] as const;

/**
 * torchvision's nets whose layers the notebook's do not already cover, at a small size they take, for the export
 * tests: ResNet-50's named stages and Bottleneck, GoogLeNet's input transform, BasicConv2d and ceil-mode pools,
 * DenseNet-121's named dense blocks (AlexNet's and VGG's adaptive pools need 224 px to export: checked by hand).
 */
export const TORCHVISION_NETS = [
  ['torchvision/resnet50', 32],
  ['torchvision/googlenet', 32],
  ['torchvision/densenet121', 32],
] as const;

/**
 * The nets checked on a software GPU (CI's SwiftShader, for WebGPU in Node and the browser and for WebGL: tens of
 * MFLOP/s, minutes a net): two are left out where others run the same kinds of layers. vgg11's are vgg11-small's at 4x
 * the channels; alexnet's training step is made of nin's kinds (11x11 stride-4 and 5x5 convolutions, 3x3 stride-2
 * pools) and vgg11-small's classifier (4096-wide linears, dropout), while its forward is still checked.
 */
export const SOFTWARE_GPU_NETS = {
  forward: SMALL_NETS.filter(([name]) => name !== 'vgg11'),
  step: SMALL_NETS.filter(([name]) => name !== 'vgg11' && name !== 'alexnet'),
  /**
   * The training steps the browser tests check against cpu besides their ResNet-18 training runs. The same shaders run
   * every net of `step` on Dawn in Node at 1e-4 (the backend's parity test); the browser needs each kind of layer once.
   * GoogLeNet's kinds are others' at other sizes: its concatenation is DenseNet's, its 1x1 to 7x7 convolutions NiN's
   * and ResNet-18's, its overlapping 3x3 max pools ResNet-18's stem pool. tfjs-webgpu passes pool and convolution
   * sizes as uniforms; its convolution and matmul shaders differ only by how the shapes fit its tiles (checked in
   * Node); tfjs-webgl bakes sizes into each program but builds them from the same templates.
   * - webgl: every kind (VGG-11-small's 3x3 convolutions, 2x2 pools and 4096-wide linears among them);
   * - webgpu (SwiftShader's WebGPU is several times slower than its WebGL): ResNet-18's kinds train in its run, and
   *   VGG-11-small's are ResNet-18's and NiN's with other sizes.
   */
  browserStep: {
    webgl: SMALL_NETS.filter(([name]) => ['vgg11-small', 'nin', 'resnet18', 'densenet'].includes(name)),
    webgpu: SMALL_NETS.filter(([name]) => name === 'nin' || name === 'densenet'),
  },
};

export interface TorchTensor {
  shape: number[];
  data: number[];
}

export function readJson<T>(url: URL): T {
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

export function tensor(t: TorchTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape);
}

/** NCHW activations -> NHWC; other ranks unchanged. */
export function activation(t: TorchTensor): tf.Tensor {
  return tf.tidy(() => (t.shape.length === 4 ? tf.transpose(tensor(t), [0, 2, 3, 1]) : tensor(t)));
}

/** A PyTorch-layout state dict from its JSON form. */
export function stateFromJson(state: Record<string, TorchTensor>): Map<string, tf.Tensor> {
  return new Map(Object.entries(state).map(([name, t]) => [name, tensor(t)]));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shape [${a.shape}] differs from [${b.shape}]`);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/**
 * The index of the first value where `a` and `b` differ as `Object.is` sees them (-0 is not 0, any NaN is NaN), or -1
 * where they hold the same values (a length mismatch is a difference at the shorter length). Word by word: `toEqual`
 * takes seconds over the millions of values of a net's weights.
 */
export function firstDifference(a: Float32Array, b: Float32Array): number {
  const [x, y] = [a, b].map((v) => new Uint32Array(v.buffer, v.byteOffset, v.length)) as [Uint32Array, Uint32Array];
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return x.length === y.length ? -1 : n;
}

/** Expects `actual` to hold exactly `expected`'s float32 values (firstDifference), naming the first that differs. */
export function expectSameValues(actual: Float32Array, expected: Float32Array, what = 'values') {
  const i = firstDifference(actual, expected);
  const show = (v: number | undefined) => (Object.is(v, -0) ? '-0' : String(v));
  expect(
    i,
    `${what}: first difference at [${i}] of ${expected.length}: ${show(actual[i])} vs ${show(expected[i])}`,
  ).toBe(-1);
}

// 2π in three parts (Cephes' split of π/4, times 8): k * TWO_PI_1 and k * TWO_PI_2 are exact for k < 2^26.
const TWO_PI_1 = 6.283185005187988;
const TWO_PI_2 = 3.0199157663446385e-7;
const TWO_PI_3 = 2.1561211432632476e-14;

/**
 * sin(x) for the formula's arguments (up to ~2.4e8): reduced by 2π first, because V8's Math.sin reduces such
 * arguments the slow, general way (8x slower here: VGG's 130M weights took 26 s). The float32 results equal
 * Math.sin's (none of 20M sampled arguments differs); the float64 ones differ by an ulp at most.
 */
function sinOfLarge(x: number): number {
  const k = Math.round(x / (2 * Math.PI));
  return Math.sin(x - k * TWO_PI_1 - k * TWO_PI_2 - k * TWO_PI_3);
}

/**
 * The weights formula of tooling/pytorch/formula.py, element by element, for the k-th tensor of a
 * PyTorch state dict (PyTorch's layout): what lets fixtures pin down nets of 100+ MB in a few KB.
 */
export function formulaTensor(name: string, shape: number[], k: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  // value = offset + scale * sin(...), or 1 + 0.5 |sin(...)| for running variances (a plain loop: VGG has 129M).
  const [offset, scale] =
    name.endsWith('running_mean') || name.endsWith('bias')
      ? [0, 0.1]
      : shape.length >= 2
        ? [0, Math.sqrt(3 / fanIn)]
        : [1, 0.1];
  const variance = name.endsWith('running_var');
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = sinOfLarge(1.7 * i + 0.3 * k);
    out[i] = variance ? 1 + 0.5 * Math.abs(v) : offset + scale * v;
  }
  return out;
}

/** The formula's input batch, sin(0.9 i) in NCHW order, as an NHWC tensor. */
export function formulaInput(batch: number, channels: number, size: number): tf.Tensor4D {
  const total = batch * channels * size * size;
  return tf.tidy(() =>
    tf.transpose(
      tf.tensor4d(
        Float32Array.from({ length: total }, (_, i) => Math.sin(0.9 * i)),
        [batch, channels, size, size],
      ),
      [0, 2, 3, 1],
    ),
  );
}

/** murmur3's finaliser over (i + k * 0x9E3779B9) mod 2^32, mapped to [-1, 1): tooling/pytorch/grad_fixtures.py's `uniform`. */
export function hashUniform(n: number, k: number): Float64Array {
  const offset = Math.imul(k, 0x9e3779b9) >>> 0;
  return Float64Array.from({ length: n }, (_, i) => {
    let x = (i + offset) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    return (x / 2 ** 32) * 2 - 1;
  });
}

/** grad_fixtures.py's `tensor`: the k-th state-dict tensor (PyTorch layout), scaled like PyTorch's default init. */
export function hashTensor(name: string, shape: readonly number[], k: number): Float32Array {
  const u = hashUniform(
    shape.reduce((a, b) => a * b, 1),
    k,
  );
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return Float32Array.from(u, (v) => {
    if (name.endsWith('running_var')) return 1;
    if (name.endsWith('running_mean')) return 0;
    if (shape.length >= 2) return v / Math.sqrt(fanIn);
    if (name.endsWith('bias')) return 0.1 * v;
    return 1 + 0.1 * v;
  });
}

/** Whether Debian's PyTorch is importable by /usr/bin/python3 (live checks run only then; CI installs it). */
export function pythonHasTorch(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
