/**
 * What the kernel tests of every kernel set share: deterministic inputs, running a function on a backend
 * with its tensors counted, comparing with tfjs cpu, and the geometries worth checking.
 */
import { loadNativeKernels } from '@convnets/backend-native';
import { BatchNorm2d } from '@convnets/nn';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** Deterministic values in [-0.5, 0.5), so the same numbers go to both backends. */
export function values(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  return new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** Runs `f` on `backend` and returns its result; the backend's own tensor count must not grow. */
export async function on(backend: string, f: () => tf.Tensor): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  const before = tf.engine().backend.numDataIds();
  const y = tf.tidy(f);
  const out = { shape: y.shape, values: (await y.data()) as Float32Array };
  y.dispose();
  expect(tf.engine().backend.numDataIds()).toBe(before);
  return out;
}

export { expectSameValues } from '@convnets/tooling/fixtures';

/** wasm (with whichever kernels it runs) equals cpu within `rel` of the largest reference value. */
export async function expectLikeCpu(f: () => tf.Tensor, rel = 1e-4) {
  const expected = await on('cpu', f);
  const actual = await on('wasm', f);
  expect(actual.shape).toEqual(expected.shape);
  let worst = 0;
  let scale = 1e-30;
  expected.values.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(actual.values[i]! - v));
    scale = Math.max(scale, Math.abs(v));
  });
  expect(worst / scale).toBeLessThan(rel);
}

/** `f` run while a gradient tape records, as in training (where Conv2D takes our kernel). */
export function underTape(f: () => tf.Tensor): () => tf.Tensor {
  return () => {
    let out: tf.Tensor | undefined;
    tf.grad((t) => {
      out = tf.keep(f());
      return tf.sum(t);
    })(tf.scalar(0)).dispose();
    return out!;
  };
}

// kernel, stride, padding, dilation, height, width, in channels, out channels, batch
export type ConvCase = [number, number, number, number, number, number, number, number, number];
export const convCases: ConvCase[] = [
  [1, 1, 0, 1, 7, 7, 64, 64, 8], // pointwise: A read as a plain matrix
  [1, 2, 0, 1, 9, 9, 16, 32, 4],
  [3, 1, 1, 1, 7, 7, 64, 64, 16], // ResNet-18's first stage at 28 px
  [3, 2, 1, 1, 9, 9, 8, 12, 3],
  [3, 1, 1, 1, 1, 1, 64, 24, 8], // a 1x1 map: every tap but the centre reads padding
  [3, 1, 1, 1, 2, 3, 36, 20, 16],
  [5, 1, 2, 1, 11, 13, 3, 5, 1], // channel counts not a multiple of 4, batch 1
  [7, 2, 3, 1, 28, 28, 1, 16, 4], // the 1-channel stem
  [11, 4, 2, 1, 35, 37, 3, 8, 2], // AlexNet's first layer, smaller
  [2, 2, 0, 1, 8, 8, 6, 10, 2],
  [3, 3, 0, 1, 13, 11, 5, 7, 2],
  [4, 4, 1, 1, 17, 17, 12, 20, 2],
  [9, 1, 0, 1, 9, 10, 4, 9, 2],
  [5, 1, 2, 1, 6, 5, 12, 16, 3], // stride 1, channels in 4s and 8s: the filter gradient's interleaved path
  [3, 1, 2, 2, 7, 8, 8, 8, 2], // ... with dilation in the forward pass only
  [3, 2, 1, 1, 2, 2, 16, 24, 4], // a 2x2 map to 1x1: fewer pixels than taps (native: one dense GEMM)
  [5, 1, 2, 1, 3, 2, 8, 12, 2],
  [3, 1, 2, 2, 2, 2, 8, 8, 3], // ... dilated
];

export const nhwc = (n: number, h: number, w: number, c: number) => [n, h, w, c] as [number, number, number, number];
export const padding = (p: number): tf.backend_util.ExplicitPadding => [
  [0, 0],
  [p, p],
  [p, p],
  [0, 0],
];

