/**
 * The two convolution gradients as forward convolutions, so they run on the backend's fastest kernel
 * (XNNPACK on wasm) instead of scalar loops, for every stride and padding.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertNhwc, convWindow, insertZeros, padOrCrop, type ConvAttrs, type Window } from './geometry.js';

/** Largest im2col matrix (in floats, 32 MiB) the matrix-multiply route may allocate. */
const IM2COL_LIMIT = 1 << 23;

/**
 * Two routes per gradient, chosen per layer by measurement (docs/performance.md):
 * - as a convolution: best on large feature maps, where XNNPACK's conv is at its fastest;
 * - as im2col/col2im around one plain matrix multiply: exact FLOPs for strided input gradients (no
 *   inserted zeros) and far faster on small feature maps and 1x1 kernels, where a convolution is
 *   mostly set-up. It needs the ConvnetsIm2Col/Col2Im kernels (wasm and cpu have them).
 */
function useMatmul(g: Window, batch: number, inChannels: number, gradient: 'filter' | 'input'): boolean {
  if (!tf.getKernel('ConvnetsIm2Col', tf.getBackend())) return false;
  const rows = batch * g.outHeight * g.outWidth;
  if (rows * g.kernelHeight * g.kernelWidth * inChannels > IM2COL_LIMIT) return false;
  const strided = g.strideHeight > 1 || g.strideWidth > 1;
  const pointwise = g.kernelHeight === 1 && g.kernelWidth === 1;
  const small = g.outHeight * g.outWidth <= 16;
  return pointwise || small || (strided && gradient === 'input');
}

/** The attributes the im2col/col2im kernels read. */
function im2colAttrs(g: Window, shape: readonly number[]): tf.NamedAttrMap {
  const [batch, , , channels] = shape as [number, number, number, number];
  return { ...g, batch, channels } as unknown as tf.NamedAttrMap;
}

/**
 * dW[i, j, ci, co] = sum over n, y, x of xPadded[n, y*s + i, x*s + j, ci] * dy[n, y, x, co].
 * Swapping the roles of batch and channels makes that a convolution of x^T [Cin, H, W, N] with the
 * filter dy^T [Ho, Wo, N, Cout], dilated by the stride: the output [Cin, kh, kw, Cout] is dW^T.
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: readonly number[],
  attrs: ConvAttrs,
): tf.Tensor4D {
  assertNhwc('Conv2DBackpropFilter', attrs);
  return tf.tidy(() => {
    const g = convWindow(x.shape, filterShape, attrs);
    const [batch, , , cin] = x.shape;
    if (useMatmul(g, batch, cin, 'filter')) {
      // dW [K, Cout] = cols^T [K, M] x dy [M, Cout]
      const cols = tf.engine().runKernel('ConvnetsIm2Col', { x }, im2colAttrs(g, x.shape)) as tf.Tensor2D;
      const dW = tf.matMul(cols, tf.reshape(dy, [-1, filterShape[3]!]), true, false);
      return tf.reshape(dW, filterShape as [number, number, number, number]);
    }
    const xT = tf.transpose(x, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    // Only rows/columns that some window touches matter: crop the far side to exactly what kh, kw need.
    const usedH = (g.outHeight - 1) * g.strideHeight + g.kernelHeight;
    const usedW = (g.outWidth - 1) * g.strideWidth + g.kernelWidth;
    const padded = padOrCrop(xT, g.top, usedH - g.inHeight - g.top, g.left, usedW - g.inWidth - g.left);
    const dilations: [number, number] = [g.strideHeight, g.strideWidth];
    const out =
      dilations[0] === 1 && dilations[1] === 1
        ? tf.conv2d(padded, dyT, 1, 'valid')
        : tf.conv2d(padded, dyT, 1, 'valid', 'NHWC', dilations);
    return tf.transpose(out, [1, 2, 0, 3]);
  });
}

/**
 * dX = full correlation of the zero-inserted dy with the filter rotated 180 degrees and its in/out
 * channels swapped: a stride-1 forward convolution.
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: readonly number[],
  attrs: ConvAttrs,
): tf.Tensor4D {
  assertNhwc('Conv2DBackpropInput', attrs);
  return tf.tidy(() => {
    const g = convWindow(inputShape, filter.shape, attrs);
    const [batch, , , cin] = inputShape as [number, number, number, number];
    if (useMatmul(g, batch, cin, 'input')) {
      // dCols [M, K] = dy [M, Cout] x W^T [Cout, K], then col2im sums the columns back into dX.
      const cout = filter.shape[3];
      const cols = tf.matMul(tf.reshape(dy, [-1, cout]), tf.reshape(filter, [-1, cout]), false, true);
      return tf.engine().runKernel('ConvnetsCol2Im', { cols }, im2colAttrs(g, inputShape)) as tf.Tensor4D;
    }
    const rotated = rotate180SwapChannels(filter);
    const spread = insertZeros(dy, g.strideHeight, g.strideWidth);
    const [, sh, sw] = spread.shape;
    const top = g.kernelHeight - 1 - g.top;
    const left = g.kernelWidth - 1 - g.left;
    const bottom = g.inHeight - sh - top + g.kernelHeight - 1;
    const right = g.inWidth - sw - left + g.kernelWidth - 1;
    return tf.conv2d(padOrCrop(spread, top, bottom, left, right), rotated, 1, 'valid');
  });
}

/**
 * [kh, kw, in, out] -> rotated 180 degrees with in and out swapped, [kh, kw, out, in]: by the
 * ConvnetsRotateFilter heap kernel where this backend has it, else with ops.
 */
function rotate180SwapChannels(filter: tf.Tensor4D): tf.Tensor4D {
  if (tf.getKernel('ConvnetsRotateFilter', tf.getBackend())) {
    return tf.engine().runKernel('ConvnetsRotateFilter', { filter }, {}) as tf.Tensor4D;
  }
  return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
}
