/**
 * tfjs kernels on convnets' wasm kernels (wasm/kernels.c): convolutions as an indirect GEMM that skips
 * padding taps, filter gradients per tap, matrix multiplies in every transpose combination (one blocked
 * GEMM that packs straight from NHWC tensors: no im2col, transpose or rotation pass), the max- and
 * average-pool gradients, concatenation and split, elementwise add/sub/mul/relu/step, per-channel sums,
 * fused batch norm and optimizer updates. Each returns null where it does not apply, so the caller keeps
 * tfjs's kernel (or its own composite).
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMulDims, poolKernelArgs, type PoolAttrs } from '../geometry.js';
import type { NativeKernels } from '@convnets/backend-native';
import type { WasmKernels } from './runtime.js';

type Inputs = Record<string, tf.TensorInfo>;
type Conv2DInfo = tf.backend_util.Conv2DInfo;

// Operand kinds (kernels.c): how a GEMM operand is read.
const STRIDED = 0;
const WINDOWS = 1;
const WINDOWS_T = 2;
const ROTATED = 3;
const TAP_T = 4;
const RECT_ROWS = 5;
/** An Operand (kernels.c) is 24 int32 fields: kind, p, rs, cs, then these 20 (geometry, tap, rectangle). */
const NO_GEOMETRY = new Array<number>(20).fill(0);
const NO_TAP = [0, 0, 0, 0, 0, 0];

/** Element (i, j) at p[i * rs + j * cs] (byte address p). */
const strided = (p: number, rs: number, cs: number) => [STRIDED, p, rs, cs, ...NO_GEOMETRY];

/** The sliding windows of a convolution over x (its im2col matrix, or that matrix's transpose). */
function windows(
  kind: typeof WINDOWS | typeof WINDOWS_T,
  p: number,
  info: Conv2DInfo,
  over: 'input' | 'output',
): number[] {
  if (over === 'input') {
    // rows: the conv's output pixels; source: its input
    return [
      kind,
      p,
      0,
      0,
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.filterHeight,
      info.filterWidth,
      info.strideHeight,
      info.strideWidth,
      info.dilationHeight,
      info.dilationWidth,
      info.padInfo.top,
      info.padInfo.left,
      ...NO_TAP,
    ];
  }
  // The input gradient of a stride-1 conv: windows over dy, whose "outputs" are the input's pixels.
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  return [
    kind,
    p,
    0,
    0,
    info.batchSize,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.inHeight,
    info.inWidth,
    kh,
    kw,
    1,
    1,
    info.dilationHeight,
    info.dilationWidth,
    (kh - 1) * info.dilationHeight - info.padInfo.top,
    (kw - 1) * info.dilationWidth - info.padInfo.left,
    ...NO_TAP,
  ];
}

/** The filter [kh, kw, in, out] as B of an input gradient: rows (ky, kx, out) of the rotated filter. */
const rotated = (p: number, info: Conv2DInfo) => [
  ROTATED,
  p,
  0,
  0,
  info.outChannels,
  0,
  0,
  info.inChannels,
  0,
  0,
  info.filterHeight,
  info.filterWidth,
  0,
  0,
  0,
  0,
  0,
  0,
  ...NO_TAP,
];

/** C[m, n] (+)= A[m, k] B[k, n], C row-major with leading dimension n. */
function gemm(k: WasmKernels, a: number[], b: number[], c: number, m: number, n: number, depth: number): void {
  if (m === 0 || n === 0) return;
  k.run('gemm', [...a, ...b, c, n, m, n, depth, 0, k.scratch], m * n * depth);
}

/** Taps the indirect convolution kernel takes at most (kernels.c's MAX_TAPS). */
const MAX_TAPS = 256;

/**
 * C [pixels, n] = windows . B without packing the windows: B is packed once into panels (pack_b), then
 * each strip of four images at one output position reads its live taps straight from the source
 * (conv_indirect), skipping the taps that read only padding.
 */