/** A case's forward convolution (under a tape) and its two gradients, as functions to compare. */
export function convFunctions([k, s, p, d, h, w, cin, cout, n]: ConvCase) {
  const x = values(nhwc(n, h, w, cin), k * 31 + s);
  const filter = values([k, k, cin, cout], cin + cout);
  const forward = underTape(() =>
    tf.conv2d(tf.tensor4d(x, nhwc(n, h, w, cin)), tf.tensor4d(filter, [k, k, cin, cout]), s, padding(p), 'NHWC', d),
  );
  const { outHeight, outWidth } = tf.backend_util.computeConv2DInfo(
    nhwc(n, h, w, cin),
    [k, k, cin, cout],
    s,
    1,
    padding(p),
  );
  const dy = values(nhwc(n, outHeight, outWidth, cout), 7 * k + p);
  const attrs = { strides: s, pad: padding(p), dataFormat: 'NHWC', dimRoundingMode: undefined } as const;
  const dyTensor = () => tf.tensor(dy, nhwc(n, outHeight, outWidth, cout));
  const filterGrad = () =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, nhwc(n, h, w, cin)), dy: dyTensor() }, {
      ...attrs,
      filterShape: [k, k, cin, cout],
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const inputGrad = () =>
    tf.engine().runKernel('Conv2DBackpropInput', { dy: dyTensor(), filter: tf.tensor4d(filter, [k, k, cin, cout]) }, {
      ...attrs,
      inputShape: nhwc(n, h, w, cin),
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  // tfjs has no gradient for dilated convolutions
  return { forward, gradients: d === 1 ? { filterGrad, inputGrad } : null };
}

// rows, depth, columns, batch of a, batch of b
export const matMulShapes: Array<[number, number, number, number, number]> = [
  [37, 53, 29, 1, 1],
  [300, 200, 100, 1, 1],
  [128, 512, 10, 1, 1],
  [5, 7, 3, 3, 3],
  [9, 16, 24, 4, 1], // b broadcast
  [1, 64, 1, 1, 2],
];
export const transposes = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

/** A shape's matmul with the given transposes. */
export function matMulFunction(
  [m, k, n, ba, bb]: (typeof matMulShapes)[number],
  tA: boolean,
  tB: boolean,
): () => tf.Tensor {
  const a = values([ba, tA ? k : m, tA ? m : k], m + k);
  const b = values([bb, tB ? n : k, tB ? k : n], k + n);
  return () =>
    tf.matMul(tf.tensor3d(a, [ba, tA ? k : m, tA ? m : k]), tf.tensor3d(b, [bb, tB ? n : k, tB ? k : n]), tA, tB);
}

export const batchNormShapes: Array<[number, number, number, number]> = [
  [16, 7, 7, 64],
  [3, 5, 4, 21],
  [2, 1, 1, 512],
];

/**
 * One train-mode BatchNorm2d step on [n, h, w, c]: the loss, dx, dgamma, dbeta and the running statistics
 * in one tensor (nn's composite on cpu is the reference for the fused kernels).
 */
export function batchNormStep(n: number, h: number, w: number, c: number): () => tf.Tensor {
  const x = values([n, h, w, c], c).map((v, i) => v * 3 + (i % c) * 0.1);
  const dy = values([n, h, w, c], c + 1);
  const gamma = values([c], 5).map((v) => v + 1);
  const beta = values([c], 6);
  return () => {
    const bn = new BatchNorm2d(c);
    bn.weight!.assign(tf.tensor1d(gamma));
    bn.bias!.assign(tf.tensor1d(beta));
    bn.train();
    const input = tf.tensor4d(x, [n, h, w, c]);
    const loss = (t: tf.Tensor) => tf.sum(tf.mul(bn.forward(t), tf.tensor4d(dy, [n, h, w, c]))) as tf.Scalar;
    const { value, grads } = tf.variableGrads(() => loss(input), [bn.weight!, bn.bias!]);
    const dx = tf.grad(loss)(input);
    const out = tf.concat([
      tf.reshape(value, [1]),
      tf.reshape(dx, [-1]),
      grads[bn.weight!.name]!,
      grads[bn.bias!.name]!,
      bn.running_mean,
      bn.running_var,
    ]);
    bn.dispose();
    return out;
  };
}

/**
 * Why the oneDNN addon cannot run here ('' where it can): native suites skip where it cannot, except
 * under CONVNETS_NATIVE_REQUIRED=1 (CI), where loading throws.
 */
export function nativeMissing(): string {
  const load = loadNativeKernels();
  return 'missing' in load ? load.missing : '';
}

/**
 * Why webgpu cannot run here ('' where it can: Dawn and an adapter, SwiftShader's in tests where Chromium is
 * installed). Its suites skip where it cannot, except under CONVNETS_WEBGPU_REQUIRED=1 (CI), where this throws.
 */
export async function webgpuMissing(): Promise<string> {
  const { findWebgpuAdapter } = await import('../src/webgpu.js');
  try {
    await findWebgpuAdapter();
    return '';
  } catch (err) {
    if (process.env.CONVNETS_WEBGPU_REQUIRED === '1') throw err;
    return (err as Error).message;
  }
}

// kernel, stride, padding, batch, height, width, channels
export const maxPoolCases: Array<[number, number, number, number, number, number, number]> = [
  [3, 2, 1, 16, 14, 14, 64],
  [2, 2, 0, 3, 9, 8, 5],
  [3, 1, 1, 2, 6, 7, 3],
];

/** A max-pool's input gradient on inputs with many ties (the first maximum must win). */
export function maxPoolGradFunction([k, s, p, n, h, w, c]: (typeof maxPoolCases)[number]): () => tf.Tensor {
  const x = values([n, h, w, c], k + s).map((v) => Math.round(v * 6) / 2);
  return () =>
    tf.grad((t) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, k, s, padding(p)), 1.5)))(tf.tensor4d(x, [n, h, w, c]));
}

