import * as tf from '@tensorflow/tfjs-core';
import { Module, buffer, parameter } from '../module.js';
import { FUSED_BATCH_NORM } from '../fused-kernels.js';
import { ShapeError, expectRank, formatShape, type Shape } from '../shape.js';

export interface BatchNorm2dOptions {
  eps?: number;
  /** Weight of the new batch in the running averages (PyTorch's convention, 0.1 by default). */
  momentum?: number;
  affine?: boolean;
}

/**
 * Batch normalisation over N, H and W of NHWC input. Train mode normalises with the batch's
 * statistics and updates the running ones (variance unbiased, as PyTorch); eval mode uses the running ones.
 */
export class BatchNorm2d extends Module {
  static readonly typeName: string = 'BatchNorm2d';

  readonly eps: number;
  readonly momentum: number;
  weight: tf.Variable | null;
  bias: tf.Variable | null;
  // PyTorch's names, so state dicts match.
  running_mean: tf.Variable;
  running_var: tf.Variable;
  num_batches_tracked: tf.Variable;

  constructor(
    readonly numFeatures: number,
    { eps = 1e-5, momentum = 0.1, affine = true }: BatchNorm2dOptions = {},
  ) {
    super();
    this.eps = eps;
    this.momentum = momentum;
    this.weight = affine ? parameter(tf.ones([numFeatures])) : null;
    this.bias = affine ? parameter(tf.zeros([numFeatures])) : null;
    this.running_mean = buffer(tf.zeros([numFeatures]));
    this.running_var = buffer(tf.ones([numFeatures]));
    this.num_batches_tracked = buffer(tf.scalar(0, 'int32'));
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training) {
      return tf.batchNorm(
        x,
        this.running_mean,
        this.running_var,
        this.bias ?? undefined,
        this.weight ?? undefined,
        this.eps,
      );
    }
    // One kernel where the running backend provides it (see fused-kernels.ts); elsewhere the ops below.
    if (this.weight && this.bias && tf.getKernel(FUSED_BATCH_NORM, tf.getBackend())) {
      const [y, mean, variance] = tf
        .engine()
        .runKernel(FUSED_BATCH_NORM, { x, gamma: this.weight, beta: this.bias }, { eps: this.eps }) as tf.Tensor[];
      this.updateRunningStats(mean!, variance!, x.size / this.numFeatures);
      return y!;
    }
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    this.updateRunningStats(mean, variance, x.size / this.numFeatures);
    const gamma = this.weight ?? tf.onesLike(mean);
    const beta = this.bias ?? tf.zerosLike(mean);
    return normalizeWithBatchStats(x, mean, variance, gamma, beta, this.eps);
  }

  private updateRunningStats(mean: tf.Tensor, variance: tf.Tensor, count: number): void {
    const m = this.momentum;
    const unbiased = count > 1 ? count / (count - 1) : 1;
    // Not on the loss's path, so a gradient tape that records these ops never backpropagates through them.
    tf.tidy(() => {
      this.running_mean.assign(tf.add(tf.mul(this.running_mean, 1 - m), tf.mul(mean, m)));
      this.running_var.assign(tf.add(tf.mul(this.running_var, 1 - m), tf.mul(variance, m * unbiased)));
      this.num_batches_tracked.assign(tf.add(this.num_batches_tracked, tf.scalar(1, 'int32')));
    });
  }

  protected override computeShape(input: Shape): Shape {
    expectRank(this, input, 4, 'NHWC');
    if (input[3] !== this.numFeatures) {
      throw new ShapeError(`expects ${this.numFeatures} channels, got ${formatShape(input)}`, this, input);
    }
    return input;
  }

  protected override extraRepr(): string {
    return (
      `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${this.momentum}, ` +
      `affine=${this.weight ? 'True' : 'False'}, track_running_stats=True`
    );
  }
}

/**
 * Train-mode batch norm with its closed-form gradient, so backprop is a few elementwise ops and two
 * reductions per layer instead of tfjs's generic chain (which tiles the statistics to the input's size):
 *   dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma).
 */
function normalizeWithBatchStats(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
): tf.Tensor {
  const axes = [0, 1, 2];
  const m = x.size / x.shape[3]!;
  const f = tf.customGrad((input, scale, offset, save) => {
    const invstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(input as tf.Tensor, mean), invstd);
    (save as tf.GradSaveFunc)([xhat, invstd, scale as tf.Tensor]);
    return {
      value: tf.add(tf.mul(xhat, scale as tf.Tensor), offset as tf.Tensor),
      gradFunc: (dy, saved) => {
        const [xh, is, g] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dbeta = tf.sum(dy, axes);
        const dgamma = tf.sum(tf.mul(dy, xh), axes);
        const dx = tf.mul(tf.mul(g, tf.div(is, m)), tf.sub(tf.sub(tf.mul(dy, m), dbeta), tf.mul(xh, dgamma)));
        return [dx, dgamma, dbeta];
      },
    };
  });
  return f(x, gamma, beta);
}

/** Python's repr of small floats (1e-05 rather than JavaScript's 0.00001). */
function pyFloat(v: number): string {
  if (v !== 0 && Math.abs(v) < 1e-4) {
    const [mantissa, exponent] = v.toExponential().split('e');
    const e = Number(exponent);
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(v);
}
