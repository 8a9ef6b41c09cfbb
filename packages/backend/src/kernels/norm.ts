/**
 * The norm family: batch norm in train mode (a fused kernel and its gradient, which `@convnets/nn`'s BatchNorm2d
 * looks up by name), in eval mode (tfjs's FusedBatchNorm), and the per-channel sums and means over NHWC's leading
 * axes (tfjs's Sum and Mean over every axis but the last).
 * - native: oneDNN's batch normalization and an OpenMP loop for eval mode (backend-native's norm.cc).
 * - wasm: the statistics in two passes and the normalisation in a third, threads splitting the channels so every
 *   sum is one thread's, in one order (wasm/norm.c).
 *
 * FUSED_BATCH_NORM (its inputs and outputs: @convnets/nn's fused-kernels.ts) has a gradient that gives
 * [dx, dgamma, dbeta] in one kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_BATCH_NORM } from '@convnets/nn';
import { Limits } from './interface.generated.js';
import { allFloat, call, channelRows, runNative, sizeOf, type KernelSpec, type Op, type Target } from './kernel.js';
import type { WasmKernels } from './wasm/runtime.js';

const FUSED_BATCH_NORM_GRAD = 'ConvnetsBatchNormTrainGrad';

/** x as [rows, channels], where `target` takes it. */
function rowsOn(target: Target, x: tf.TensorInfo) {
  const size = channelRows(x);
  return size && (target === 'native' || size.channels <= Limits.MAX_WASM_CHANNELS) ? size : null;
}

/** Train-mode batch norm in one kernel: [y, batch mean, biased batch variance]. */
const batchNormTrain =
  (target: Target): Op =>
  (k, { x, gamma, beta }, attrs) => {
    const size = rowsOn(target, x!);
    if (!size || !allFloat(gamma!, beta!)) return null;
    const y = k.output(x!.shape);
    const mean = k.output([size.channels]);
    const variance = k.output([size.channels]);
    const at = (t: tf.TensorInfo) => k.address(t);
    const args = {
      x: at(x!),
      gamma: at(gamma!),
      beta: at(beta!),
      y: at(y),
      mean: at(mean),
      var: at(variance),
      ...size,
      eps: attrs.eps as number,
    };
    call(k, target, 'batch_norm_train', args, sizeOf(x!.shape));
    return [y, mean, variance];
  };

/** Its gradient: [dx, dgamma, dbeta] from dy and the forward's input and statistics. */
const batchNormTrainGrad =
  (target: Target): Op =>
  (k, { dy, x, gamma, mean, variance }, attrs) => {
    const size = rowsOn(target, x!);
    if (!size || !allFloat(dy!, gamma!, mean!, variance!)) return null;
    const dx = k.output(x!.shape);
    const dgamma = k.output([size.channels]);
    const dbeta = k.output([size.channels]);
    const at = (t: tf.TensorInfo) => k.address(t);
    const args = {
      dy: at(dy!),
      x: at(x!),
      gamma: at(gamma!),
      mean: at(mean!),
      var: at(variance!),
      dx: at(dx),
      dgamma: at(dgamma),
      dbeta: at(dbeta),
      ...size,
      eps: attrs.eps as number,
    };
    call(k, target, 'batch_norm_train_grad', args, sizeOf(x!.shape));
    return [dx, dgamma, dbeta];
  };

/** Eval-mode batch norm with given statistics (tfjs's FusedBatchNorm): per-channel vectors over NHWC's last axis. */
const fusedBatchNormNative: Op = (k, { x, mean, variance, scale, offset }, attrs) => {
  const size = channelRows(x!);
  const vectors = [mean!, variance!, ...(scale ? [scale] : []), ...(offset ? [offset] : [])];
  if (!size || !allFloat(...vectors) || vectors.some((v) => sizeOf(v.shape) !== size.channels)) return null;
  const y = k.output(x!.shape);
  // Absent scale or offset: byte offset -1 (1 and 0).
  const at = (t: tf.TensorInfo | undefined) => (t ? k.address(t) : -1);
  const args = { x: at(x), mean: at(mean), var: at(variance), scale: at(scale), offset: at(offset), y: at(y) };
  runNative(k, 'batch_norm_inference', { ...args, ...size, eps: Number(attrs.varianceEpsilon ?? 0.001) });
  return y;
};

/** Sum or mean over every axis but the last (the per-channel reductions of NHWC batch norm). */
const channelReduce =
  (mean: boolean): Op =>
  (k: WasmKernels, { x }, attrs) => {
    const rank = x!.shape.length;
    if (x!.dtype !== 'float32' || rank < 2) return null;
    const axes = tf.util.parseAxisParam(attrs.axis as number[], x!.shape).sort((p, q) => p - q);
    if (axes.length !== rank - 1 || axes.some((axis, i) => axis !== i)) return null;
    const channels = x!.shape[rank - 1]!;
    const rows = sizeOf(x!.shape.slice(0, -1));
    if (rows === 0 || channels === 0) return null;
    const out = k.output(attrs.keepDims ? [...new Array<number>(rank - 1).fill(1), channels] : [channels]);
    const args = { x: k.address(x!), out: k.address(out), rows, channels, scale: mean ? 1 / rows : 1 };
    k.run('channel_sum', args, rows * channels);
    return out;
  };

export const NORM_KERNELS = {
  [FUSED_BATCH_NORM]: {
    on: ['wasm'],
    fused: true,
    expects: 'float32 inputs of matching sizes (at most 4096 channels without the oneDNN addon)',
    native: batchNormTrain('native'),
    wasm: batchNormTrain('wasm'),
  },
  [FUSED_BATCH_NORM_GRAD]: {
    on: ['wasm'],
    fused: true,
    native: batchNormTrainGrad('native'),
    wasm: batchNormTrainGrad('wasm'),
  },
  FusedBatchNorm: { on: ['wasm'], native: fusedBatchNormNative },
  Sum: { on: ['wasm'], wasm: channelReduce(false) },
  Mean: { on: ['wasm'], wasm: channelReduce(true) },
} satisfies Record<string, KernelSpec>;

/** The fused batch norm's gradient: one kernel gives all three. */
export function registerBatchNormGradient(): void {
  if (tf.getGradient(FUSED_BATCH_NORM)) return;
  tf.registerGradient({
    kernelName: FUSED_BATCH_NORM,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true, true],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma, mean, variance] = saved;
      const inputs = { dy: (Array.isArray(dy) ? dy[0] : dy)!, x: x!, gamma: gamma!, mean: mean!, variance: variance! };
      // Run here: the tape calls each closure in a tidy of its own, which would free the other two. Backprop as a
      // whole runs in a tidy that frees any it does not use.
      const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_BATCH_NORM_GRAD, inputs, attrs) as tf.Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    },
  });
}
