/**
 * The oneDNN addon's kernels called directly, with arguments packed by name from native/kernels.h: in place on a
 * shared heap like tfjs-wasm's threaded build, against direct loops and hand-computed values, and its errors.
 */
import { loadNativeKernels } from '@convnets/backend-native';
import { describe, expect, it } from 'vitest';
import { type ConvGeometry, ElementwiseOp, STRUCTS } from './interface.generated.js';
import { type KernelArgs, type NativeKernel, packArgs } from './interface.js';

const load = loadNativeKernels();
const native = 'kernels' in load ? load.kernels : null;

/** Calls the addon's kernel `name` with its arguments packed by name. */
function run<K extends NativeKernel>(name: K, heap: Float32Array, args: KernelArgs[K]): void {
  const buffer = new ArrayBuffer(1024);
  native!.kernels[name]!(heap, new Int32Array(buffer, 0, packArgs(name, args, buffer)));
}

/** A geometry listed in ConvGeometry's field order. */
const geometry = (g: number[]) =>
  Object.fromEntries(STRUCTS.ConvGeometry.map(([name], i) => [name, g[i]!])) as unknown as ConvGeometry;

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

describe.skipIf(!native)('the oneDNN addon, called directly', () => {
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
    run('conv2d_forward', h, { x: 0, filter: xBytes, y, g: geometry(g) });
    expectClose(h.subarray(y / 4, y / 4 + n * ho * wo * co), naiveConv(x, w, g));
  });

  it('multiplies with either operand transposed', () => {
    const h = heap();
    const [m, k, n] = [5, 3, 4];
    // a stored [k, m], b stored [n, k]
    run('matmul', h, { a: 0, b: 64, c: 1024, batch_a: 1, batch_b: 1, m, k, n, transpose_a: 1, transpose_b: 1 });
    const c = h.subarray(256, 256 + m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let d = 0; d < k; d++) sum += h[d * m + i]! * h[16 + j * k + d]!;
        expect(c[i * n + j]).toBeCloseTo(sum, 5);
      }
  });

  it('refuses operands outside the heap and inconsistent sizes', () => {
    const h = heap();
    const product = { a: 0, b: 64, batch_a: 1, batch_b: 1, m: 2, k: 2, n: 2, transpose_a: 0, transpose_b: 0 };
    expect(() => run('matmul', h, { ...product, c: h.length * 4 })).toThrow(
      new RangeError(`matmul: c (4 floats at byte ${h.length * 4}) lies outside the heap of ${h.length * 4} bytes`),
    );
    const elementwise = { a: 0, b: 4, op: ElementwiseOp.ADD, size: 4, b_size: 4, swapped: 0 };
    expect(() => run('elementwise', h, { ...elementwise, out: -8 })).toThrow(/elementwise: out .* lies outside/);
    expect(() => run('elementwise', h, { ...elementwise, out: 64, size: 10, b_size: 3 })).toThrow(
      "elementwise: b's size must divide a's",
    );
  });

  it('pads and applies relu, step, add with a repeating operand, and swapped subtraction', () => {
    const h = heap();
    h.set([1, -2, 3, -4, 5, -6], 0);
    h.set([10, 20], 8);
    const apply = (op: keyof typeof ElementwiseOp, bSize: number, swapped = 0) => {
      run('elementwise', h, { a: 0, b: 32, out: 64, op: ElementwiseOp[op], size: 6, b_size: bSize, swapped });
      return Array.from(h.subarray(16, 22));
    };
    expect(apply('RELU', 6)).toEqual([1, 0, 3, 0, 5, 0]);
    expect(apply('STEP', 6)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(apply('ADD', 2)).toEqual([11, 18, 13, 16, 15, 14]);
    expect(apply('SUB', 2, 1)).toEqual([9, 22, 7, 24, 5, 26]);
    const [ones, zeros] = [1, 0].map((v) => new Array<number>(4).fill(v));
    const pad = { shape: [...ones!, 2, 3], before: [...zeros!, 1, 0], after: [...zeros!, 0, 1] };
    run('pad', h, { x: 0, out: 128, value: 7, ...pad });
    expect(Array.from(h.subarray(32, 32 + 12))).toEqual([7, 7, 7, 7, 1, -2, 3, 7, -4, 5, -6, 7]); // [2, 3] -> [3, 4]
  });
});
