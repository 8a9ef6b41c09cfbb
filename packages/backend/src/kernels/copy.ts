/**
 * The copy family: kernels that move data and compute nothing (concatenation, split, transpose, slice, padding,
 * identity, cast).
 * - native and wasm: concatenation and split as block copies on every core (copy.cc, wasm/copy.c; tfjs-wasm's are
 *   JS loops and slices: DenseNet's concatenations and transitions were ~12% of its step); padding on the addon.
 * - tfjs: loops over the heap where tfjs-wasm's are slow: Transpose when the innermost axis moves (its scalar loop
 *   is 5-10x slower then) and Slice (tfjs-wasm's first copies the whole input out of the heap: slicing a conv weight
 *   to its live taps, nn's Conv2d on small maps, cost more than the convolution it saved). Identity and a cast to
 *   the same dtype share the data instead of copying it (tensors are immutable; wasm's Reshape shares the same way):
 *   tfjs clones every tensor a gradient saves (~5% of a step), and ReLU's gradient casts its float mask (~2% of
 *   DenseNet's).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  allFloat,
  delegate,
  heapKernel,
  sizeOf,
  call,
  runNative,
  type Impl,
  type Inputs,
  type KernelSpec,
  type Op,
  type Target,
} from './kernel.js';
import { Limits } from './interface.generated.js';
import type { WasmKernels } from './wasm/runtime.js';

/** Copies `blocks` runs of `count` floats, the r-th from src + r * srcStride to dst + r * dstStride, on `target`. */
function copyBlocks(
  k: WasmKernels,
  target: Target,
  [src, dst]: [number, number],
  blocks: number,
  count: number,
  [srcStride, dstStride]: [number, number],
) {
  const args = { src, dst, blocks, count, src_stride: srcStride, dst_stride: dstStride };
  call(k, target, 'copy_blocks', args, blocks * count);
}

/** float32 tensors joined along `axis`: each input is a run of blocks copied into its columns of the output. */
const concat =
  (target: Target): Op =>
  (k, inputs, attrs) => {
    const parts = Object.values(inputs).filter((t) => sizeOf(t.shape) > 0);
    if (parts.length < 2 || !allFloat(...parts)) return null;
    const axis = tf.util.parseAxisParam(attrs.axis as number, parts[0]!.shape)[0]!;
    const shape = [...parts[0]!.shape];
    shape[axis] = parts.reduce((n, t) => n + t.shape[axis]!, 0);
    const blocks = sizeOf(shape.slice(0, axis));
    const row = sizeOf(shape.slice(axis));
    const y = k.output(shape);
    let column = 0;
    for (const part of parts) {
      const count = sizeOf(part.shape.slice(axis));
      const [from, to] = [k.address(part), k.address(y)];
      copyBlocks(k, target, [from, to + column * 4], blocks, count, [count, row]);
      column += count;
    }
    return y;
  };

/** x split along `axis` into pieces of the given sizes (concatenation's gradient). */
const splitV =
  (target: Target): Op =>
  (k, { x }, attrs) => {
    if (x!.dtype !== 'float32' || sizeOf(x!.shape) === 0) return null;
    const axis = tf.util.parseAxisParam(attrs.axis as number, x!.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number[], axis);
    const blocks = sizeOf(x!.shape.slice(0, axis));
    const row = sizeOf(x!.shape.slice(axis));
    let column = 0;
    return sizes.map((size) => {
      const shape = [...x!.shape];
      shape[axis] = size;
      const piece = k.output(shape);
      const count = sizeOf(shape.slice(axis));
      if (count > 0) {
        const [from, to] = [k.address(x!), k.address(piece)];
        copyBlocks(k, target, [from + column * 4, to], blocks, count, [row, count]);
      }
      column += count;
      return piece;
    });
  };

/** Padding with a constant (the gradient of a slice, e.g. nn's live-tap weight crop); ranks up to 6. */
function padV2Native(k: WasmKernels, { x }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const paddings = attrs.paddings as Array<[number, number]>;
  const rank = x!.shape.length;
  if (x!.dtype !== 'float32' || rank === 0 || rank > Limits.PAD_RANK || sizeOf(x!.shape) === 0) return null;
  const out = k.output(x!.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]));
  const lead = (value: number) => new Array<number>(Limits.PAD_RANK - rank).fill(value);
  runNative(k, 'pad', {
    x: k.address(x!),
    out: k.address(out),
    value: Number(attrs.constantValue ?? 0),
    shape: [...lead(1), ...x!.shape],
    before: [...lead(0), ...paddings.map((p) => p[0])],
    after: [...lead(0), ...paddings.map((p) => p[1])],
  });
  return out;
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
function sliceInto(
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

/** The input itself as the output, its data shared (a reference more), not copied. */
const shareData: Impl = (call, original) => {
  const x = call.inputs.x!;
  if (x.dtype === 'string') return delegate(call, original);
  (call.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const COPY_KERNELS = {
  Concat: { on: ['wasm'], native: concat('native'), wasm: concat('wasm') },
  SplitV: { on: ['wasm'], native: splitV('native'), wasm: splitV('wasm') },
  PadV2: { on: ['wasm'], native: padV2Native },
  Transpose: {
    on: ['wasm'],
    tfjs: (call, original) => {
      const { inputs, attrs, backend } = call;
      const x = inputs.x!;
      const perm = attrs.perm as number[];
      if (x.dtype !== 'float32' || perm[perm.length - 1] === perm.length - 1) return delegate(call, original);
      const shape = perm.map((p) => x.shape[p]!);
      return heapKernel(backend, [x], shape, ([src], out) => transposeInto(src!, x.shape, perm, out));
    },
  },
  Slice: {
    on: ['wasm'],
    tfjs: (call, original) => {
      const { inputs, attrs, backend } = call;
      const x = inputs.x!;
      if (x.dtype !== 'float32' || x.shape.length === 0) return delegate(call, original);
      const [begin, size] = tf.slice_util.parseSliceParams(
        x as tf.Tensor,
        attrs.begin as number[],
        attrs.size as number[],
      );
      return heapKernel(backend, [x], size, ([src], out) => sliceInto(src!, x.shape, begin, size, out));
    },
  },
  Identity: { on: ['wasm'], tfjs: shareData },
  Cast: {
    on: ['wasm'],
    tfjs: (call, original) =>
      call.inputs.x!.dtype === call.attrs.dtype ? shareData(call, original) : delegate(call, original),
  },
} satisfies Record<string, KernelSpec>;
