/**
 * tfjs kernels on the optional oneDNN addon (@convnets/backend-native): convolutions (forward, input and
 * filter gradients), batched matmuls, batch norm, pool gradients, padding and the SGD
 * update, computed natively on tfjs-wasm's heap in place (operands are byte offsets into it). Each returns
 * null where it does not apply, so the caller falls back to convnets' wasm kernels or tfjs's own.
 * (Elementwise ops, concatenation and split live in wasm/ops.ts: they call the addon where it is attached.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMulDims, poolKernelArgs, type PoolAttrs } from '../geometry.js';
import type { WasmKernels } from '../wasm/runtime.js';

type Inputs = Record<string, tf.TensorInfo>;

const allFloat = (...ts: tf.TensorInfo[]) => ts.every((t) => t.dtype === 'float32');

/**
 * Calls `f` with the tensors' heap addresses and then a view of the heap, taken last: finding an address
 * can move a tensor in from another backend, which can grow the heap and leave an older view short.
 */
function withHeap(
  k: WasmKernels,
  tensors: tf.TensorInfo[],
  f: (heap: Float32Array, ...addresses: number[]) => void,
): void {
  const addresses = tensors.map((t) => k.address(t));
  f(k.heap(), ...addresses);
}

const sizeOf = (shape: readonly number[]) => shape.reduce((p, q) => p * q, 1);

/** The addon's 17-number convolution geometry, or null for layouts it does not take (NCHW, empty tensors). */
function geometry(
  inShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  dilations: unknown = 1,
): number[] | null {
  if ((attrs.dataFormat && attrs.dataFormat !== 'NHWC') || filterShape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number,
    dilations as number,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const g = [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
    info.padInfo.bottom,
    info.padInfo.right,
  ];
  return g.slice(0, 9).some((d) => d <= 0) ? null : g;
}

/** One of the addon's convolutions: reads a and b, writes a fresh output of `outShape(geometry)`. */
function convolve(
  k: WasmKernels,
  call: 'conv2dForward' | 'conv2dInputGrad' | 'conv2dFilterGrad',
  [a, b]: [tf.TensorInfo, tf.TensorInfo],
  [inShape, filterShape]: [number[], number[]],
  attrs: tf.NamedAttrMap,
  outShape: (g: number[]) => number[],
): tf.TensorInfo | null {
  const g = allFloat(a, b) ? geometry(inShape, filterShape, attrs, attrs.dilations) : null;
  if (!g) return null;
  const out = k.output(outShape(g));
  withHeap(k, [a, b, out], (heap, p0, p1, p2) => k.native![call](heap, p0, p1, p2, ...g));
  return out;
}

/** y [N, Ho, Wo, Cout] = conv(x, filter). */
export const conv2d = (k: WasmKernels, { x, filter }: Inputs, attrs: tf.NamedAttrMap) =>
  convolve(k, 'conv2dForward', [x!, filter!], [x!.shape, filter!.shape], attrs, (g) => [g[0]!, g[7]!, g[8]!, g[6]!]);

/** dx [N, H, W, Cin], given dy and the filter. */
export const conv2dBackpropInput = (k: WasmKernels, { dy, filter }: Inputs, attrs: tf.NamedAttrMap) =>
  convolve(
    k,
    'conv2dInputGrad',
    [dy!, filter!],
    [attrs.inputShape as number[], filter!.shape],
    attrs,
    () => attrs.inputShape as number[],
  );

/** dW [kh, kw, Cin, Cout], given x and dy. */
export const conv2dBackpropFilter = (k: WasmKernels, { x, dy }: Inputs, attrs: tf.NamedAttrMap) =>
  convolve(
    k,
    'conv2dFilterGrad',
    [x!, dy!],
    [x!.shape, attrs.filterShape as number[]],
    attrs,
    () => attrs.filterShape as number[],
  );

/** Batched C = op(A) . op(B) with either operand transposed and a batch of 1 broadcast. */
export function batchMatMul(k: WasmKernels, { a, b }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const d = matMulDims(a!, b!, attrs);
  if (!d || sizeOf(a!.shape) === 0 || sizeOf(b!.shape) === 0) return null;
  const c = k.output([Math.max(d.batchA, d.batchB), d.m, d.n]);
  withHeap(k, [a!, b!, c], (heap, p0, p1, p2) =>
    k.native!.matmul(
      heap,
      p0,
      p1,
      p2,
      d.batchA,
      d.batchB,
      d.m,
      d.depth,
      d.n,
      d.transposeA ? 1 : 0,
      d.transposeB ? 1 : 0,
    ),
  );
  return c;
}

function batchNormShape(x: tf.TensorInfo): { rows: number; channels: number } | null {
  const channels = x.shape[x.shape.length - 1]!;
  const rows = sizeOf(x.shape.slice(0, -1));
  return x.dtype === 'float32' && x.shape.length >= 2 && rows > 0 && channels > 0 ? { rows, channels } : null;
}

/** Train-mode batch norm: [y, batch mean, biased batch variance]. */
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
  withHeap(k, [x!, gamma!, beta!, y, mean, variance], (heap, ...at) =>
    k.native!.batchNormTrain(
      heap,
      at[0]!,
      at[1]!,
      at[2]!,
      at[3]!,
      at[4]!,
      at[5]!,
      size.rows,
      size.channels,
      attrs.eps as number,
    ),
  );
  return [y, mean, variance];
}

