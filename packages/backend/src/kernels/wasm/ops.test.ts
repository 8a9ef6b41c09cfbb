import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../init.js';
import { setWasmKernelThreads } from '../register.js';

/** Deterministic values in [-0.5, 0.5), so the same numbers go to both backends. */
function values(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  return new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** Runs `f` on `backend` and returns its result; the backend's own tensor count must not grow. */
async function on(backend: string, f: () => tf.Tensor): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  const before = tf.engine().backend.numDataIds();
  const y = tf.tidy(f);
  const out = { shape: y.shape, values: (await y.data()) as Float32Array };
  y.dispose();
  expect(tf.engine().backend.numDataIds()).toBe(before);
  return out;
}

/** wasm equals cpu within `rel` of the largest reference value. */
async function expectWasmLikeCpu(f: () => tf.Tensor, rel = 1e-4) {
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

/** The same call on one thread and on every thread gives identical bits. */
async function expectThreadsAgree(f: () => tf.Tensor) {
  await tf.setBackend('wasm');
  expect(setWasmKernelThreads(1)).toBe(1);
  const one = await on('wasm', f);
  expect(setWasmKernelThreads(Infinity)).toBe(availableParallelism());
  const all = await on('wasm', f);
  expect(all.values).toEqual(one.values);
}

/** `f` run while a gradient tape records, as in training (where Conv2D takes our kernel). */
function underTape(f: () => tf.Tensor): () => tf.Tensor {
  return () => {
    let out: tf.Tensor | undefined;
    tf.grad((t) => {
      out = tf.keep(f());
      return tf.sum(t);
    })(tf.scalar(0)).dispose();
    return out!;
  };
}

beforeAll(async () => {
  const info = await initBackend('wasm');
  expect(info.details.convnetsKernels).toBe(`convnets wasm SIMD, ${availableParallelism()} thread${availableParallelism() > 1 ? 's' : ''}`);
});

// kernel, stride, padding, dilation, height, width, in channels, out channels, batch
type ConvCase = [number, number, number, number, number, number, number, number, number];
const convCases: ConvCase[] = [
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
];

const nhwc = (n: number, h: number, w: number, c: number) => [n, h, w, c] as [number, number, number, number];
const padding = (p: number): tf.backend_util.ExplicitPadding => [[0, 0], [p, p], [p, p], [0, 0]];

describe("convnets' wasm convolutions equal tfjs cpu", () => {
  it.each(convCases)('kernel %i stride %i padding %i dilation %i, %ix%i, %i->%i channels, batch %i', async (k, s, p, d, h, w, cin, cout, n) => {
    const x = values(nhwc(n, h, w, cin), k * 31 + s);
    const filter = values([k, k, cin, cout], cin + cout);
    const forward = underTape(() => tf.conv2d(tf.tensor4d(x, nhwc(n, h, w, cin)), tf.tensor4d(filter, [k, k, cin, cout]), s, padding(p), 'NHWC', d));
    await expectWasmLikeCpu(forward);
    if (d !== 1) return; // tfjs has no gradient for dilated convolutions
    const { outHeight, outWidth } = tf.backend_util.computeConv2DInfo(nhwc(n, h, w, cin), [k, k, cin, cout], s, 1, padding(p));
    const dy = values(nhwc(n, outHeight, outWidth, cout), 7 * k + p);
    const attrs = { strides: s, pad: padding(p), dataFormat: 'NHWC', dimRoundingMode: undefined } as const;
    const filterGrad = () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, nhwc(n, h, w, cin)), dy: tf.tensor(dy, nhwc(n, outHeight, outWidth, cout)) }, {
        ...attrs,
        filterShape: [k, k, cin, cout],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const inputGrad = () =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dy, nhwc(n, outHeight, outWidth, cout)), filter: tf.tensor4d(filter, [k, k, cin, cout]) }, {
        ...attrs,
        inputShape: nhwc(n, h, w, cin),
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    await expectWasmLikeCpu(filterGrad);
    await expectWasmLikeCpu(inputGrad);
    await expectThreadsAgree(forward);
    await expectThreadsAgree(filterGrad);
    await expectThreadsAgree(inputGrad);
  });

  it("'same' padding with an odd total pads more at the bottom/right, as tfjs", async () => {
    const x = values([2, 10, 9, 8], 3);
    const filter = values([4, 4, 8, 8], 4);
    await expectWasmLikeCpu(underTape(() => tf.conv2d(tf.tensor4d(x, [2, 10, 9, 8]), tf.tensor4d(filter, [4, 4, 8, 8]), 2, 'same')));
  });

  it('outside a gradient tape (inference) the forward convolution stays on XNNPACK, with the same result', async () => {
    const x = values([4, 6, 6, 8], 1);
    const filter = values([3, 3, 8, 16], 2);
    const conv = () => tf.conv2d(tf.tensor4d(x, [4, 6, 6, 8]), tf.tensor4d(filter, [3, 3, 8, 16]), 1, 'same');
    const ours = await on('wasm', underTape(conv));
    const xnnpack = await on('wasm', conv);
    expect(Math.max(...xnnpack.values.map((v, i) => Math.abs(v - ours.values[i]!)))).toBeLessThan(1e-5);
  });
});

