import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../init.js';
import * as check from '../../test-utils/kernel-checks.js';
import { loaded } from './kernel.js';
import { setWasmKernelThreads } from './register.js';

/** The same call check.on one thread and check.on every thread gives identical bits. */
async function expectThreadsAgree(f: () => tf.Tensor) {
  await tf.setBackend('wasm');
  expect(setWasmKernelThreads(1)).toBe(1);
  const one = await check.on('wasm', f);
  expect(setWasmKernelThreads(Infinity)).toBe(availableParallelism());
  const all = await check.on('wasm', f);
  check.expectSameValues(all.values, one.values);
}

beforeAll(async () => {
  const info = await initBackend('wasm');
  expect(info.details.convnetsKernels).toBe(
    `convnets wasm SIMD, ${availableParallelism()} thread${availableParallelism() > 1 ? 's' : ''}`,
  );
});

describe("convnets' wasm convolutions equal tfjs cpu", () => {
  it.each(check.convCases)(
    'kernel %i stride %i padding %i dilation %i, %ix%i, %i->%i channels, batch %i',
    async (...c) => {
      const { forward, gradients } = check.convFunctions(c);
      await check.expectLikeCpu(forward);
      await expectThreadsAgree(forward);
      if (!gradients) return;
      for (const f of [gradients.filterGrad, gradients.inputGrad]) {
        await check.expectLikeCpu(f);
        await expectThreadsAgree(f);
      }
    },
  );

  it("'same' padding with an odd total pads more at the bottom/right, as tfjs", async () => {
    const x = check.values([2, 10, 9, 8], 3);
    const filter = check.values([4, 4, 8, 8], 4);
    await check.expectLikeCpu(
      check.underTape(() => tf.conv2d(tf.tensor4d(x, [2, 10, 9, 8]), tf.tensor4d(filter, [4, 4, 8, 8]), 2, 'same')),
    );
  });

  it('a convolution of fewer than 256 output pixels stays on XNNPACK, a larger one runs on ours; both equal cpu', async () => {
    await tf.setBackend('wasm');
    const ours = vi.spyOn(loaded.get(tf.backend())!, 'run');
    const conv = (n: number) => {
      const x = check.values([n, 6, 6, 8], 1);
      const filter = check.values([3, 3, 8, 16], 2);
      return () => tf.conv2d(tf.tensor4d(x, [n, 6, 6, 8]), tf.tensor4d(filter, [3, 3, 8, 16]), 1, 'same');
    };
    const kernelsRun = () => ours.mock.calls.map(([name]) => name);
    await check.expectLikeCpu(conv(4)); // 144 pixels
    expect(kernelsRun()).not.toContain('conv_indirect');
    await check.expectLikeCpu(conv(8)); // 288 pixels
    expect(kernelsRun()).toContain('conv_indirect');
    ours.mockRestore();
  });
});

describe("convnets' wasm matrix multiplies equal tfjs cpu", () => {
  for (const shape of check.matMulShapes) {
    for (const [tA, tB] of check.transposes) {
      const [m, k, n, ba, bb] = shape;
      it(`${ba}x[${m}, ${k}] . ${bb}x[${k}, ${n}], transposeA ${tA}, transposeB ${tB}`, async () => {
        const f = check.matMulFunction(shape, tA, tB);
        await check.expectLikeCpu(f);
        await expectThreadsAgree(f);
      });
    }
  }
});

describe("convnets' wasm reductions, pool gradients, concatenation and split equal tfjs cpu", () => {
  it.each([
    [[16, 7, 7, 64], [0, 1, 2], false],
    [[16, 7, 7, 64], [-4, -3, -2], true],
    [[3, 5, 7], [0, 1], false],
    [[300, 19], [0], true],
  ] as const)('sum and mean of %j over %j (keepDims %s)', async (shape, axis, keepDims) => {
    const x = check.values([...shape], shape.length);
    await check.expectLikeCpu(() => tf.sum(tf.tensor(x, [...shape]), [...axis], keepDims));
    await check.expectLikeCpu(() => tf.mean(tf.tensor(x, [...shape]), [...axis], keepDims));
    await expectThreadsAgree(() => tf.sum(tf.tensor(x, [...shape]), [...axis], keepDims));
  });

  it('other reductions keep tfjs kernels and stay right', async () => {
    const x = check.values([4, 5, 6, 7], 9);
    await check.expectLikeCpu(() => tf.sum(tf.tensor4d(x, [4, 5, 6, 7]), [1, 2]));
    await check.expectLikeCpu(() => tf.mean(tf.tensor4d(x, [4, 5, 6, 7])));
  });

  it.each(check.maxPoolCases)(
    'max-pool %i stride %i padding %i gradient, input [%i, %i, %i, %i], with ties',
    async (...c) => {
      const f = check.maxPoolGradFunction(c);
      await check.expectLikeCpu(f, 1e-6);
      await expectThreadsAgree(f);
    },
  );

  it.each(check.avgPoolCases)('average-pool %i stride %i (%s) gradient on %j', async (...c) => {
    const f = check.avgPoolGradFunction(c);
    await check.expectLikeCpu(f, 1e-6);
    await expectThreadsAgree(f);
  });

  it.each(check.binaryCases)('add, sub, multiply with %s: exactly cpu', async (...c) => {
    for (const f of check.binaryFunctions(c)) {
      check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
      await expectThreadsAgree(f);
    }
  });

  it("relu and step with NaN, -0 and infinities, and relu's gradient: exactly cpu", async () => {
    for (const f of [...check.unaryFunctions(), check.reluGradFunction()]) {
      check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
      await expectThreadsAgree(f);
    }
  });

  it('concatenation along any axis (an empty part skipped) and its gradient, a split: exactly cpu', async () => {
    for (const f of check.concatFunctions()) {
      check.expectSameValues((await check.on('wasm', f)).values, (await check.on('cpu', f)).values);
      await expectThreadsAgree(f);
    }
  });
});