export const avgPoolCases: Array<[number, number, 'valid' | 'same', [number, number, number, number]]> = [
  [2, 2, 'valid', [16, 8, 8, 96]],
  [3, 2, 'same', [3, 7, 6, 5]],
  [3, 1, 'same', [2, 5, 5, 4]],
];

/** An average-pool's input gradient. */
export function avgPoolGradFunction([k, s, pad, shape]: (typeof avgPoolCases)[number]): () => tf.Tensor {
  const x = values(shape, k);
  return () => tf.grad((t) => tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, k, s, pad), 1.5)))(tf.tensor4d(x, shape));
}

/**
 * Concatenations along every axis (one part empty, one large enough to split between threads), splits in sizes,
 * counts and with a -1, and concatenation's gradient (a split): a backend must give cpu's results exactly.
 */
export function concatFunctions(): Array<() => tf.Tensor> {
  const parts = [
    [4, 3, 2, 5],
    [4, 3, 2, 3],
    [4, 3, 2, 0],
    [4, 3, 2, 1],
  ].map((shape, i) => [shape, values(shape, i + 1)] as const);
  const large = [values([64, 8, 8, 64], 5), values([64, 8, 8, 32], 6)];
  const same = [values([2, 3, 4], 7), values([2, 3, 4], 8)];
  const x = values([4, 3, 2, 9], 9);
  return [
    ...[3, -1].map(
      (axis) => () =>
        tf.concat(
          parts.map(([shape, v]) => tf.tensor(v, shape)),
          axis,
        ),
    ),
    ...[0, 1, 2].map(
      (axis) => () =>
        tf.concat(
          same.map((v) => tf.tensor(v, [2, 3, 4])),
          axis,
        ),
    ),
    () => tf.concat([tf.tensor4d(large[0]!, [64, 8, 8, 64]), tf.tensor4d(large[1]!, [64, 8, 8, 32])], 3),
    ...([[5, 3, 1], [2, -1], 3] as const).map(
      (sizes) => () =>
        tf.concat(
          tf.split(tf.tensor4d(x, [4, 3, 2, 9]), sizes as number[] | number, 3).map((t, i) => tf.mul(t, i + 1)),
          3,
        ),
    ),
    () =>
      tf.grad((t) =>
        tf.sum(tf.mul(tf.concat([t, tf.mul(t, 2)], 3), tf.tensor4d(values([4, 3, 2, 18], 3), [4, 3, 2, 18]))),
      )(tf.tensor4d(x, [4, 3, 2, 9])),
  ];
}