function convIndirect(
  k: WasmKernels,
  a: number[],
  b: number[],
  c: number,
  pixels: number,
  n: number,
  depth: number,
): void {
  if (pixels === 0 || n === 0) return;
  const packed = k.output([Math.ceil(n / 8) * 8 * depth]);
  try {
    k.run('pack_b', [...b, k.address(packed), depth, n], depth * n);
    k.run('conv_indirect', [...a, k.address(packed), c, n], pixels * n * depth);
  } finally {
    k.free(packed);
  }
}

const isPointwise = (info: Conv2DInfo) =>
  info.filterHeight === 1 &&
  info.filterWidth === 1 &&
  info.strideHeight === 1 &&
  info.strideWidth === 1 &&
  info.padInfo.top === 0 &&
  info.padInfo.left === 0;

function convInfo(
  inShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  dilations: unknown = 1,
): Conv2DInfo | null {
  if (attrs.dataFormat && attrs.dataFormat !== 'NHWC') return null;
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number,
    dilations as number,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
}

const allFloat = (...ts: tf.TensorInfo[]) => ts.every((t) => t.dtype === 'float32');
const sizeOf = (shape: readonly number[]) => shape.reduce((p, q) => p * q, 1);

/** y [N, Ho, Wo, Cout] = windows(x) [N*Ho*Wo, kh*kw*Cin] . filter [kh*kw*Cin, Cout]. */
export function conv2d(k: WasmKernels, { x, filter }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(x!, filter!)) return null;
  const info = convInfo(x!.shape, filter!.shape, attrs, attrs.dilations);
  if (!info) return null;
  const y = k.output([info.batchSize, info.outHeight, info.outWidth, info.outChannels]);
  const depth = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.batchSize * info.outHeight * info.outWidth;
  const b = strided(k.address(filter!), info.outChannels, 1);
  if (isPointwise(info)) gemm(k, strided(k.address(x!), depth, 1), b, k.address(y), pixels, info.outChannels, depth);
  else if (info.filterHeight * info.filterWidth <= MAX_TAPS) {
    convIndirect(k, windows(WINDOWS, k.address(x!), info, 'input'), b, k.address(y), pixels, info.outChannels, depth);
  } else gemm(k, windows(WINDOWS, k.address(x!), info, 'input'), b, k.address(y), pixels, info.outChannels, depth);
  return y;
}

/**
 * dW [kh*kw*Cin, Cout] = windows(x)^T [kh*kw*Cin, N*Ho*Wo] . dy [N*Ho*Wo, Cout]. With enough input
 * channels, one GEMM per tap over only the pixels where the tap meets the input (padding costs nothing);
 * with few (a stem's 1 or 3), one GEMM over the whole windows matrix packs less.
 */
export function conv2dBackpropFilter(k: WasmKernels, { x, dy }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(x!, dy!)) return null;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x!.shape, filterShape, attrs);
  if (!info) return null;
  const dw = k.output(filterShape);
  const rows = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.batchSize * info.outHeight * info.outWidth;
  if (isPointwise(info)) {
    gemm(
      k,
      strided(k.address(x!), 1, info.inChannels),
      strided(k.address(dy!), info.outChannels, 1),
      k.address(dw),
      rows,
      info.outChannels,
      pixels,
    );
  } else if (
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.inChannels % 4 === 0 &&
    info.outChannels % 8 === 0
  ) {
    filterGradStride1(k, x!, dy!, dw, info);
  } else if (info.inChannels >= 16) {
    const taps = [TAP_T, ...windows(WINDOWS_T, k.address(x!), info, 'input').slice(1)];
    const dyRows = [
      RECT_ROWS,
      k.address(dy!),
      0,
      0,
      info.batchSize,
      0,
      0,
      info.outChannels,
      info.outHeight,
      info.outWidth,
      ...NO_GEOMETRY.slice(6),
    ];
    k.run('conv_filter_grad', [...taps, ...dyRows, k.address(dw), k.scratch], rows * info.outChannels * pixels);
  } else {
    gemm(
      k,
      windows(WINDOWS_T, k.address(x!), info, 'input'),
      strided(k.address(dy!), info.outChannels, 1),
      k.address(dw),
      rows,
      info.outChannels,
      pixels,
    );
  }
  return dw;
}

