import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../init.js';
import * as check from '../../test-utils/kernel-checks.js';

const missing = check.nativeMissing();

describe.skipIf(missing)('the oneDNN kernels (native) equal tfjs cpu', () => {
  beforeAll(async () => {
    const info = await initBackend('native');
    expect(info.backend).toBe('wasm');
    expect(info.label).toMatch(/^wasm \(SIMD on, \d+ threads?\) \+ oneDNN 2\.\d+\.\d+ native kernels$/);
    expect(info.details.nativeKernels).toMatch(/Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput, BatchMatMul/);
  });

  it.each(check.convCases)(
    'convolution: kernel %i stride %i padding %i dilation %i, %ix%i, %i->%i channels, batch %i',
    async (...c) => {
      const { forward, gradients } = check.convFunctions(c);
      await check.expectLikeCpu(forward);
      if (gradients) {
        await check.expectLikeCpu(gradients.filterGrad);
        await check.expectLikeCpu(gradients.inputGrad);
      }
    },
  );

  it("convolution: 'same' padding with an odd total pads more at the bottom/right, as tfjs", async () => {
    const x = check.values([2, 10, 9, 8], 3);
    const filter = check.values([4, 4, 8, 8], 4);
    await check.expectLikeCpu(
      check.underTape(() => tf.conv2d(tf.tensor4d(x, [2, 10, 9, 8]), tf.tensor4d(filter, [4, 4, 8, 8]), 2, 'same')),
    );
    const stride2 = () =>
      tf.grad((t) => tf.sum(tf.conv2d(t as tf.Tensor4D, tf.tensor4d(filter, [4, 4, 8, 8]), 2, 'same')))(
        tf.tensor4d(x, [2, 10, 9, 8]),
      );
    await check.expectLikeCpu(stride2);
  });

  for (const shape of check.matMulShapes) {
    for (const [tA, tB] of check.transposes) {
      const [m, k, n, ba, bb] = shape;
      it(`matmul: ${ba}x[${m}, ${k}] . ${bb}x[${k}, ${n}], transposeA ${tA}, transposeB ${tB}`, async () => {
        await check.expectLikeCpu(check.matMulFunction(shape, tA, tB));
      });
    }
  }

  it.each(check.batchNormShapes)(
    "batch norm (train mode) on [%i, %i, %i, %i] equals nn's composite: output, statistics, gradients",
    async (n, h, w, c) => {
      await check.expectLikeCpu(check.batchNormStep(n, h, w, c));
    },
  );

  it.each([
    [[16, 7, 7, 64], true, true],
    [[3, 5, 21], false, true],
    [[2, 1, 1, 512], true, false],
  ] as const)(
    'eval-mode batch norm (FusedBatchNorm) on %j, scale %s, offset %s, equals cpu',
    async (shape, withScale, withOffset) => {
      const c = shape[shape.length - 1]!;
      const x = check.values([...shape], 3);
      const [mean, variance, scale, offset] = [5, 6, 7, 8].map((seed) => check.values([c], seed));
      await check.expectLikeCpu(
        () =>
          tf.batchNorm(
            tf.tensor(x, [...shape]),
            tf.tensor1d(mean!),
            tf.tensor1d(variance!.map((v) => v + 1)),
            withOffset ? tf.tensor1d(offset!) : undefined,
            withScale ? tf.tensor1d(scale!) : undefined,
            1e-5,
          ),
        1e-5,
      );
    },
  );

  it('runs an inference convolution too, also below the pixel count where wasm keeps XNNPACK', async () => {
    const x = check.values([1, 3, 3, 16], 1);
    const filter = check.values([3, 3, 16, 8], 2);
    await check.expectLikeCpu(() =>
      tf.conv2d(tf.tensor4d(x, [1, 3, 3, 16]), tf.tensor4d(filter, [3, 3, 16, 8]), 1, 'same'),
    );
  });

  it.each(check.avgPoolCases)('average-pool %i stride %i (%s) gradient on %j equals cpu', async (...c) => {
    await check.expectLikeCpu(check.avgPoolGradFunction(c), 1e-6);
  });

  it('concatenation along any axis (an empty part skipped) and its gradient, a split, equal cpu exactly', async () => {
    for (const f of check.concatFunctions())
      check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
  });

  it.each(check.maxPoolCases)(
    'max-pool %i stride %i padding %i gradient, input [%i, %i, %i, %i], with ties',
    async (...c) => {
      await check.expectLikeCpu(check.maxPoolGradFunction(c), 1e-6);
    },
  );

  it.each(check.binaryCases)('add, sub, multiply with %s equal cpu exactly', async (...c) => {
    for (const f of check.binaryFunctions(c))
      check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
  });

  it(
    'relu and its gradient (step), with NaN, -0 and infinities, ' +
      "give exactly cpu's values; int32 arithmetic keeps tfjs kernels",
    async () => {
      for (const f of check.unaryFunctions())
        check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
      await check.expectLikeCpu(check.reluGradFunction(), 1e-7);
      const ints = await check.on('wasm', () =>
        tf.cast(tf.add(tf.tensor1d([1, 2], 'int32'), tf.tensor1d([3, 4], 'int32')), 'float32'),
      );
      expect(Array.from(ints.values)).toEqual([4, 6]);
    },
  );

  it.each([
    [
      [1, 1, 64, 32],
      [
        [1, 1],
        [1, 1],
        [0, 0],
        [0, 0],
      ],
      0,
    ],
    [
      [5, 7],
      [
        [2, 0],
        [0, 3],
      ],
      1.5,
    ],
    [
      [2, 3, 4, 5, 6],
      [
        [0, 1],
        [1, 0],
        [2, 2],
        [0, 0],
        [3, 1],
      ],
      -2,
    ],
    [[9], [[4, 5]], 0],
  ] as const)('pad %j by %j with %f equals cpu', async (shape, paddings, value) => {
    const x = check.values([...shape], shape.length);
    const f = () =>
      tf.pad(
        tf.tensor(x, [...shape]),
        paddings.map((p) => [...p] as [number, number]),
        value,
      );
    check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
  });

  it.each([
    [[3, 3, 64, 64], 0.9, 5e-4, false],
    [[1000003], 0.9, 0, true],
  ] as const)(
    'SGD update on %j (momentum %f, weight decay %f, Nesterov %s): the bits of the ops it replaces',
    async (shape, momentum, weightDecay, nesterov) => {
      const size = shape.reduce((p, q) => p * q, 1);
      const [p, g, buf] = [1, 2, 3].map((seed) => check.values([size], seed));
      const lr = 0.0372;
      const tensors = () => [p!, g!, buf!].map((v) => tf.tensor(v, [...shape]));
      const fused = () => {
        const [param, grad, buffer] = tensors();
        const out = tf
          .engine()
          .runKernel(
            'ConvnetsSgdUpdate',
            { param: param!, grad: grad!, buffer: buffer! },
            { lr, momentum, weightDecay, nesterov },
          ) as tf.Tensor[];
        return tf.concat([tf.reshape(out[0]!, [-1]), tf.reshape(out[1]!, [-1])]);
      };
      const ops = () => {
        const [param, grad, buffer] = tensors();
        const d = weightDecay ? tf.add(grad!, tf.mul(param!, weightDecay)) : grad!;
        const next = tf.add(tf.mul(buffer!, momentum), d);
        const update = nesterov ? tf.add(d, tf.mul(next, momentum)) : next;
        return tf.concat([tf.reshape(tf.sub(param!, tf.mul(update, lr)), [-1]), tf.reshape(next, [-1])]);
      };
      check.expectSameValues((await check.on('wasm', fused)).values, (await check.on('cpu', ops)).values);
    },
  );

  it('training keeps tensor and heap-buffer counts flat over 1000 steps while the loss falls', async () => {
    await tf.setBackend('wasm');
    await check.expectFlatTraining();
  });

  it('gives the same bits on every run (a resumed run computes what a straight one does)', async () => {
    const { forward, gradients } = check.convFunctions(check.convCases[2]!);
    for (const f of [forward, gradients!.filterGrad, gradients!.inputGrad, check.batchNormStep(16, 7, 7, 64)]) {
      check.expectSameValues((await check.on('wasm', f)).values, (await check.on('wasm', f)).values);
    }
  });

  it('a request for plain wasm afterwards runs without them', async () => {
    const info = await initBackend('wasm');
    expect(info.details.nativeKernels).toBeUndefined();
    expect(info.label).not.toMatch(/oneDNN/);
    const back = await initBackend('native');
    expect(back.details.nativeKernels).toBeDefined();
  });
});

describe.runIf(missing)('without the oneDNN addon', () => {
  it("'native' fails with the reason and 'auto' falls back to wasm, saying why", async () => {
    await expect(initBackend('native')).rejects.toThrow(missing);
    const info = await initBackend('auto');
    expect(info.backend).toBe('wasm');
    expect(info.skipped.find((s) => s.backend === 'native')?.reason).toBe(missing);
  });
});