describe("convnets' wasm matrix multiplies equal tfjs cpu", () => {
  // rows, depth, columns, batch of a, batch of b
  const shapes: Array<[number, number, number, number, number]> = [
    [37, 53, 29, 1, 1],
    [300, 200, 100, 1, 1],
    [128, 512, 10, 1, 1],
    [5, 7, 3, 3, 3],
    [9, 16, 24, 4, 1], // b broadcast
    [1, 64, 1, 1, 2],
  ];
  for (const [m, k, n, ba, bb] of shapes) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${ba}x[${m}, ${k}] . ${bb}x[${k}, ${n}], transposeA ${tA}, transposeB ${tB}`, async () => {
        const a = values([ba, tA ? k : m, tA ? m : k], m + k);
        const b = values([bb, tB ? n : k, tB ? k : n], k + n);
        const f = () => tf.matMul(tf.tensor3d(a, [ba, tA ? k : m, tA ? m : k]), tf.tensor3d(b, [bb, tB ? n : k, tB ? k : n]), tA, tB);
        await expectWasmLikeCpu(f);
        await expectThreadsAgree(f);
      });
    }
  }
});

describe("convnets' wasm reductions and max-pool gradient equal tfjs cpu", () => {
  it.each([
    [[16, 7, 7, 64], [0, 1, 2], false],
    [[16, 7, 7, 64], [-4, -3, -2], true],
    [[3, 5, 7], [0, 1], false],
    [[300, 19], [0], true],
  ] as const)('sum and mean of %j over %j (keepDims %s)', async (shape, axis, keepDims) => {
    const x = values([...shape], shape.length);
    await expectWasmLikeCpu(() => tf.sum(tf.tensor(x, [...shape]), [...axis], keepDims));
    await expectWasmLikeCpu(() => tf.mean(tf.tensor(x, [...shape]), [...axis], keepDims));
    await expectThreadsAgree(() => tf.sum(tf.tensor(x, [...shape]), [...axis], keepDims));
  });

  it('other reductions keep tfjs kernels and stay right', async () => {
    const x = values([4, 5, 6, 7], 9);
    await expectWasmLikeCpu(() => tf.sum(tf.tensor4d(x, [4, 5, 6, 7]), [1, 2]));
    await expectWasmLikeCpu(() => tf.mean(tf.tensor4d(x, [4, 5, 6, 7])));
  });

  it.each([
    [3, 2, 1, 16, 14, 14, 64],
    [2, 2, 0, 3, 9, 8, 5],
    [3, 1, 1, 2, 6, 7, 3],
  ])('max-pool %i stride %i padding %i gradient, input [%i, %i, %i, %i], with ties', async (k, s, p, n, h, w, c) => {
    const x = values([n, h, w, c], k + s).map((v) => Math.round(v * 6) / 2);
    const f = () => tf.grad((t) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, k, s, padding(p)), 1.5)))(tf.tensor4d(x, [n, h, w, c]));
    await expectWasmLikeCpu(f, 1e-6);
    await expectThreadsAgree(f);
  });
});

describe("convnets' fused train-mode batch norm on wasm equals nn's composite on cpu", () => {
  it.each([
    [16, 7, 7, 64],
    [3, 5, 4, 21],
    [2, 1, 1, 512],
  ])('input [%i, %i, %i, %i]: output, running statistics and gradients', async (n, h, w, c) => {
    const { BatchNorm2d } = await import('@convnets/nn');
    const x = values([n, h, w, c], c).map((v, i) => v * 3 + (i % c) * 0.1);
    const dy = values([n, h, w, c], c + 1);
    const gamma = values([c], 5).map((v) => v + 1);
    const beta = values([c], 6);
    const run = () => {
      const bn = new BatchNorm2d(c);
      bn.weight!.assign(tf.tensor1d(gamma));
      bn.bias!.assign(tf.tensor1d(beta));
      bn.train();
      const input = tf.tensor4d(x, [n, h, w, c]);
      const loss = (t: tf.Tensor) => tf.sum(tf.mul(bn.forward(t), tf.tensor4d(dy, [n, h, w, c]))) as tf.Scalar;
      const { value, grads } = tf.variableGrads(() => loss(input), [bn.weight!, bn.bias!]);
      const dx = tf.grad(loss)(input);
      const out = tf.concat([tf.reshape(value, [1]), tf.reshape(dx, [-1]), grads[bn.weight!.name]!, grads[bn.bias!.name]!, bn.running_mean, bn.running_var]);
      bn.dispose();
      return out;
    };
    await expectWasmLikeCpu(run);
    await expectThreadsAgree(run);
  });

  it('is what BatchNorm2d runs on wasm here', async () => {
    await tf.setBackend('wasm');
    expect(tf.getKernel('ConvnetsBatchNormTrain', 'wasm')).toBeDefined();
  });
});

describe("convnets' fused SGD update on wasm", () => {
  it.each([
    [[3, 3, 64, 64], 0.9, 5e-4, false],
    [[1000003], 0.9, 0, true],
    [[7, 5], 0.5, 1e-2, true],
  ] as const)('shape %j, momentum %f, weight decay %f, Nesterov %s: the same bits as the ops it replaces', async (shape, momentum, weightDecay, nesterov) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const [p, g, b] = [1, 2, 3].map((seed) => tf.tensor(values([size], seed), [...shape]));
    const lr = 0.0372;
    const fused = () => {
      const out = tf.engine().runKernel('ConvnetsSgdUpdate', { param: p!, grad: g!, buffer: b! }, { lr, momentum, weightDecay, nesterov }) as tf.Tensor[];
      return tf.concat([tf.reshape(out[0]!, [-1]), tf.reshape(out[1]!, [-1])]);
    };
    const ops = () => {
      const d = weightDecay ? tf.add(g!, tf.mul(p!, weightDecay)) : g!;
      const buf = tf.add(tf.mul(b!, momentum), d);
      const update = nesterov ? tf.add(d, tf.mul(buf, momentum)) : buf;
      return tf.concat([tf.reshape(tf.sub(p!, tf.mul(update, lr)), [-1]), tf.reshape(buf, [-1])]);
    };
    expect((await on('wasm', fused)).values).toEqual((await on('wasm', ops)).values);
    await expectThreadsAgree(fused);
    tf.dispose([p!, g!, b!]);
  });
});

describe('Identity on wasm', () => {
  it('shares the data of its input (no copy) and frees it only when both are gone', async () => {
    await tf.setBackend('wasm');
    const before = tf.engine().backend.numDataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(before + 1);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });
});

describe("training on convnets' wasm kernels", () => {
  it('keeps tensor and heap-buffer counts flat over 1000 steps while the loss falls', async () => {
    const { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } = await import('@convnets/nn');
    const { Sgd, crossEntropy } = await import('@convnets/trainer');
    await tf.setBackend('wasm');
    const net = new Sequential(
      new Conv2d(3, 16, 3, { padding: 1 }), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
      new Conv2d(16, 16, 3, { padding: 1, stride: 2 }), new BatchNorm2d(16), new ReLU(),
      new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 4),
    );
    net.train();
    const params = net.parameters();
    const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
    const x = tf.tensor4d(values([8, 12, 12, 3], 1), [8, 12, 12, 3]);
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    const counts: Array<[number, number]> = [];
    const losses: number[] = [];
    for (let step = 1; step <= 1000; step++) {
      const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), y), params);
      losses.push(value.dataSync()[0]!);
      optimizer.step(params, params.map((p) => grads[p.name]!), 0.05);
      tf.dispose([value, ...Object.values(grads)]);
      if (step === 10 || step === 1000) counts.push([tf.memory().numTensors, tf.engine().backend.numDataIds()]);
    }
    expect(counts[1]).toEqual(counts[0]);
    expect(losses[999]!).toBeLessThan(losses[0]! / 4);
    tf.dispose([x, y]);
    optimizer.dispose();
    net.dispose();
  });
});

describe("the trainer's optimizers on convnets' fused wasm updates", () => {
  const optimizers = {
    'Sgd, momentum and weight decay': async () => new (await import('@convnets/trainer')).Sgd({ momentum: 0.9, weightDecay: 5e-4 }),
    'Sgd, Nesterov': async () => new (await import('@convnets/trainer')).Sgd({ momentum: 0.8, nesterov: true }),
    'Adam, L2 weight decay': async () => new (await import('@convnets/trainer')).Adam({ weightDecay: 1e-2 }),
    'AdamW (decoupled weight decay)': async () => new (await import('@convnets/trainer')).Adam({ weightDecay: 1e-2, decoupled: true }),
    'Adam, no weight decay': async () => new (await import('@convnets/trainer')).Adam(),
  };
  it.each(Object.keys(optimizers))('%s: three steps give the same bits as its tfjs ops on cpu', async (name) => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const optimizer = await optimizers[name as keyof typeof optimizers]();
      const params = [tf.variable(tf.tensor(values([3, 3, 16, 8], 1), [3, 3, 16, 8])), tf.variable(tf.tensor1d(values([70001], 2)))];
      for (let step = 0; step < 3; step++) {
        const grads = params.map((p, i) => tf.tensor(values(p.shape, 10 * step + i), p.shape));
        optimizer.step(params, grads, 0.05 / (step + 1));
        tf.dispose(grads);
      }
      const out = params.map((p) => p.dataSync().slice());
      const state = [...optimizer.state().values()].map((t) => t.dataSync().slice());
      optimizer.dispose();
      tf.dispose(params);
      return [...out, ...state];
    };
    const cpu = await run('cpu');
    expect(tf.getKernel(name.startsWith('Sgd') ? 'ConvnetsSgdUpdate' : 'ConvnetsAdamUpdate', 'wasm')).toBeDefined();
    expect(await run('wasm')).toEqual(cpu);
  });
});
