import { describe, expect, it } from 'vitest';
import { loadNativeKernels } from './load.js';

const load = loadNativeKernels();
const native = 'kernels' in load ? load.kernels : null;

/** A shared heap like tfjs-wasm's threaded build (4 MiB; the first 64 Ki floats set). */
function heap(): Float32Array {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  const view = new Float32Array(memory.buffer);
  for (let i = 0; i < 1 << 16; i++) view[i] = Math.sin(i * 0.37);
  return view;
}

/** A direct convolution (NHWC x, HWIO w), the reference. */
function naiveConv(
  x: Float32Array,
  w: Float32Array,
  [n, h, wd, c, kh, kw, co, ho, wo, sh, sw, , , pt, pl]: number[],
): Float32Array {
  const y = new Float32Array(n! * ho! * wo! * co!);
  for (let b = 0; b < n!; b++)
    for (let oy = 0; oy < ho!; oy++)
      for (let ox = 0; ox < wo!; ox++)
        for (let o = 0; o < co!; o++) {
          let sum = 0;
          for (let ky = 0; ky < kh!; ky++)
            for (let kx = 0; kx < kw!; kx++) {
              const iy = oy * sh! - pt! + ky;
              const ix = ox * sw! - pl! + kx;
              if (iy < 0 || iy >= h! || ix < 0 || ix >= wd!) continue;
              for (let i = 0; i < c!; i++)
                sum += x[((b * h! + iy) * wd! + ix) * c! + i]! * w[((ky * kw! + kx) * c! + i) * co! + o]!;
            }
          y[((b * ho! + oy) * wo! + ox) * co! + o] = sum;
        }
  return y;
}

function expectClose(actual: Float32Array, expected: Float32Array) {
  const worst = expected.reduce((m, v, i) => Math.max(m, Math.abs(actual[i]! - v)), 0);
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-30);
  expect(worst / scale).toBeLessThan(1e-5);
}

describe.skipIf(!native)('the oneDNN addon', () => {
  it('reports its oneDNN version and threading runtime', () => {
    expect(native!.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(['OpenMP', 'TBB', 'sequential']).toContain(native!.runtime);
  });

  it.each([
    // N H W C, KH KW Cout, Ho Wo, strides, dilations, padding (top left bottom right)
    [[2, 7, 6, 5, 3, 3, 4, 7, 6, 1, 1, 1, 1, 1, 1, 1, 1]],
    [[1, 9, 9, 3, 3, 3, 8, 5, 5, 2, 2, 1, 1, 1, 1, 1, 1]],
    [[3, 2, 2, 16, 3, 3, 8, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]], // fewer pixels than taps: one dense product
    [[2, 10, 9, 4, 4, 4, 6, 5, 5, 2, 2, 1, 1, 1, 1, 2, 2]], // asymmetric padding ('same', stride 2)
  ])('convolves in place on a shared heap as a direct loop does: geometry %j', (g) => {
    const h = heap();
    const [n, hh, ww, c, kh, kw, co, ho, wo] = g as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const xBytes = n * hh * ww * c * 4;
    const wBytes = kh * kw * c * co * 4;
    const x = h.slice(0, xBytes / 4);
    const w = h.slice(xBytes / 4, (xBytes + wBytes) / 4);
    const y = xBytes + wBytes;
    native!.conv2dForward(h, 0, xBytes, y, ...g);
    expectClose(h.subarray(y / 4, y / 4 + n * ho * wo * co), naiveConv(x, w, g));
  });

  it('multiplies with either operand transposed', () => {
    const h = heap();
    const [m, k, n] = [5, 3, 4];
    native!.matmul(h, 0, 64, 1024, 1, 1, m, k, n, 1, 1); // a stored [k, m], b stored [n, k]
    const c = h.subarray(256, 256 + m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let d = 0; d < k; d++) sum += h[d * m + i]! * h[16 + j * k + d]!;
        expect(c[i * n + j]).toBeCloseTo(sum, 5);
      }
  });

  it('refuses operands outside the heap, a heap that is not a Float32Array, and a wrong argument count', () => {
    const h = heap();
    expect(() => native!.matmul(h, 0, 64, h.length * 4, 1, 1, 2, 2, 2, 0, 0)).toThrow(
      new RangeError(`matmul: c (4 floats at byte ${h.length * 4}) lies outside the heap of ${h.length * 4} bytes`),
    );
    expect(() => native!.elementwise(h, 'add', 0, 4, -8, 4, 4, 0)).toThrow(/elementwise: out .* lies outside the heap/);
    expect(() => native!.matmul(new Int32Array(16) as unknown as Float32Array, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0)).toThrow(
      new TypeError('matmul: its first argument must be a Float32Array'),
    );
    expect(() => (native!.sgdUpdate as (...a: unknown[]) => void)(h, 0, 0)).toThrow(
      new TypeError('sgdUpdate: expects a heap and 10 numbers'),
    );
    expect(() => native!.elementwise(h, 'add', 0, 0, 64, 10, 3, 0)).toThrow("elementwise: b's size must divide a's");
  });

  it('pads and applies relu, step, add with a repeating operand, and swapped subtraction', () => {
    const h = heap();
    h.set([1, -2, 3, -4, 5, -6], 0);
    h.set([10, 20], 8);
    const run = (op: 'add' | 'sub' | 'relu' | 'step', bSize: number, swapped = 0) => {
      native!.elementwise(h, op, 0, 32, 64, 6, bSize, swapped);
      return Array.from(h.subarray(16, 22));
    };
    expect(run('relu', 6)).toEqual([1, 0, 3, 0, 5, 0]);
    expect(run('step', 6)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(run('add', 2)).toEqual([11, 18, 13, 16, 15, 14]);
    expect(run('sub', 2, 1)).toEqual([9, 22, 7, 24, 5, 26]);
    native!.pad(h, 0, 128, 7, 1, 1, 1, 1, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1);
    expect(Array.from(h.subarray(32, 32 + 12))).toEqual([7, 7, 7, 7, 1, -2, 3, 7, -4, 5, -6, 7]); // [2, 3] -> [3, 4]
  });
});

describe.runIf(!native)('without the addon', () => {
  it('says why, naming what to install or do', () => {
    expect('missing' in load && load.missing).toMatch(/not built|turned off|oneDNN/);
  });
});
