/**
 * Shared geometry of the gradient kernels: reading tfjs's conv/pool attributes, zero-insertion for
 * strides, and padding that may be negative (a crop). All NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PoolWindow } from './interface.generated.js';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

export interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export interface Window {
  /** Spatial size of the (unpadded) input. */
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** A window's geometry plus the batch and channel counts of its input (the im2col kernels' attributes). */
export interface PoolGeometry extends Window {
  batch: number;
  channels: number;
}

function toWindow(info: tf.backend_util.Conv2DInfo): Window {
  const { top, bottom, left, right } = info.padInfo;
  return {
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    kernelHeight: info.filterHeight,
    kernelWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    top,
    bottom,
    left,
    right,
  };
}

export function assertNhwc(kernel: string, attrs: { dataFormat?: string }): void {
  if (attrs.dataFormat && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernel}: only NHWC is supported by the convnets kernels, got ${attrs.dataFormat}`);
  }
}

export function convWindow(inShape: readonly number[], filterShape: readonly number[], attrs: ConvAttrs): Window {
  return toWindow(
    tf.backend_util.computeConv2DInfo(
      inShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    ),
  );
}

export interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function poolWindow(inShape: readonly number[], attrs: PoolAttrs): Window {
  return toWindow(
    tf.backend_util.computePool2DInfo(
      inShape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    ),
  );
}

/** A pool's windows as convnets' pool kernels take them (wasm and native: kernels.h's PoolWindow). */
export function poolKernelWindow(inShape: readonly number[], attrs: PoolAttrs): PoolWindow {
  const w = poolWindow(inShape, attrs);
  return {
    n: inShape[0]!,
    h: w.inHeight,
    w: w.inWidth,
    c: inShape[3]!,
    oh: w.outHeight,
    ow: w.outWidth,
    kh: w.kernelHeight,
    kw: w.kernelWidth,
    sh: w.strideHeight,
    sw: w.strideWidth,
    ph: w.top,
    pw: w.left,
  };
}

/**
 * Inserts (stride - 1) zeros between neighbouring rows and columns: [N, H, W, C] -> [N, (H-1)sh+1, (W-1)sw+1, C].
 * A reshape and one pad, so it costs one copy.
 */
export function insertZeros(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  const spread = tf.pad(tf.reshape(x, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.slice(
    tf.reshape(spread, [n, h * sh, w * sw, c]) as tf.Tensor4D,
    [0, 0, 0, 0],
    [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c],
  );
}

/** Pads H and W by the given amounts, cropping where an amount is negative. */
export function padOrCrop(
  x: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
  value = 0,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const t = Math.max(0, -top);
    const l = Math.max(0, -left);
    y = tf.slice(y, [0, t, l, 0], [n, h - t - Math.max(0, -bottom), w - l - Math.max(0, -right), c]);
  }
  const [pt, pb, pl, pr] = [top, bottom, left, right].map((p) => Math.max(0, p)) as [number, number, number, number];
  return pt || pb || pl || pr
    ? tf.pad(
        y,
        [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ],
        value,
      )
    : y;
}

/** A batched matmul's sizes: C [batch, m, n] = op(A) [batchA, m, depth] . op(B) [batchB, depth, n]. */
export interface MatMulDims {
  batchA: number;
  batchB: number;
  m: number;
  depth: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * The sizes of BatchMatMul(a, b) for rank-3 float32 operands whose depths agree and whose batches are equal
 * or 1 (broadcast); null for anything else (the caller keeps tfjs's kernel).
 */
export function matMulDims(a: tf.TensorInfo, b: tf.TensorInfo, attrs: tf.NamedAttrMap): MatMulDims | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length !== 3 || b.shape.length !== 3) return null;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const [batchA, ar, ac] = a.shape as [number, number, number];
  const [batchB, br, bc] = b.shape as [number, number, number];
  const [m, depth] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  if ((transposeB ? bc : br) !== depth || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return null;
  return { batchA, batchB, m, depth, n, transposeA, transposeB };
}
