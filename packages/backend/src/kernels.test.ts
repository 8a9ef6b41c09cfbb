import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2dFilterGrad, conv2dInputGrad } from './kernels/conv-grads.js';
import { loadWasmKernels, registerTrainingKernels } from './kernels/register.js';

/** Deterministic data as plain arrays, so the same numbers go to both backends. */
function data(shape: number[], seed: number, ties = false): { values: Float32Array; shape: number[] } {
  let s = seed >>> 0;
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32 - 0.5;
    return ties ? Math.round(u * 4) / 2 : u;
  });
  return { values, shape };
}
const t4 = (d: { values: Float32Array; shape: number[] }) =>
  tf.tensor4d(d.values, d.shape as [number, number, number, number]);

/** Runs `f` on a backend and returns the result as plain numbers and shape. */
async function on(backend: string, f: () => tf.Tensor) {
  await tf.setBackend(backend);
  const y = tf.tidy(f);
  const out = { values: Array.from(await y.data()), shape: y.shape };
  y.dispose();
  return out;
}

function expectClose(
  actual: { values: number[]; shape: number[] },
  expected: { values: number[]; shape: number[] },
  rel = 1e-5,
) {
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, ...expected.values.map(Math.abs));
  const worst = Math.max(0, ...actual.values.map((v, i) => Math.abs(v - expected.values[i]!)));
  expect(worst / scale).toBeLessThan(rel);
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  registerTrainingKernels('wasm');
  // convnets' own wasm kernels, on one thread (tfjs's single-threaded build: its memory is not shared)
  expect(await loadWasmKernels(1)).toEqual({ threads: 1 });
});

// kernel, stride, padding, input size, channels in/out, batch
const convCases: Array<[number, number, number, number, number, number, number]> = [];
for (const k of [1, 3, 5, 7, 11]) {
  for (const s of [1, 2, 4]) {
    for (const p of [0, Math.floor(k / 2)]) {
      convCases.push([k, s, p, 13 + k, 3, 4, s === 4 ? 1 : 2]);
    }
  }
}

