import { describe, expect, it } from 'vitest';
import { loadNativeKernels } from './load.js';

const load = loadNativeKernels();
const native = 'kernels' in load ? load.kernels : null;

// Every kernel against references, with its arguments packed from native/kernels.h: @convnets/backend's
// src/kernels/addon.test.ts (the package that generates the layouts) and its native.test.ts (against tfjs cpu).
describe.skipIf(!native)('the oneDNN addon', () => {
  it('reports its oneDNN version and threading runtime, and exports the kernels of native/kernels.h', () => {
    expect(native!.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(['OpenMP', 'TBB', 'sequential']).toContain(native!.runtime);
    expect(Object.keys(native!.kernels)).toEqual(expect.arrayContaining(['conv2d_forward', 'matmul', 'sgd_update']));
  });

  it('refuses a heap that is not a Float32Array and arguments that are not its struct', () => {
    const heap = new Float32Array(16);
    expect(() => native!.kernels.matmul!(new Int32Array(16) as unknown as Float32Array, new Int32Array(10))).toThrow(
      new TypeError('matmul: its first argument must be a Float32Array'),
    );
    expect(() => native!.kernels.matmul!(heap, new Int32Array(3))).toThrow(
      new TypeError("matmul: its arguments must be an Int32Array of 10 words (kernels.h's MatMul)"),
    );
    expect(() => (native!.kernels.sgd_update as (...a: unknown[]) => void)(heap)).toThrow(
      new TypeError('sgd_update: expects the heap and its arguments'),
    );
  });
});

describe.runIf(!native)('without the addon', () => {
  it('says why, naming what to install or do', () => {
    expect('missing' in load && load.missing).toMatch(/not built|turned off|oneDNN/);
  });
});
