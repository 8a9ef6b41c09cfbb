import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { FUSED_ADAM, FUSED_BATCH_NORM, FUSED_KERNELS, FUSED_SGD } from '@convnets/nn';
import { availableParallelism } from 'node:os';
import { BackendUnavailableError, initBackend } from './init.js';
import { describeImportFailure } from './optional.js';
import { WasmHeapError } from './wasm-setup.js';
import { NATIVE_KERNELS, TRAINING_KERNELS } from './kernels/register.js';
import { nativeMissing, webgpuMissing } from '../test-utils/kernel-checks.js';

describe('initBackend in Node', () => {
  it(
    "'auto' skips tfjs-node(-gpu) when absent, says why, and starts " +
      'wasm with the training kernels (native ones where oneDNN runs)',
    async () => {
      const info = await initBackend('auto');
      const missing = nativeMissing();
      const gpu = await webgpuMissing();
      expect(info.backend).toBe('wasm');
      expect(info.name).toBe(missing ? 'wasm' : 'native');
      expect(tf.getBackend()).toBe('wasm');
      expect(info.skipped).toEqual([
        {
          backend: 'tensorflow',
          reason:
            '@tensorflow/tfjs-node-gpu is not installed (npm install @tensorflow/tfjs-node-gpu); ' +
            '@tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node)',
        },
        expect.objectContaining({
          backend: 'webgpu',
          // 'auto' takes a hardware adapter only (tests run on SwiftShader where Chromium is installed)
          reason: gpu || expect.stringMatching(/^the only adapter is software \(SwiftShader.*\): slower than native/),
        }),
        ...(missing ? [{ backend: 'native', reason: missing }] : []),
      ]);
      if (!missing)
        expect(info.details.nativeKernels).toMatch(
          new RegExp(`^oneDNN 2\\.\\d+\\.\\d+ \\(OpenMP\\): ${NATIVE_KERNELS.join(', ').replace(/[()+]/g, '\\$&')}$`),
        );
      expect(info.details.simd).toBe(true);
      // every core, through the threaded build (tfjs alone would run one thread under Node)
      expect(info.details.threads).toBe(availableParallelism());
      // convnets' kernels on every core; XNNPACK, for the rest, on one (its spinning pool thread slowed ours)
      expect(info.details.convnetsKernels).toBe(
        `convnets wasm SIMD, ${availableParallelism()} thread${availableParallelism() > 1 ? 's' : ''}`,
      );
      expect(info.details.xnnpackThreads).toBe(1);
      expect(info.details.threadedBuild).toBe(availableParallelism() > 1);
      expect(info.trainingKernels).toEqual(TRAINING_KERNELS.wasm);
      // each kernel named (and registered) once
      for (const list of [TRAINING_KERNELS.wasm!, NATIVE_KERNELS]) expect(new Set(list).size).toBe(list.length);
      // gradients are registered: a convolution trains
      const w = tf.variable(tf.ones([3, 3, 1, 1]));
      const g = tf.grad((x) => tf.sum(tf.conv2d(tf.ones([1, 5, 5, 1]) as tf.Tensor4D, x as tf.Tensor4D, 1, 'valid')))(
        w,
      );
      expect(Array.from(g.dataSync())).toEqual(Array(9).fill(9));
      tf.dispose([w, g]);
    },
  );

  it("'cpu' starts cpu with its faster filter gradient", async () => {
    const info = await initBackend('cpu');
    expect(info).toMatchObject({
      backend: 'cpu',
      requested: 'cpu',
      skipped: [],
      trainingKernels: TRAINING_KERNELS.cpu,
    });
  });

  it("'tensorflow' fails with the reason for each package when neither is installed", async () => {
    const error = await initBackend('tensorflow').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain(
      "Backend 'tensorflow' is not available here. tensorflow: @tensorflow/tfjs-node-gpu is not installed",
    );
  });

  it("'webgl' explains that it needs a browser", async () => {
    await expect(initBackend('webgl')).rejects.toThrow('webgl: WebGL needs a browser');
  });

  it('rejects an unknown backend name, listing the valid ones', async () => {
    await expect(initBackend('cuda' as never)).rejects.toThrow(
      "Unknown backend 'cuda'. Expected one of: auto, tensorflow, native, wasm, cpu, webgl, webgpu",
    );
  });

  it('tells a missing package from missing CUDA libraries', () => {
    const notFound = Object.assign(new Error("Cannot find package '@tensorflow/tfjs-node-gpu' imported from x"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(describeImportFailure('@tensorflow/tfjs-node-gpu', notFound)).toBe(
      '@tensorflow/tfjs-node-gpu is not installed (npm install @tensorflow/tfjs-node-gpu)',
    );
    const noBinding = new Error(
      'The Node.js native addon module (tfjs_binding.node) can not be found at path: /x/tfjs_binding.node.',
    );
    expect(describeImportFailure('@tensorflow/tfjs-node', noBinding)).toBe(
      '@tensorflow/tfjs-node is installed but its native binding is missing (its ' +
        'install step downloads libtensorflow: reinstall it with network access)',
    );
    const noCuda = new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory');
    expect(describeImportFailure('@tensorflow/tfjs-node-gpu', noCuda)).toBe(
      '@tensorflow/tfjs-node-gpu is installed but the CUDA/cuDNN libraries it needs are ' +
        'missing: libcudart.so.11.0: cannot open shared object file: No such file or directory',
    );
  });
});

describe("the fused training kernels, by @convnets/nn's names", () => {
  // The layers and optimizers look these names up and fall back to plain ops where they are missing: a name that
  // drifted would only make training slower, so each is checked to be registered where convnets' kernels run.
  const backends: Array<'wasm' | 'native'> = ['wasm', ...(nativeMissing() ? [] : ['native' as const])];
  it.each(backends)('are all registered on %s', async (backend) => {
    await initBackend(backend);
    expect(FUSED_KERNELS.filter((name) => !tf.getKernel(name, 'wasm'))).toEqual([]);
    expect(FUSED_KERNELS).toEqual([FUSED_BATCH_NORM, FUSED_SGD, FUSED_ADAM]);
  });
});

describe("wasm's heap (where wasm's and native's tensors live)", () => {
  it('refuses a tensor it cannot hold with an error that says so, and goes on working', async () => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    // 4 GB and more, and within a megabyte of it, are refused before malloc (its size arithmetic wraps there).
    expect(() => tf.fill([2 ** 30 + 1], 1)).toThrow(WasmHeapError);
    expect(() => tf.fill([2 ** 30 - 1024], 1)).toThrow(WasmHeapError);
    // Where malloc finds no room it returns 0, and tfjs would write the tensor over the allocator's state (the next
    // free then hangs). Its own malloc, made to fail for one size: which sizes fail depends on what the heap holds.
    const wasm = (
      tf.backend() as unknown as { wasm: { _malloc: (n: number) => number; asm: { malloc: typeof Math.abs } } }
    ).wasm;
    const raw = wasm.asm.malloc;
    wasm._malloc = (bytes) => (bytes === 3 * 2 ** 20 ? 0 : raw(bytes));
    try {
      expect(() => tf.fill([3 * 2 ** 18], 1)).toThrow(
        /^wasm's heap cannot hold another tensor of 3\.0 MB: it has grown to \d+\.\d MB of the 4096 MB/,
      );
    } finally {
      wasm._malloc = raw;
    }
    const x = tf.fill([3], 2);
    const sum = tf.sum(x);
    expect(Array.from(await sum.data())).toEqual([6]);
    tf.dispose([x, sum]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
