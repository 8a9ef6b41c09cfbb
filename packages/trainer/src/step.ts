/**
 * One training step, written once: the forward pass in the model's current mode, the loss, the gradients of every
 * trainable parameter (frozen ones get none, and no update), and the optimizer's update, with one asynchronous read
 * (a GPU backend cannot read synchronously in Node, and a page must not stall). Used by `fit`, the CLI's and the
 * app's benchmarks and checks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@convnets/nn';
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
  { lr, loss = crossEntropy }: TrainStepOptions,
): Promise<TrainStepResult> {
  const params = model.trainableParameters();
  if (params.length === 0) throw new RangeError('trainStep: every parameter is frozen: nothing to train');
  let logits: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    logits = tf.keep(model.forward(x));
    return loss(logits, y);
  }, params);
  const readout = tf.tidy(() => tf.stack([value, tf.cast(correctCount(logits!, y), 'float32')]));
  tf.dispose([value, logits!]);
  try {
    const [lossValue, correct] = (await readout.data()) as Float32Array;
    if (!Number.isFinite(lossValue)) throw new TrainingDivergedError(`loss became ${lossValue}`);
    optimizer.step(
      params,
      params.map((p) => grads[p.name]!),
      lr,
    );
    return { loss: lossValue!, correct: correct! };
  } finally {
    readout.dispose();
    tf.dispose(Object.values(grads));
  }
}
