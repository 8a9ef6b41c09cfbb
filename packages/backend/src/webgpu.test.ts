/**
 * webgpu in Node, on Dawn: on a real adapter wherever there is one (in tests, Chromium's SwiftShader: see
 * tooling/config's Vitest config), skipped with the reason elsewhere, required under CONVNETS_WEBGPU_REQUIRED=1 (CI).
 * The seven nets' forward and SGD step against cpu are in parity.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, withSeed } from '@convnets/nn';
import { Sgd, encodeTrainingState, fit, restoreTrainingState, type Batches } from '@convnets/trainer';
import { describe, expect, it } from 'vitest';
import { initBackend } from './init.js';
import { moveTensors } from './move.js';
import { values, webgpuMissing } from '../test-utils/kernel-checks.js';
import { DeviceLostError, describeAdapter, selfCheck, throwIfDeviceLost } from './webgpu.js';

const missing = await webgpuMissing();

describe('adapters', () => {
  it('tells software adapters (SwiftShader, lavapipe, fallback) from hardware ones', () => {
    const named = (info: object, isFallbackAdapter?: boolean) =>
      describeAdapter({ info, isFallbackAdapter, requestDevice: async () => ({}) });
    expect(named({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' })).toEqual({
      name: 'SwiftShader driver 5.0.0 (google swiftshader)',
      software: true,
    });
    // Chromium leaves the description empty: vendor and architecture name it.
    expect(named({ vendor: 'google', architecture: 'swiftshader', description: '' })).toEqual({
      name: 'google swiftshader',
      software: true,
    });
    expect(named({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }).software).toBe(true);
    expect(named({ vendor: 'intel', description: 'Microsoft Basic Render Driver' }).software).toBe(true);
    expect(named({ vendor: 'unknown' }, true).software).toBe(true);
    expect(named({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3080' })).toEqual({
      name: 'NVIDIA GeForce RTX 3080 (nvidia ampere)',
      software: false,
    });
    expect(named({ vendor: 'apple', architecture: 'metal-3' }).software).toBe(false);
  });
});

describe.skipIf(missing)('webgpu in Node through Dawn', () => {
  it('starts by name on any adapter, names it, and computes its self-check right', async () => {
    const info = await initBackend('webgpu');
    expect(info).toMatchObject({ backend: 'webgpu', name: 'webgpu', skipped: [], trainingKernels: ['BatchMatMul'] });
    expect(info.label).toBe(`webgpu (${info.details.adapter}${info.details.softwareAdapter ? ', software' : ''})`);
    expect(await selfCheck()).toBeUndefined();
  });

  it("multiplies with every transpose flag as cpu does, a long inner dimension too (tfjs 4.22's split-K bug)", async () => {
    for (const [transposeA, transposeB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ]) {
      const product = async (backend: string) => {
        await initBackend(backend as 'cpu');
        const a = tf.tensor2d(values([4 * 4096], 1), transposeA ? [4096, 4] : [4, 4096]);
        const b = tf.tensor2d(values([4096 * 128], 2), transposeB ? [128, 4096] : [4096, 128]);
        const y = tf.matMul(a, b, transposeA, transposeB);
        const out = await y.data();
        tf.dispose([a, b, y]);
        return out;
      };
      const cpu = await product('cpu');
      const gpu = await product('webgpu');
      const scale = Math.max(...cpu.map(Math.abs));
      const worst = Math.max(...gpu.map((v, i) => Math.abs(v - cpu[i]!)));
      expect(worst / scale, `transposeA ${transposeA}, transposeB ${transposeB}`).toBeLessThan(1e-5);
    }
  });

  it('moves tensors to cpu and back with asynchronous reads only', async () => {
    await initBackend('webgpu');
    const gpu = tf.backend();
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const y = tf.matMul(x, x); // computed on the GPU: no copy of it on the CPU side
    const readSync = gpu.readSync;
    gpu.readSync = () => {
      throw new Error('a synchronous read of webgpu');
    };
    try {
      await initBackend('cpu');
      await moveTensors([x, y], 'cpu');
      expect(Array.from(tf.add(y, 1).dataSync())).toEqual([8, 11, 16, 23]);
      await initBackend('webgpu');
      await moveTensors([y], 'webgpu');
      expect(Array.from(await tf.add(y, 1).data())).toEqual([8, 11, 16, 23]);
      await expect(moveTensors([y], 'nope')).rejects.toThrow("moveTensors: backend 'nope' has not been started");
    } finally {
      gpu.readSync = readSync;
      tf.dispose([x, y]);
    }
  });

  /** 2 seeded batches of 8 MNIST-shaped images (28x28x1), the same every epoch. */
  const batches: Batches = {
    length: 2,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < 2; i++) {
        yield {
          x: tf.tensor4d(values([8 * 28 * 28], 10 + i), [8, 28, 28, 1]),
          y: tf.tensor1d(
            Array.from({ length: 8 }, (_, j) => (j * 3 + i) % 10),
            'int32',
          ),
        };
      }
    },
  };

  /**
   * A small net of the notebook's layer kinds (convolution, train-mode BatchNorm, pool, linear) for MNIST's shape:
   * what fit does on webgpu is the same for any net (every notebook net's step is checked in parity.test.ts), and a
   * software adapter trains ResNet-18 a hundred times slower.
   */
  const smallNet = (seed: number) =>
    withSeed(
      seed,
      () =>
        new Sequential(
          new Conv2d(1, 8, 3, { padding: 1 }),
          new BatchNorm2d(8),
          new ReLU(),
          new MaxPool2d(2),
          new Conv2d(8, 16, 3, { stride: 2, padding: 1 }),
          new BatchNorm2d(16),
          new ReLU(),
          new Flatten(),
          new Linear(16 * 7 * 7, 10),
        ),
    );

  /** fit of a seed-0 small net on `backend`: per-batch losses and tensor counts after each epoch. */
  async function fitOn(backend: string, epochs = 2, options: Partial<Parameters<typeof fit>[1]> = {}) {
    await initBackend(backend as 'cpu');
    const model = smallNet(0);
    const losses: number[] = [];
    const tensors: number[] = [];
    const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
    const run = fit(model, {
      train: batches,
      epochs,
      optimizer,
      lr: 0.05,
      onBatch: (e) => {
        losses.push(e.loss);
      },
      onEpoch: () => {
        tensors.push(tf.memory().numTensors);
      },
      ...options,
    });
    return { model, optimizer, run, losses, tensors };
  }

  it(
    'fit trains as cpu does, with a flat tensor count',
    async () => {
      const cpu = await fitOn('cpu');
      await cpu.run;
      const gpu = await fitOn('webgpu');
      await gpu.run;
      expect(gpu.losses).toHaveLength(4);
      // Every step follows cpu's run: the first from the same weights, the later ones after the same updates.
      gpu.losses.forEach((loss, i) => {
        expect(Math.abs(loss - cpu.losses[i]!) / cpu.losses[i]!, `batch ${i}`).toBeLessThan(1e-4);
      });
      expect(gpu.tensors[1]).toBe(gpu.tensors[0]);
      for (const r of [cpu, gpu]) {
        r.optimizer.dispose();
        r.model.dispose();
      }
    },
    5 * 60_000,
  );

  it(
    'a device lost mid-run stops fit with DeviceLostError; the last checkpoint resumes on cpu',
    async () => {
      let saved: Uint8Array | undefined;
      const gpu = await fitOn('webgpu', 2, {
        onCheckpoint: async (state) => {
          saved = await encodeTrainingState(gpu.model, state);
        },
        onBatch: (e) => {
          // Epoch 2: the GPU goes away under the run (what a driver reset or an unplugged GPU does).
          if (e.epoch === 2 && e.batch === 1)
            (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
        },
      });
      const failure = await gpu.run.catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(Error);
      const explained = await throwIfDeviceLost(failure).catch((err: unknown) => err);
      expect(explained).toBeInstanceOf(DeviceLostError);
      expect((explained as Error).message).toMatch(/^the WebGPU device was lost \(destroyed/);

      // The checkpoint after epoch 1 (bytes) continues the run on another backend.
      await initBackend('cpu');
      const model = smallNet(1);
      const resume = restoreTrainingState(model, saved!);
      expect(resume.epoch).toBe(1);
      const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
      const { history } = await fit(model, { train: batches, epochs: 2, optimizer, lr: 0.05, resume });
      expect(history.trainLoss).toHaveLength(2);
      expect(history.trainLoss.every(Number.isFinite)).toBe(true);
      optimizer.dispose();
      model.dispose();
      // webgpu starts again afterwards, on a new device.
      expect((await initBackend('webgpu')).backend).toBe('webgpu');
      expect(await selfCheck()).toBeUndefined();
    },
    5 * 60_000,
  );
});

it.runIf(missing)('webgpu is skipped here, and why', () => {
  expect(missing).toMatch(/WebGPU|webgpu|Vulkan/);
});
