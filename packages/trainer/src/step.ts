/**
 * One training step, written once: the forward pass in the model's current mode, the loss, the gradients of every
 * trainable parameter (frozen ones get none, and no update), and the optimizer's update, with one asynchronous read
 * (a GPU backend cannot read synchronously in Node, and a page must not stall). Used by `fit`, the CLI's and the
 * app's benchmarks and checks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type Module,
  Sequential,
  chunkedForward,
  gradients,
  recomputingForward,
  refuseTrainingBatchNorm,
} from '@convnets/nn';
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
   * With `microBatch`, for a Sequential net: the index of its first classifier module (the registry's
   * `classifierStart`). Only the modules before it go through in chunks (`chunkedForward`: each chunk run again in the
   * backward pass, one more forward of them); the classifier runs once on the whole batch, so its weight gradients
   * (VGG's first linear layer: 411 MB) are made once per batch instead of once per chunk, and its Dropout draws the
   * batch's masks, exactly as one pass. BatchNorm is refused only before it.
   */
  classifierStart?: number;
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
  { lr, loss = crossEntropy, microBatch, classifierStart, recompute = false }: TrainStepOptions,
): Promise<TrainStepResult> {
  const params = model.trainableParameters();
  if (params.length === 0) throw new RangeError('trainStep: every parameter is frozen: nothing to train');
  const size = x.shape[0]!;
  const chunk = microBatch === undefined ? size : microBatch;
  if (!(Number.isInteger(chunk) && chunk > 0))
    throw new RangeError(`trainStep: microBatch must be a positive integer, got ${microBatch}`);
  const split = chunk < size && classifierStart !== undefined;
  if (split) checkSplit(model, classifierStart);
  if (chunk < size) {
    // Split at the classifier, only the modules before it go in chunks.
    const features = new Set([...model.namedChildren()].slice(0, split ? classifierStart : undefined).map(([n]) => n));
    const chunked = [...model.namedModules()].filter(([path]) => features.has(path.split('.')[0]!));
    refuseTrainingBatchNorm(chunked, `trainStep: microBatch ${chunk} of a batch of ${size}`);
  }
  const forward = split
    ? (input: tf.Tensor) => featuresInChunks(model as Sequential, input, classifierStart, chunk)
    : (input: tf.Tensor) => (recompute ? recomputingForward(model, input) : model.forward(input));
  const { value, correct, grads } =
    chunk < size && !split ? chunkedGrads(forward, x, y, params, loss, chunk) : batchGrads();
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

/** A Sequential's forward with its modules before `classifierStart` run in chunks (`chunkedForward`). */
function featuresInChunks(model: Sequential, x: tf.Tensor, classifierStart: number, chunk: number): tf.Tensor {
  const layers = model.layers;
  const features = chunkedForward(layers.slice(0, classifierStart), x, chunk);
  return layers.slice(classifierStart).reduce((h, layer) => layer.forward(h), features);
}

/** Where a split at `classifierStart` is not a split of a Sequential net, says why. */
function checkSplit(model: Module, classifierStart: number): asserts model is Sequential {
  if (!(model instanceof Sequential))
    throw new TypeError(`trainStep: classifierStart splits a Sequential net; this net is a ${model.constructor.name}`);
  const count = model.layers.length;
  if (!(Number.isInteger(classifierStart) && classifierStart > 0 && classifierStart < count))
    throw new RangeError(
      `trainStep: classifierStart must be the index of one of the net's ${count} top-level modules after the ` +
        `first, got ${classifierStart}`,
    );
}
