/**
 * Kernels written as plain loops over the backend's own memory: the wasm heap, or the cpu backend's
 * typed arrays. Used for data movement that tfjs-wasm does with slow scalar C++ (transposes, filter
 * rotation) and for the max-pool gradient, where one pass beats any composition of ops.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Window } from './geometry.js';

interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}
interface CpuLike {
  data: { get(dataId: object): { values: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/**
 * Runs `fill(inputs, output)` on `backend` with typed-array views of the inputs and a fresh float32
 * output of `shape`. On wasm the output is allocated first, because allocating can grow (and detach)
 * the heap that the input views point into.
 */
export function heapKernel(
  backend: unknown,
  inputs: tf.TensorInfo[],
  shape: number[],
  fill: (inputs: Float32Array[], output: Float32Array) => void,
): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  if (typeof (backend as WasmLike).typedArrayFromHeap === 'function') {
    const wasm = backend as WasmLike;
    const out = wasm.makeOutput(shape, 'float32');
    const views = inputs.map((t) => asFloat32(wasm.typedArrayFromHeap(t), t));
    fill(views, wasm.typedArrayFromHeap(out) as Float32Array);
    return out;
  }
  const cpu = backend as CpuLike;
  const output = new Float32Array(size);
  fill(
    inputs.map((t) => asFloat32(cpu.data.get(t.dataId).values as Float32Array, t)),
    output,
  );
  return cpu.makeTensorInfo(shape, 'float32', output);
}

function asFloat32(values: ArrayLike<number>, t: tf.TensorInfo): Float32Array {
  if (!(values instanceof Float32Array)) throw new Error(`convnets kernel: expected a float32 tensor, got ${t.dtype}`);
  return values;
}

const TILE = 32;

/**
 * out = src permuted by `perm`. Adjacent axes that stay adjacent are merged first; when the innermost
 * axis moves, the two axes that trade places are walked in 32x32 tiles so reads and writes both stay in cache.
 */
export function transposeInto(
  src: Float32Array,
  srcShape: readonly number[],
  perm: readonly number[],
  out: Float32Array,
): void {
  const { shape, order } = mergeAxes(srcShape, perm);
  const rank = shape.length;
  const srcStrides = new Array<number>(rank);
  srcStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) srcStrides[i] = srcStrides[i + 1]! * shape[i + 1]!;
  const outShape = order.map((a) => shape[a]!);
  const step = order.map((a) => srcStrides[a]!); // source stride of each output axis
  const outStrides = new Array<number>(rank);
  outStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) outStrides[i] = outStrides[i + 1]! * outShape[i + 1]!;

  if (rank === 1) {
    out.set(src);
    return;
  }
  const last = rank - 1;
  // q: the output axis that is the source's innermost (contiguous) axis.
  const q = order.indexOf(last);
  const rows = outShape[q]!;
  const cols = outShape[last]!;
  const colStride = step[last]!;
  const rowOutStride = outStrides[q]!;
  const others = [...Array(rank).keys()].filter((a) => a !== q && a !== last);
  const idx = new Array<number>(others.length).fill(0);
  const outer = others.reduce((n, a) => n * outShape[a]!, 1);
  let srcBase = 0;
  let outBase = 0;
  for (let k = 0; k < outer; k++) {
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c0 = 0; c0 < cols; c0 += TILE) {
        const c1 = Math.min(cols, c0 + TILE);
        for (let r = r0; r < r1; r++) {
          let o = outBase + r * rowOutStride + c0;
          let s = srcBase + r + c0 * colStride;
          for (let c = c0; c < c1; c++, o++, s += colStride) out[o] = src[s]!;
        }
      }
    }
    // odometer over the remaining output axes
    for (let i = others.length - 1; i >= 0; i--) {
      const a = others[i]!;
      idx[i]!++;
      srcBase += step[a]!;
      outBase += outStrides[a]!;
      if (idx[i]! < outShape[a]!) break;
      srcBase -= step[a]! * outShape[a]!;
      outBase -= outStrides[a]! * outShape[a]!;
      idx[i] = 0;
    }
  }
}

/**
 * out = src[begin : begin + size] along every axis. Trailing axes taken whole merge with the last
 * partly-taken axis into one contiguous run, copied with one `set`.
 */
export function sliceInto(
  src: Float32Array,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  out: Float32Array,
): void {
  let axis = shape.length - 1;
  let whole = 1; // elements per index of `axis`: the product of the axes after it
  while (axis > 0 && begin[axis] === 0 && size[axis] === shape[axis]) whole *= shape[axis--]!;
  const run = size[axis]! * whole;
  const strides = new Array<number>(axis + 1);
  strides[axis] = whole;
  for (let a = axis - 1; a >= 0; a--) strides[a] = strides[a + 1]! * shape[a + 1]!;
  const idx = new Array<number>(axis).fill(0);
  let from = begin.slice(0, axis + 1).reduce((sum, b, a) => sum + b * strides[a]!, 0);
  for (let to = 0; to < out.length; to += run) {
    out.set(src.subarray(from, from + run), to);
    // odometer over the axes before `axis`
    for (let a = axis - 1; a >= 0; a--) {
      idx[a]!++;
      from += strides[a]!;
      if (idx[a]! < size[a]!) break;
      from -= strides[a]! * size[a]!;
      idx[a] = 0;
    }
  }
}