describe("convnets' fused train-mode batch norm on wasm equals nn's composite on cpu", () => {
  it.each(check.batchNormShapes)(
    'input [%i, %i, %i, %i]: output, running statistics and gradients',
    async (n, h, w, c) => {
      const run = check.batchNormStep(n, h, w, c);
      await check.expectLikeCpu(run);
      await expectThreadsAgree(run);
    },
  );

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
  ] as const)(
    'shape %j, momentum %f, weight decay %f, Nesterov %s: the same bits as the ops it replaces',
    async (shape, momentum, weightDecay, nesterov) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const [p, g, b] = [1, 2, 3].map((seed) => tf.tensor(check.values([size], seed), [...shape]));
      const lr = 0.0372;
      const fused = () => {
        const out = tf
          .engine()
          .runKernel(
            'ConvnetsSgdUpdate',
            { param: p!, grad: g!, buffer: b! },
            { lr, momentum, weightDecay, nesterov },
          ) as tf.Tensor[];
        return tf.concat([tf.reshape(out[0]!, [-1]), tf.reshape(out[1]!, [-1])]);
      };
      const ops = () => {
        const d = weightDecay ? tf.add(g!, tf.mul(p!, weightDecay)) : g!;
        const buf = tf.add(tf.mul(b!, momentum), d);
        const update = nesterov ? tf.add(d, tf.mul(buf, momentum)) : buf;
        return tf.concat([tf.reshape(tf.sub(p!, tf.mul(update, lr)), [-1]), tf.reshape(buf, [-1])]);
      };
      check.expectSameValues((await check.on('wasm', fused)).values, (await check.on('wasm', ops)).values);
      await expectThreadsAgree(fused);
      tf.dispose([p!, g!, b!]);
    },
  );
});

describe('Identity and a cast to the same dtype on wasm', () => {
  it.each([
    ['clone', (x: tf.Tensor) => tf.clone(x)],
    ['cast', (x: tf.Tensor) => tf.cast(x, 'float32')],
  ] as const)('%s shares the data of its input (no copy) and frees it only when both are gone', async (_, f) => {
    await tf.setBackend('wasm');
    const before = tf.engine().backend.numDataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const y = f(x);
    expect(tf.engine().backend.numDataIds()).toBe(before + 1);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });

  it('a cast to another dtype still converts', async () => {
    await tf.setBackend('wasm');
    const y = tf.cast(tf.tensor1d([1.7, -2.2, 0]), 'int32');
    expect([y.dtype, Array.from(await y.data())]).toEqual(['int32', [1, -2, 0]]);
    y.dispose();
  });
});

describe("training on convnets' wasm kernels", () => {
  it('keeps tensor and heap-buffer counts flat over 1000 steps while the loss falls', async () => {
    await tf.setBackend('wasm');
    await check.expectFlatTraining();
  });
});

describe("the trainer's optimizers on convnets' fused wasm updates", () => {
  const optimizers = {
    'Sgd, momentum and weight decay': async () =>
      new (await import('@convnets/trainer')).Sgd({ momentum: 0.9, weightDecay: 5e-4 }),
    'Sgd, Nesterov': async () => new (await import('@convnets/trainer')).Sgd({ momentum: 0.8, nesterov: true }),
    'Adam, L2 weight decay': async () => new (await import('@convnets/trainer')).Adam({ weightDecay: 1e-2 }),
    'AdamW (decoupled weight decay)': async () =>
      new (await import('@convnets/trainer')).Adam({ weightDecay: 1e-2, decoupled: true }),
    'Adam, no weight decay': async () => new (await import('@convnets/trainer')).Adam(),
  };
  it.each(Object.keys(optimizers))('%s: three steps give the same bits as its tfjs ops on cpu', async (name) => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const optimizer = await optimizers[name as keyof typeof optimizers]();
      const params = [
        tf.variable(tf.tensor(check.values([3, 3, 16, 8], 1), [3, 3, 16, 8])),
        tf.variable(tf.tensor1d(check.values([70001], 2))),
      ];
      for (let step = 0; step < 3; step++) {
        const grads = params.map((p, i) => tf.tensor(check.values(p.shape, 10 * step + i), p.shape));
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