/** Its gradient: [dx, dgamma, dbeta]. */
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
  withHeap(k, [dy!, x!, gamma!, mean!, variance!, dx, dgamma, dbeta], (heap, ...at) =>
    k.native!.batchNormTrainGrad(
      heap,
      at[0]!,
      at[1]!,
      at[2]!,
      at[3]!,
      at[4]!,
      at[5]!,
      at[6]!,
      at[7]!,
      size.rows,
      size.channels,
      attrs.eps as number,
    ),
  );
  return [dx, dgamma, dbeta];
}

/** Eval-mode batch norm with given statistics (tfjs's FusedBatchNorm): per-channel vectors over NHWC's last axis. */
export function fusedBatchNorm(
  k: WasmKernels,
  { x, mean, variance, scale, offset }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | null {
  const size = batchNormShape(x!);
  const vectors = [mean!, variance!, ...(scale ? [scale] : []), ...(offset ? [offset] : [])];
  if (!size || !allFloat(...vectors) || vectors.some((v) => sizeOf(v.shape) !== size.channels)) return null;
  const y = k.output(x!.shape);
  const addresses = [x!, mean!, variance!, ...(scale ? [scale] : []), ...(offset ? [offset] : []), y];
  withHeap(k, addresses, (heap, ...at) => {
    const [px, pm, pv] = at as [number, number, number];
    const ps = scale ? at[3]! : -1;
    const po = offset ? at[scale ? 4 : 3]! : -1;
    k.native!.batchNormInference(
      heap,
      px,
      pm,
      pv,
      ps,
      po,
      at[at.length - 1]!,
      size.rows,
      size.channels,
      Number(attrs.varianceEpsilon ?? 0.001),
    );
  });
  return y;
}

/** dx of a max-pool: each window's gradient to its first maximum (tfjs cpu's and PyTorch's rule). */
export function maxPoolGrad(k: WasmKernels, { dy, input }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(dy!, input!) || sizeOf(input!.shape) === 0) return null;
  const g = poolKernelArgs(input!.shape, attrs as unknown as PoolAttrs);
  const dx = k.output(input!.shape);
  withHeap(k, [input!, dy!, dx], (heap, p0, p1, p2) => k.native!.maxPoolGrad(heap, p0, p1, p2, ...g));
  return dx;
}

/** dx of an average pool: dy / (kh * kw) to every pixel of each window (tfjs's rule). */
export function avgPoolGrad(k: WasmKernels, { dy, input }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(dy!, input!) || sizeOf(input!.shape) === 0) return null;
  const g = poolKernelArgs(input!.shape, attrs as unknown as PoolAttrs);
  const dx = k.output(input!.shape);
  withHeap(k, [dy!, dx], (heap, p0, p1) => k.native!.avgPoolGrad(heap, p0, p1, ...g));
  return dx;
}

/** Padding with a constant (the gradient of a slice, e.g. nn's live-tap weight crop); ranks up to 6. */
export function padV2(k: WasmKernels, { x }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const paddings = attrs.paddings as Array<[number, number]>;
  const rank = x!.shape.length;
  if (x!.dtype !== 'float32' || rank === 0 || rank > 6 || sizeOf(x!.shape) === 0) return null;
  const out = k.output(x!.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]));
  const lead = 6 - rank;
  const shape = [...new Array<number>(lead).fill(1), ...x!.shape];
  const before = [...new Array<number>(lead).fill(0), ...paddings.map((p) => p[0])];
  const after = [...new Array<number>(lead).fill(0), ...paddings.map((p) => p[1])];
  withHeap(k, [x!, out], (heap, p0, p1) =>
    k.native!.pad(heap, p0, p1, Number(attrs.constantValue ?? 0), ...shape, ...before, ...after),
  );
  return out;
}

/** One SGD-with-momentum step of one parameter: [param', buffer'], the same bits as convnets' wasm kernel. */
export function sgdUpdate(
  k: WasmKernels,
  { param, grad, buffer }: Inputs,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo[] | null {
  const size = sizeOf(param!.shape);
  if (!allFloat(param!, grad!, buffer!) || sizeOf(grad!.shape) !== size || sizeOf(buffer!.shape) !== size) return null;
  const paramOut = k.output(param!.shape);
  const bufferOut = k.output(param!.shape);
  withHeap(k, [param!, grad!, buffer!, paramOut, bufferOut], (heap, p0, p1, p2, p3, p4) =>
    k.native!.sgdUpdate(
      heap,
      p0,
      p1,
      p2,
      p3,
      p4,
      size,
      attrs.nesterov ? 1 : 0,
      attrs.lr as number,
      attrs.momentum as number,
      attrs.weightDecay as number,
    ),
  );
  return [paramOut, bufferOut];
}