/**
 * The stride-1 filter gradient: x and dy reordered once (channel groups of 4 and 8, batch innermost), then
 * each tap accumulates over contiguous runs of both, in the micro-kernel's own formats (no per-tap packing).
 */
function filterGradStride1(
  k: WasmKernels,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  dw: tf.TensorInfo,
  info: Conv2DInfo,
): void {
  const x4 = k.output(x.shape);
  const dy8 = k.output(dy.shape);
  try {
    const {
      batchSize: n,
      inHeight: h,
      inWidth: w,
      inChannels: cin,
      outHeight: oh,
      outWidth: ow,
      outChannels: cout,
    } = info;
    k.run('interleave_channels', [k.address(x), k.address(x4), n, h, w, cin, 4], n * h * w * cin);
    k.run('interleave_channels', [k.address(dy), k.address(dy8), n, oh, ow, cout, 8], n * oh * ow * cout);
    k.run(
      'conv_filter_grad_s1',
      [
        k.address(x4),
        k.address(dy8),
        k.address(dw),
        n,
        h,
        w,
        cin,
        oh,
        ow,
        cout,
        info.filterHeight,
        info.filterWidth,
        info.dilationHeight,
        info.dilationWidth,
        info.padInfo.top,
        info.padInfo.left,
      ],
      n * oh * ow * cin * cout * info.filterHeight * info.filterWidth,
    );
  } finally {
    k.free(x4);
    k.free(dy8);
  }
}

/**
 * dx. Stride 1: a convolution of dy with the rotated filter, packed straight from both. Strided: the
 * column gradient dy . filter^T (exact FLOPs, no inserted zeros), summed back into dx by col2im.
 */
export function conv2dBackpropInput(
  k: WasmKernels,
  { dy, filter }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | null {
  if (!allFloat(dy!, filter!)) return null;
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter!.shape, attrs);
  if (!info) return null;
  const dx = k.output(inputShape);
  const pixels = info.batchSize * info.inHeight * info.inWidth;
  const taps = info.filterHeight * info.filterWidth;
  if (info.strideHeight === 1 && info.strideWidth === 1) {
    const depth = taps * info.outChannels;
    const b = rotated(k.address(filter!), info);
    if (isPointwise(info))
      gemm(k, strided(k.address(dy!), info.outChannels, 1), b, k.address(dx), pixels, info.inChannels, depth);
    else if (taps <= MAX_TAPS)
      convIndirect(
        k,
        windows(WINDOWS, k.address(dy!), info, 'output'),
        b,
        k.address(dx),
        pixels,
        info.inChannels,
        depth,
      );
    else gemm(k, windows(WINDOWS, k.address(dy!), info, 'output'), b, k.address(dx), pixels, info.inChannels, depth);
    return dx;
  }
  const outPixels = info.batchSize * info.outHeight * info.outWidth;
  const width = taps * info.inChannels;
  const cols = k.output([outPixels, width]);
  try {
    // B[co, j] = filter[j, co]: the filter [kh*kw*Cin, Cout] read transposed
    gemm(
      k,
      strided(k.address(dy!), info.outChannels, 1),
      strided(k.address(filter!), 1, info.outChannels),
      k.address(cols),
      outPixels,
      width,
      info.outChannels,
    );
    k.run(
      'col2im',
      [k.address(cols), k.address(dx), ...windows(WINDOWS, 0, info, 'input').slice(4, 18)],
      outPixels * width,
    );
  } finally {
    k.free(cols);
  }
  return dx;
}