/** Merges source axes that stay adjacent and in order under `perm`; drops size-1 axes. */
function mergeAxes(shape: readonly number[], perm: readonly number[]): { shape: number[]; order: number[] } {
  const keep = perm.filter((a) => shape[a] !== 1);
  if (keep.length === 0) return { shape: [shape.reduce((a, b) => a * b, 1)], order: [0] };
  const groups: number[][] = [];
  for (const a of keep) {
    const g = groups[groups.length - 1];
    if (g && nextKept(shape, g[g.length - 1]!) === a) g.push(a);
    else groups.push([a]);
  }
  const bySource = [...groups].sort((x, y) => x[0]! - y[0]!);
  const merged = bySource.map((g) => g.reduce((n, a) => n * shape[a]!, 1));
  return { shape: merged, order: groups.map((g) => bySource.indexOf(g)) };
}

function nextKept(shape: readonly number[], axis: number): number {
  let a = axis + 1;
  while (a < shape.length && shape[a] === 1) a++;
  return a;
}

/**
 * [kh, kw, in, out] -> [kh, kw, out, in] rotated 180 degrees: the filter of the convolution that
 * computes a convolution's input gradient.
 */
export function rotateFilterInto(src: Float32Array, shape: readonly number[], out: Float32Array): void {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const taps = kh * kw;
  const block = cin * cout;
  for (let t = 0; t < taps; t++) {
    transposeInto(
      src.subarray(t * block, (t + 1) * block),
      [cin, cout],
      [1, 0],
      out.subarray((taps - 1 - t) * block, (taps - t) * block),
    );
  }
}

/** A window's geometry plus the batch and channel counts of its input. */
export interface PoolGeometry extends Window {
  batch: number;
  channels: number;
}

/**
 * dx of a max-pool: each window's gradient goes to its first maximum in row-major window order
 * (tfjs cpu's and PyTorch's rule); padding never wins.
 */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  const { batch, inHeight: H, inWidth: W, channels: C, outHeight: Ho, outWidth: Wo } = g;
  dx.fill(0);
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  for (let n = 0; n < batch; n++) {
    const xBase = n * H * W * C;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = oy * g.strideHeight - g.top;
      const ys = Math.max(0, y0);
      const ye = Math.min(H, y0 + g.kernelHeight);
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = ox * g.strideWidth - g.left;
        const xs = Math.max(0, x0);
        const xe = Math.min(W, x0 + g.kernelWidth);
        if (ys >= ye || xs >= xe) continue; // a window wholly in padding passes no gradient
        // The window's first pixel starts the search; later ones win only when strictly greater.
        const start = xBase + (ys * W + xs) * C;
        for (let c = 0; c < C; c++) {
          best[c] = x[start + c]!;
          where[c] = start + c;
        }
        for (let iy = ys; iy < ye; iy++) {
          for (let ix = iy === ys ? xs + 1 : xs; ix < xe; ix++) {
            const p = xBase + (iy * W + ix) * C;
            for (let c = 0; c < C; c++) {
              const v = x[p + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = p + c;
              }
            }
          }
        }
        const d = ((n * Ho + oy) * Wo + ox) * C;
        for (let c = 0; c < C; c++) dx[where[c]!] += dy[d + c]!;
      }
    }
  }
}

/**
 * Visits every (output pixel, kernel tap) pair in im2col order: `column` is where the tap's C values sit
 * in the cols matrix, `input` where they sit in x (-1 where the tap covers padding).
 */
function eachTap(g: PoolGeometry, visit: (column: number, input: number) => void): void {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    channels: C,
    outHeight: Ho,
    outWidth: Wo,
    kernelHeight: kh,
    kernelWidth: kw,
  } = g;
  let column = 0;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * g.strideHeight - g.top + ky;
          for (let kx = 0; kx < kw; kx++, column += C) {
            const ix = ox * g.strideWidth - g.left + kx;
            visit(column, iy < 0 || iy >= H || ix < 0 || ix >= W ? -1 : ((n * H + iy) * W + ix) * C);
          }
        }
      }
    }
  }
}

/**
 * im2col: x [N, H, W, C] -> cols [N*Ho*Wo, kh*kw*C], one row per output pixel holding its receptive
 * field (zeros where the window covers padding). Rows are contiguous copies of C channels.
 */
export function im2colInto(x: Float32Array, g: PoolGeometry, cols: Float32Array): void {
  const C = g.channels;
  eachTap(g, (o, i) => (i < 0 ? cols.fill(0, o, o + C) : cols.set(x.subarray(i, i + C), o)));
}

/** col2im, the adjoint of im2col: sums each row's receptive-field entries back into dx [N, H, W, C]. */
export function col2imInto(cols: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  const C = g.channels;
  dx.fill(0);
  eachTap(g, (o, i) => {
    if (i < 0) return;
    for (let c = 0; c < C; c++) dx[i + c] += cols[o + c]!;
  });
}