/** Operand shapes of add/sub/mul: same shapes, trailing-axes repeats either way round, and some that are not. */
export const binaryCases: Array<[string, number[], number[]]> = [
  ['same shapes', [16, 7, 7, 64], [16, 7, 7, 64]],
  ['same shapes, large enough to split between threads', [32, 16, 16, 32], [32, 16, 16, 32]],
  ['a per-channel vector', [16, 7, 7, 64], [64]],
  ['a per-channel vector on a large tensor', [32, 16, 16, 32], [32]],
  ['a per-channel vector first', [1, 1, 64], [16, 7, 7, 64]],
  ['a scalar', [5, 3], []],
  ['a short row', [1000, 3], [3]],
  ['a row across a matrix', [3, 1, 5], [4, 5]], // not a trailing-axes repeat: tfjs's kernel
];

/** tf.add, tf.sub and tf.mul of seeded operands of the two shapes. */
export function binaryFunctions([, sa, sb]: (typeof binaryCases)[number]): Array<() => tf.Tensor> {
  const operand = (shape: number[], seed: number) => tf.tensor(values(shape, seed), shape);
  return [tf.add, tf.sub, tf.mul].map((op) => () => op(operand(sa, 3), operand(sb, 4)));
}

/** relu and step (its gradient's mask) over ordinary values, NaN, -0 and infinities, small and large. */
export function unaryFunctions(): Array<() => tf.Tensor> {
  const special = Float32Array.from([...values([1000], 1), NaN, -0, 0, Infinity, -Infinity]);
  const large = values([32, 16, 16, 32], 2);
  return [tf.relu, tf.step].flatMap((op) => [
    () => op(tf.tensor1d(special)),
    () => op(tf.tensor4d(large, [32, 16, 16, 32])),
  ]);
}

/** relu's gradient (a step and a multiply) on [16, 7, 7, 64]. */
export function reluGradFunction(): () => tf.Tensor {
  const [a, b] = [values([16, 7, 7, 64], 1), values([16, 7, 7, 64], 2)];
  return () =>
    tf.grad((t) => tf.sum(tf.mul(tf.relu(t), tf.tensor4d(b, [16, 7, 7, 64]))))(tf.tensor4d(a, [16, 7, 7, 64]));
}

/**
 * Trains a small net (conv, batch norm, ReLU, max-pool, strided conv, pooling, linear) for 1000 steps on
 * the running backend: tensor and heap-buffer counts must stay flat and the loss must fall.
 */
export async function expectFlatTraining(): Promise<void> {
  const { AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } = await import('@convnets/nn');
  const { Sgd, trainStep } = await import('@convnets/trainer');
  const net = new Sequential(
    new Conv2d(3, 16, 3, { padding: 1 }),
    new BatchNorm2d(16),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(16, 16, 3, { padding: 1, stride: 2 }),
    new BatchNorm2d(16),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(16, 4),
  );
  net.train();
  const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.tensor4d(values([8, 12, 12, 3], 1), [8, 12, 12, 3]);
  const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
  const counts: Array<[number, number]> = [];
  const losses: number[] = [];
  for (let step = 1; step <= 1000; step++) {
    losses.push((await trainStep(net, { x, y }, optimizer, { lr: 0.05 })).loss);
    if (step === 10 || step === 1000) counts.push([tf.memory().numTensors, tf.engine().backend.numDataIds()]);
  }
  expect(counts[1]).toEqual(counts[0]);
  expect(losses[999]!).toBeLessThan(losses[0]! / 4);
  tf.dispose([x, y]);
  optimizer.dispose();
  net.dispose();
}