/** Batched C = op(A) . op(B) with either operand transposed and a batch of 1 broadcast. */
export function batchMatMul(k: WasmKernels, { a, b }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const d = matMulDims(a!, b!, attrs);
  if (!d) return null;
  const { batchA, batchB, m, depth, n, transposeA: tA, transposeB: tB } = d;
  const [ar, ac] = [a!.shape[1]!, a!.shape[2]!];
  const [br, bc] = [b!.shape[1]!, b!.shape[2]!];
  const batch = Math.max(batchA, batchB);
  const c = k.output([batch, m, n]);
  for (let i = 0; i < batch; i++) {
    const pa = k.address(a!) + (batchA === 1 ? 0 : i * ar * ac * 4);
    const pb = k.address(b!) + (batchB === 1 ? 0 : i * br * bc * 4);
    gemm(
      k,
      tA ? strided(pa, 1, m) : strided(pa, depth, 1),
      tB ? strided(pb, 1, depth) : strided(pb, n, 1),
      k.address(c) + i * m * n * 4,
      m,
      n,
      depth,
    );
  }
  return c;
}

/** dx of a max-pool: each window's gradient to its first maximum (tfjs cpu's and PyTorch's rule). */
export function maxPoolGrad(k: WasmKernels, { dy, input }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(dy!, input!)) return null;
  const dx = k.output(input!.shape);
  k.run(
    'max_pool_grad',
    [k.address(input!), k.address(dy!), k.address(dx), ...poolKernelArgs(input!.shape, attrs as unknown as PoolAttrs)],
    input!.shape.reduce((p, q) => p * q, 1) * 4,
  );
  return dx;
}

export function avgPoolGrad(k: WasmKernels, { dy, input }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(dy!, input!) || sizeOf(input!.shape) === 0) return null;
  const dx = k.output(input!.shape);
  k.run(
    'avg_pool_grad',
    [k.address(dy!), k.address(dx), ...poolKernelArgs(input!.shape, attrs as unknown as PoolAttrs)],
    sizeOf(input!.shape) * 4,
  );
  return dx;
}

/** A block copy's arguments after the heap: src, dst (byte addresses), blocks, count, srcStride, dstStride (floats). */
type BlockCopy = Parameters<NativeKernels['copyBlocks']> extends [Float32Array, ...infer Rest] ? Rest : never;

/**
 * Copies `blocks` runs of `count` floats, the r-th from src + r * srcStride to dst + r * dstStride (as the addon's
 * copyBlocks, whose arguments kernels.c's copy_blocks takes in the same order): on the addon where it is attached,
 * else on ours.
 */
function copyBlocks(k: WasmKernels, ...args: BlockCopy) {
  if (k.native) k.native.copyBlocks(k.heap(), ...args);
  else k.run('copy_blocks', args, args[2] * args[3]);
}

/** float32 tensors joined along `axis`: each input is a run of blocks copied into its columns of the output. */
export function concat(k: WasmKernels, inputs: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
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
    // Addresses first: finding one can move a tensor into the heap (copyBlocks takes the heap view after).
    const [from, to] = [k.address(part), k.address(y)];
    copyBlocks(k, from, to + column * 4, blocks, count, count, row);
    column += count;
  }
  return y;
}

/** x split along `axis` into pieces of the given sizes (concatenation's gradient). */
export function splitV(k: WasmKernels, { x }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo[] | null {
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
      copyBlocks(k, from + column * 4, to, blocks, count, row, count);
    }
    column += count;
    return piece;
  });
}

/** `shape` without its leading 1s. */
const trimmed = (shape: readonly number[]) =>
  shape.slice(
    Math.max(
      0,
      shape.findIndex((d) => d !== 1),
    ),
  );

/** Whether `small` broadcasts against `out` by repeating along leading axes only (a trailing-axes broadcast). */
function repeatsInto(small: readonly number[], out: readonly number[]): boolean {
  const s = small.findIndex((d) => d !== 1) < 0 ? [] : trimmed(small);
  return s.length <= out.length && s.every((d, i) => d === out[out.length - s.length + i]);
}

/** The elementwise kernel's op codes (kernels.c). */
const OPS = { add: 0, sub: 1, mul: 2, relu: 3, step: 4 } as const;
/** Shorter repeating operands (scalars) stay on tfjs's kernels: ours works in rows of the repeated operand. */
const MIN_ROW = 16;

