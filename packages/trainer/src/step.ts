/**
 * One training step, written once: the forward pass in the model's current mode, the loss, the gradients of every
 * trainable parameter (frozen ones get none, and no update), and the optimizer's update, with one asynchronous read
 * (a GPU backend cannot read synchronously in Node, and a page must not stall). Used by `fit`, the CLI's and the
 * app's benchmarks and checks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, type Module, gradients, recomputingForward } from '@convnets/nn';
import { correctCount, crossEntropy } from './loss.js';
import type { Optimizer } from './optimizers.js';

/** A batch of inputs (NHWC) and integer labels; the caller keeps (and disposes) it. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** The loss of a batch's logits against its labels (default: cross-entropy). */
export type LossFunction = (logits: tf.Tensor, labels: tf.Tensor) => tf.Scalar;

export interface TrainStepOptions {
  /** The learning rate of this step (a schedule's value). */
  lr: number;
  loss?: LossFunction;
  /**
   * Images per forward and backward pass (gradient accumulation): the batch goes through in chunks of this size, each
   * chunk's mean loss weighted by its share of the batch, their gradients summed, then one update — the batch's step,
   * in less memory (a chunk's activations at a time). Refused for a net with BatchNorm in training mode: its
   * statistics would be each chunk's, not the batch's.
   */
  microBatch?: number;
  /**
   * Activation checkpointing (`recomputingForward`): each block of the net keeps only its input through the forward
   * and runs again in the backward pass, so a step holds one block's activations at a time, for about a third more
   * compute. The same step, for batches whose activations would not fit otherwise (BatchNorm's statistics stay the
   * whole batch's, unlike `microBatch`).
   */
  recompute?: boolean;
}

export interface TrainStepResult {
  /** The batch's loss before the update. */
  loss: number;
  /** How many of the batch's predictions (before the update) were right. */
  correct: number;
}

/** Raised when a step's loss is NaN or infinite; the weights are left as they were before the step. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

/**
 * Trains `model` one step on `batch`: loss and correct count are read together, once, and a loss that is not finite
 * throws `TrainingDivergedError` before anything is updated.
 */
export async function trainStep(
  model: Module,
  { x, y }: Batch,
  optimizer: Optimizer,
  { lr, loss = crossEntropy, microBatch, recompute = false }: TrainStepOptions,
): Promise<TrainStepResult> {
  const params = model.trainableParameters();
  if (params.length === 0) throw new RangeError('trainStep: every parameter is frozen: nothing to train');
  const size = x.shape[0]!;
  const chunk = microBatch === undefined ? size : microBatch;
  if (!(Number.isInteger(chunk) && chunk > 0))
    throw new RangeError(`trainStep: microBatch must be a positive integer, got ${microBatch}`);
  if (chunk < size) refuseBatchNorm(model, chunk, size);
  const forward = (input: tf.Tensor) => (recompute ? recomputingForward(model, input) : model.forward(input));
  const { value, correct, grads } = chunk < size ? chunkedGrads(forward, x, y, params, loss, chunk) : batchGrads();
  const readout = tf.tidy(() => tf.stack([value, tf.cast(correct, 'float32')]));
  tf.dispose([value, correct]);
  try {
    const [lossValue, right] = (await readout.data()) as Float32Array;
    if (!Number.isFinite(lossValue)) throw new TrainingDivergedError(`loss became ${lossValue}`);
    optimizer.step(
      params,
      params.map((p) => grads[p.name]!),
      lr,
    );
    return { loss: lossValue!, correct: right! };
  } finally {
    readout.dispose();
    tf.dispose(Object.values(grads));
  }

  function batchGrads() {
    let logits: tf.Tensor | undefined;
    const { value, grads } = variableGrads(() => {
      logits = tf.keep(forward(x));
      return loss(logits, y);
    }, params);
    const correct = correctCount(logits!, y);
    logits!.dispose();
    return { value, correct, grads };
  }
}

/** The batch's loss, correct count and gradients, summed over chunks of `chunk` images. */
function chunkedGrads(
  forward: (x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  y: tf.Tensor,
  params: tf.Variable[],
  loss: LossFunction,
  chunk: number,
) {
  const size = x.shape[0]!;
  let value: tf.Scalar = tf.scalar(0);
  let correct: tf.Tensor = tf.scalar(0, 'int32');
  let sums: Array<tf.Tensor | null> = [];
  for (let start = 0; start < size; start += chunk) {
    const n = Math.min(chunk, size - start);
    const [xc, yc] = [tf.slice(x, start, n), tf.slice(y, start, n)];
    let logits: tf.Tensor | undefined;
    // Each gradient is added to its sum as the backward pass makes it: no second copy of every gradient.
    const part = gradients(
      () => {
        logits = tf.keep(forward(xc));
        return tf.mul(loss(logits, yc), n / size);
      },
      params,
      { addTo: sums },
    );
    sums = part.grads;
    const totals = tf.tidy(() => ({
      value: tf.add(value, part.value) as tf.Scalar,
      correct: tf.add(correct, correctCount(logits!, yc)),
    }));
    tf.dispose([xc, yc, logits!, value, correct, part.value]);
    ({ value, correct } = totals);
  }
  return { value, correct, grads: byName(params, sums) };
}

/**
 * `tf.variableGrads` on `@convnets/nn`'s `gradients`, which frees each intermediate gradient once used: a step's
 * peak memory is its forward's activations, not twice them.
 */
function variableGrads(f: () => tf.Scalar, params: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const { value, grads } = gradients(f, params);
  return { value: value as tf.Scalar, grads: byName(params, grads) };
}

/** Gradients by parameter name, zeros where the loss does not depend on a parameter. */
function byName(params: tf.Variable[], grads: Array<tf.Tensor | null>): tf.NamedTensorMap {
  return Object.fromEntries(params.map((p, i) => [p.name, grads[i] ?? tf.zerosLike(p)]));
}

/** A net whose BatchNorm layers train would see each chunk's statistics: not the batch's step. */
function refuseBatchNorm(model: Module, chunk: number, size: number) {
  for (const [path, m] of model.namedModules())
    if (m instanceof BatchNorm2d && m.training)
      throw new RangeError(
        `trainStep: microBatch ${chunk} of a batch of ${size}: ${path || 'the net'} is a BatchNorm layer in training ` +
          "mode, whose statistics would be each chunk's, not the batch's: train with a smaller batch instead",
      );
}