describe('convolution gradients on wasm equal tfjs cpu (reference kernels)', () => {
  it.each(convCases)(
    'kernel %i stride %i padding %i (input %i, %i->%i channels, batch %i)',
    async (k, s, p, size, cin, cout, n) => {
      const x = data([n, size, size + 1, cin], k * 100 + s * 10 + p);
      const w = data([k, k, cin, cout], k + s + p + 7);
      const loss = (xt: tf.Tensor4D, wt: tf.Tensor4D) =>
        tf.sum(
          tf.mul(
            tf.conv2d(xt, wt, s, [
              [0, 0],
              [p, p],
              [p, p],
              [0, 0],
            ]),
            1.5,
          ),
        );
      const grads = (which: 0 | 1) => () =>
        tf.grads((a, b) => loss(a as tf.Tensor4D, b as tf.Tensor4D))([t4(x), t4(w)])[which]!;
      for (const which of [0, 1] as const) {
        expectClose(await on('wasm', grads(which)), await on('cpu', grads(which)));
      }
    },
  );

  it('direct calls: filter and input gradients of a strided, asymmetric ("same") convolution', async () => {
    const x = data([2, 9, 8, 3], 1);
    const dy = data([2, 5, 4, 4], 2);
    const w = data([3, 3, 3, 4], 3);
    const attrs = { strides: 2 as const, pad: 'same' as const };
    const fw = () => conv2dFilterGrad(t4(x), t4(dy), [3, 3, 3, 4], attrs);
    const fx = () => conv2dInputGrad(t4(dy), t4(w), [2, 9, 8, 3], attrs);
    // cpu's own kernels as the reference
    const refW = await on(
      'cpu',
      () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: t4(x), dy: t4(dy) }, {
          ...attrs,
          filterShape: [3, 3, 3, 4],
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    const refX = await on(
      'cpu',
      () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: t4(dy), filter: t4(w) }, {
          ...attrs,
          inputShape: [2, 9, 8, 3],
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expectClose(await on('wasm', fw), refW);
    expectClose(await on('wasm', fx), refX);
  });
});

// kernel, stride, padding, input size
const poolCases: Array<[number, number, number, number, boolean]> = [];
for (const k of [2, 3, 5]) {
  for (const s of [1, 2, 3]) {
    for (const p of [0, Math.floor(k / 2)]) {
      for (const ties of [false, true]) poolCases.push([k, s, p, 11, ties]);
    }
  }
}

describe('max-pool gradient on wasm equals tfjs cpu', () => {
  it.each(poolCases)('kernel %i stride %i padding %i (input %i, ties %s)', async (k, s, p, size, ties) => {
    const x = data([2, size, size + 2, 3], k * 31 + s * 7 + p, ties);
    const f = () =>
      tf.grad((xt) =>
        tf.sum(
          tf.mul(
            tf.maxPool(
              xt as tf.Tensor4D,
              k,
              s,
              p === 0
                ? 'valid'
                : [
                    [0, 0],
                    [p, p],
                    [p, p],
                    [0, 0],
                  ],
            ),
            tf.range(1, 4),
          ),
        ),
      )(t4(x));
    expectClose(await on('wasm', f), await on('cpu', f));
  });

  it('routes gradient where every value is negative (upstream wasm gets this wrong)', async () => {
    const x = data([1, 4, 4, 2], 5);
    const negative = { values: x.values.map((v) => v - 2), shape: x.shape };
    const f = () => tf.grad((xt) => tf.sum(tf.maxPool(xt as tf.Tensor4D, 2, 2, 'valid')))(t4(negative));
    const wasm = await on('wasm', f);
    expect(wasm.values.filter((v) => v === 1)).toHaveLength(8);
    expectClose(wasm, await on('cpu', f));
  });

  it('direct call with asymmetric explicit padding (how MaxPool2d does ceil mode) matches the cpu kernel', async () => {
    // (Upstream wasm's forward maxPool with dimRoundingMode 'ceil' returns wrong values; our layers never use it.)
    const x = data([1, 6, 6, 2], 9);
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 0],
    ];
    const attrs = { filterSize: 3, strides: 2, pad };
    const f = () => {
      const xt = t4(x);
      const y = tf.maxPool(xt, 3, 2, pad);
      return tf
        .engine()
        .runKernel(
          'MaxPoolGrad',
          { dy: tf.onesLike(y), input: xt, output: y },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor;
    };
    expectClose(await on('wasm', f), await on('cpu', f));
  });
});

describe('data-movement kernels on wasm equal tfjs cpu', () => {
  it.each([
    [
      [3, 3, 16, 8],
      [0, 1, 3, 2],
    ],
    [
      [5, 7, 6, 4],
      [3, 1, 2, 0],
    ],
    [
      [5, 7, 6, 4],
      [1, 2, 0, 3],
    ],
    [
      [40, 33],
      [1, 0],
    ],
    [
      [2, 1, 3, 1, 5],
      [4, 3, 2, 1, 0],
    ],
    [
      [2, 3, 4, 5, 6, 2],
      [2, 4, 0, 1, 3, 5],
    ],
    [
      [70, 3, 37],
      [2, 0, 1],
    ],
  ])('transpose %j by %j', async (shape, perm) => {
    const x = data(shape, shape.length * 7 + perm[0]!);
    const f = () => tf.transpose(tf.tensor(x.values, shape), perm);
    expect(await on('wasm', f)).toEqual(await on('cpu', f));
  });

  it.each([
    [
      [3, 3, 16, 8],
      [1, 1, 0, 0],
      [1, 1, 16, 8],
    ], // the centre tap of a 3x3 weight: one contiguous run
    [
      [3, 3, 16, 8],
      [1, 1, 0, 0],
      [2, 2, 16, 8],
    ], // a 2x2 corner: a run per tap
    [
      [5, 7, 6, 4],
      [1, 2, 3, 1],
      [3, 4, 2, 2],
    ],
    [
      [5, 7, 6, 4],
      [0, 0, 0, 0],
      [-1, -1, -1, -1],
    ],
    [
      [40, 33],
      [3, 5],
      [30, -1],
    ],
    [[12], [4], [0]],
    [
      [2, 3, 4, 5, 6],
      [1, 0, 2, 1, 0],
      [1, 3, 1, 3, 6],
    ],
  ])('slice %j from %j, size %j', async (shape, begin, size) => {
    const x = data(shape, shape.length * 5 + begin[0]!);
    const f = () => tf.slice(tf.tensor(x.values, shape), begin, size);
    expect(await on('wasm', f)).toEqual(await on('cpu', f));
  });

  it('rotates a filter 180 degrees and swaps its channels, on both backends', async () => {
    const w = data([3, 2, 4, 5], 11);
    const viaKernel = () => tf.engine().runKernel('ConvnetsRotateFilter', { filter: t4(w) }, {}) as tf.Tensor;
    const viaOps = () => tf.transpose(tf.reverse(t4(w), [0, 1]), [0, 1, 3, 2]);
    registerTrainingKernels('cpu');
    const reference = await on('cpu', viaOps);
    expect(await on('wasm', viaKernel)).toEqual(reference);
    expect(await on('cpu', viaKernel)).toEqual(reference);
  });
});