/**
 * out[i] = a[i] op b[i % bSize] over byte addresses (b ignored by relu and step; `swapped`: b op a): on the
 * oneDNN addon's threads where it is attached, else on ours.
 */
function elementwise(
  k: WasmKernels,
  op: keyof typeof OPS,
  [a, b, out]: number[],
  size: number,
  bSize: number,
  swapped: boolean,
) {
  if (k.native) k.native.elementwise(k.heap(), op, a!, b!, out!, size, bSize, swapped ? 1 : 0);
  else k.run('elementwise', [a!, b!, out!, OPS[op], size, bSize, swapped ? 1 : 0], size);
}

/**
 * a op b for float32 operands of one shape, or where one repeats along the other's leading axes (a
 * per-channel vector; a scalar only on the addon): tfjs-wasm runs these on one thread.
 */
export function binary(op: 'add' | 'sub' | 'mul') {
  return (k: WasmKernels, { a, b }: Inputs): tf.TensorInfo | null => {
    if (!allFloat(a!, b!)) return null;
    const out = tf.backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
    const size = sizeOf(out);
    if (size === 0) return null;
    const swapped = sizeOf(a!.shape) !== size;
    const [big, small] = swapped ? [b!, a!] : [a!, b!];
    const bSize = sizeOf(small.shape);
    if (sizeOf(big.shape) !== size || !repeatsInto(small.shape, out)) return null;
    if (!k.native && bSize < Math.min(MIN_ROW, size)) return null;
    const y = k.output(out);
    elementwise(k, op, [k.address(big), k.address(small), k.address(y)], size, bSize, swapped);
    return y;
  };
}

/** relu(x), or step(x) (1 where x > 0, else 0: ReLU's gradient mask) for Step's alpha 0. */
export function unary(op: 'relu' | 'step') {
  return (k: WasmKernels, { x }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null => {
    const size = sizeOf(x!.shape);
    if (x!.dtype !== 'float32' || size === 0 || (op === 'step' && attrs.alpha)) return null;
    const y = k.output(x!.shape);
    const [from, to] = [k.address(x!), k.address(y)];
    elementwise(k, op, [from, from, to], size, size, false);
    return y;
  };
}

/** Sum or mean over every axis but the last (the per-channel reductions of NHWC batch norm). */
export function channelReduce(
  k: WasmKernels,
  { x }: Inputs,
  attrs: tf.NamedAttrMap,
  mean: boolean,
): tf.TensorInfo | null {
  const rank = x!.shape.length;
  if (x!.dtype !== 'float32' || rank < 2) return null;
  const axes = tf.util.parseAxisParam(attrs.axis as number[], x!.shape).sort((p, q) => p - q);
  if (axes.length !== rank - 1 || axes.some((axis, i) => axis !== i)) return null;
  const channels = x!.shape[rank - 1]!;
  const rows = x!.shape.slice(0, -1).reduce((p, q) => p * q, 1);
  if (rows === 0 || channels === 0) return null;
  const out = k.output(attrs.keepDims ? [...new Array<number>(rank - 1).fill(1), channels] : [channels]);
  k.run('channel_sum', [k.address(x!), k.address(out), rows, channels, mean ? 1 / rows : 1], rows * channels, [4]);
  return out;
}

/** Channels the fused batch norm takes at most (its per-channel scratch lives on a 64 KiB stack). */
const MAX_BATCH_NORM_CHANNELS = 4096;

function batchNormShape(x: tf.TensorInfo): { rows: number; channels: number } | null {
  const channels = x.shape[x.shape.length - 1]!;
  if (x.dtype !== 'float32' || x.shape.length < 2 || channels > MAX_BATCH_NORM_CHANNELS) return null;
  return { rows: x.shape.slice(0, -1).reduce((p, q) => p * q, 1), channels };
}

/** Train-mode batch norm in one kernel: [y, batch mean, biased batch variance]. */
export function batchNormTrain(
  k: WasmKernels,
  { x, gamma, beta }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo[] | null {
  const size = batchNormShape(x!);
  if (!size || !allFloat(gamma!, beta!)) return null;
  const y = k.output(x!.shape);
  const mean = k.output([size.channels]);
  const variance = k.output([size.channels]);
  k.run(
    'batch_norm_forward',
    [
      k.address(x!),
      k.address(gamma!),
      k.address(beta!),
      k.address(y),
      k.address(mean),
      k.address(variance),
      size.rows,
      size.channels,
      attrs.eps as number,
    ],
    size.rows * size.channels,
    [8],
  );
  return [y, mean, variance];
}

/** Its gradient: [dx, dgamma, dbeta] from dy and the forward's input and statistics. */
export function batchNormTrainGrad(
  k: WasmKernels,
  { dy, x, gamma, mean, variance }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo[] | null {
  const size = batchNormShape(x!);
  if (!size || !allFloat(dy!, gamma!, mean!, variance!)) return null;
  const dx = k.output(x!.shape);
  const dgamma = k.output([size.channels]);
  const dbeta = k.output([size.channels]);
  k.run(
    'batch_norm_backward',
    [
      k.address(dy!),
      k.address(x!),
      k.address(gamma!),
      k.address(mean!),
      k.address(variance!),
      k.address(dx),
      k.address(dgamma),
      k.address(dbeta),
      size.rows,
      size.channels,
      attrs.eps as number,
    ],
    size.rows * size.channels,
    [10],
  );
  return [dx, dgamma, dbeta];
}

/** One SGD-with-momentum step of one parameter: [param', buffer'] (see kernels.c's sgd_update). */
export function sgdUpdate(
  k: WasmKernels,
  { param, grad, buffer }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo[] | null {
  if (!allFloat(param!, grad!, buffer!)) return null;
  const size = param!.shape.reduce((p, q) => p * q, 1);
  if (grad!.shape.reduce((p, q) => p * q, 1) !== size || buffer!.shape.reduce((p, q) => p * q, 1) !== size) return null;
  const paramOut = k.output(param!.shape);
  const bufferOut = k.output(param!.shape);
  k.run(
    'sgd_update',
    [
      k.address(param!),
      k.address(grad!),
      k.address(buffer!),
      k.address(paramOut),
      k.address(bufferOut),
      size,
      attrs.nesterov ? 1 : 0,
      attrs.lr as number,
      attrs.momentum as number,
      attrs.weightDecay as number,
    ],
    size * 8,
    [7, 8, 9],
  );
  return [paramOut, bufferOut];
}

/** One Adam step of one parameter: [param', m', v'] (see kernels.c's adam_update for the attributes' roles). */
export function adamUpdate(
  k: WasmKernels,
  { param, grad, m, v }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo[] | null {
  if (!allFloat(param!, grad!, m!, v!)) return null;
  const size = param!.shape.reduce((p, q) => p * q, 1);
  if ([grad!, m!, v!].some((t) => t.shape.reduce((p, q) => p * q, 1) !== size)) return null;
  const [paramOut, mOut, vOut] = [0, 1, 2].map(() => k.output(param!.shape));
  const a = attrs as Record<string, number | boolean>;
  const scalars = [
    a.lr,
    a.beta1,
    a.oneMinusBeta1,
    a.beta2,
    a.oneMinusBeta2,
    a.c1,
    a.c2,
    a.eps,
    a.weightDecay,
    a.keep,
  ].map(Number);
  k.run(
    'adam_update',
    [
      k.address(param!),
      k.address(grad!),
      k.address(m!),
      k.address(v!),
      k.address(paramOut!),
      k.address(mOut!),
      k.address(vOut!),
      size,
      a.l2 ? 1 : 0,
      a.decoupled ? 1 : 0,
      ...scalars,
    ],
    size * 12,
    scalars.map((_, i) => 10 + i),
  );
  return [paramOut!, mOut!, vOut!];
}
