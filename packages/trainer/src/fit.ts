/**
 * The notebook's train_model, grown up: epochs of SGD (or any Optimizer) on cross-entropy, a validation
 * pass per epoch, four history lists, events for every batch and epoch, and a clear stop when the loss
 * diverges. Tensors are created and disposed per batch, so memory stays flat however long it runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { generatorStates, leanForward, type Module, restoreGeneratorStates } from '@convnets/nn';
import { crossEntropy } from './loss.js';
import { Sgd, type Optimizer } from './optimizers.js';
import { constant, type Schedule } from './schedules.js';
import { type LossFunction, TrainingDivergedError, trainStep } from './step.js';

export { TrainingDivergedError };

/** What fit and evaluate read: an epoch of batches per iteration (a DataLoader is one). */
export interface Batches extends AsyncIterable<{ x: tf.Tensor; y: tf.Tensor }> {
  /** Batches per epoch, when known (for progress and schedules). */
  readonly length?: number;
  /** The batches of epoch e (0-based), when the order depends only on e: what makes resuming exact. */
  batches?(epoch: number): AsyncIterable<{ x: tf.Tensor; y: tf.Tensor }>;
}

/** Everything besides the model's own state that a resumed run needs to continue exactly. */
export interface TrainingState {
  /** Epochs completed. */
  epoch: number;
  history: History;
  /** The optimizer's state (its tensors: copy or serialise them before training continues). */
  optimizer: Map<string, tf.Tensor>;
  /** The model's generator states (its Dropouts'), by module path: nn's generatorStates. */
  rng: Record<string, number>;
}

export interface BatchEvent {
  epoch: number;
  batch: number;
  batches: number | undefined;
  loss: number;
  /** Mean loss over the epoch so far. */
  runningLoss: number;
  lr: number;
  imagesPerSec: number;
}

export interface EpochEvent {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  validLoss?: number;
  validAcc?: number;
  imagesPerSec: number;
  seconds: number;
  /** The share of the epoch's training time spent waiting for its batches (loading, transforms): ideally ~0. */
  dataWait: number;
}

export interface History {
  trainLoss: number[];
  trainAcc: number[];
  validLoss: number[];
  validAcc: number[];
  imagesPerSec: number[];
  /** Per epoch, EpochEvent's dataWait (NaN for epochs of a run saved before it was recorded). */
  dataWait: number[];
}

export interface FitOptions {
  train: Batches;
  valid?: Batches;
  /** Total epochs of the run (a resumed run continues up to this; schedules span all of them). */
  epochs: number;
  optimizer?: Optimizer;
  /** Used when no schedule is given. Default 0.01 (the notebook's). */
  lr?: number;
  schedule?: Schedule;
  labelSmoothing?: number;
  /** Images per forward and backward pass, the batch's gradients summed over them (trainStep's `microBatch`). */
  microBatch?: number;
  /** With `microBatch`: where a Sequential net's classifier starts, which then runs on the whole batch (trainStep's). */
  classifierStart?: number;
  /** Blocks run again in the backward pass instead of keeping their activations (trainStep's `recompute`). */
  recompute?: boolean;
  /**
   * Continue a run: epoch numbering, schedule, optimizer, dropout generators and history pick up from here (the
   * model's weights are the caller's to load: restoreTrainingState does both). fit loads the optimizer tensors
   * into `optimizer` and disposes them.
   */
  resume?: TrainingState;
  /** Called after every epoch with the state to save for `resume` (with the model's stateDict). */
  onCheckpoint?: (state: TrainingState) => void | Promise<void>;
  onBatch?: (event: BatchEvent) => void | Promise<void>;
  onEpoch?: (event: EpochEvent) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface FitResult {
  history: History;
  /** The validation set's evaluation after the last epoch (with its confusion matrix), when there is one. */
  evaluation?: Evaluation;
}

export async function fit(model: Module, options: FitOptions): Promise<FitResult> {
  const {
    train,
    valid,
    epochs,
    optimizer = new Sgd(),
    labelSmoothing = 0,
    microBatch,
    classifierStart,
    recompute,
    resume,
    signal,
  } = options;
  const schedule = options.schedule ?? constant(options.lr ?? 0.01);
  const startEpoch = resume?.epoch ?? 0;
  const smoothed: LossFunction = (logits, labels) => crossEntropy(logits, labels, labelSmoothing);
  const saved = resume && structuredClone(resume.history);
  const history: History = saved
    ? { ...saved, dataWait: saved.dataWait ?? saved.trainLoss.map(() => Number.NaN) } // older checkpoints lack it
    : { trainLoss: [], trainAcc: [], validLoss: [], validAcc: [], imagesPerSec: [], dataWait: [] };
  if (resume) {
    await optimizer.loadState(resume.optimizer);
    tf.dispose([...resume.optimizer.values()]);
    restoreGeneratorStates(model, resume.rng);
  }
  const perEpoch = train.length;
  const totalSteps = perEpoch ? perEpoch * epochs : 0;
  let step = perEpoch ? perEpoch * startEpoch : 0;
  let lastFinite = Number.NaN;
  let evaluation: Evaluation | undefined;

  for (let epoch = startEpoch + 1; epoch <= epochs; epoch++) {
    model.train();
    const started = performance.now();
    let seen = 0;
    let lossSum = 0;
    let correct = 0;
    let batch = 0;
    const waiting = { seconds: 0 };
    for await (const { x, y } of timed(train.batches ? train.batches(epoch - 1) : train, waiting)) {
      if (signal?.aborted) {
        tf.dispose([x, y]);
        signal.throwIfAborted();
      }
      batch++;
      const lr = schedule(step, totalSteps);
      const n = x.shape[0]!;
      const result = await trainStep(model, { x, y }, optimizer, {
        lr,
        loss: smoothed,
        microBatch,
        classifierStart,
        recompute,
      })
        .catch((err: unknown) => {
          if (!(err instanceof TrainingDivergedError)) throw err;
          throw new TrainingDivergedError(
            `${err.message} at epoch ${epoch}, batch ${batch} (last finite loss: ${lastFinite})`,
          );
        })
        .finally(() => tf.dispose([x, y]));
      const { loss } = result;
      correct += result.correct;
      lastFinite = loss;
      lossSum += loss * n;
      seen += n;
      step++;
      await options.onBatch?.({
        epoch,
        batch,
        batches: perEpoch,
        loss,
        runningLoss: lossSum / seen,
        lr,
        imagesPerSec: seen / ((performance.now() - started) / 1000),
      });
    }
    const seconds = (performance.now() - started) / 1000;
    const event: EpochEvent = {
      epoch,
      trainLoss: lossSum / seen,
      trainAcc: correct / seen,
      imagesPerSec: seen / seconds,
      seconds,
      dataWait: waiting.seconds / seconds,
    };
    if (valid) {
      evaluation = await evaluate(model, valid, { labelSmoothing });
      event.validLoss = evaluation.loss;
      event.validAcc = evaluation.accuracy;
      history.validLoss.push(evaluation.loss);
      history.validAcc.push(evaluation.accuracy);
    }
    history.trainLoss.push(event.trainLoss);
    history.trainAcc.push(event.trainAcc);
    history.imagesPerSec.push(event.imagesPerSec);
    history.dataWait.push(event.dataWait);
    await options.onEpoch?.(event);
    await options.onCheckpoint?.({
      epoch,
      history: structuredClone(history),
      optimizer: optimizer.state(),
      rng: generatorStates(model),
    });
  }
  // A resumed run with no epoch left to train still reports where it stands.
  if (valid && !evaluation) evaluation = await evaluate(model, valid, { labelSmoothing });
  return { history, evaluation };
}

/** `batches`, adding the seconds spent waiting for each one to `waiting.seconds`. */
async function* timed<T>(batches: AsyncIterable<T>, waiting: { seconds: number }): AsyncGenerator<T> {
  const iterator = batches[Symbol.asyncIterator]();
  try {
    for (;;) {
      const asked = performance.now();
      const next = await iterator.next();
      waiting.seconds += (performance.now() - asked) / 1000;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** Accuracy per true class (NaN for a class with no samples). */
  perClassAccuracy: number[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

/** Loss, top-1 accuracy, per-class accuracy and the confusion matrix, in eval mode. */
export async function evaluate(model: Module, batches: Batches, { labelSmoothing = 0 } = {}): Promise<Evaluation> {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0;
  let seen = 0;
  let confusion: number[][] = [];
  try {
    for await (const { x, y } of batches) {
      const n = x.shape[0]!;
      let classes = 0;
      // One asynchronous read per batch: [loss, n predicted classes, n true classes] (small integers are exact).
      const readout = tf.tidy(() => {
        const logits = leanForward(model, x);
        classes = logits.shape[1]!;
        const loss = tf.reshape(crossEntropy(logits, y, labelSmoothing), [1]);
        return tf.concat([loss, tf.cast(tf.argMax(logits, 1), 'float32'), tf.cast(tf.reshape(y, [-1]), 'float32')]);
      });
      tf.dispose([x, y]);
      const values = await readout.data().finally(() => {
        readout.dispose();
      });
      if (confusion.length === 0) confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
      for (let i = 0; i < n; i++) confusion[values[1 + n + i]!]![values[1 + i]!]!++;
      lossSum += values[0]! * n;
      seen += n;
    }
  } finally {
    model.train(wasTraining);
  }
  const correct = confusion.reduce((s, row, i) => s + row[i]!, 0);
  return {
    loss: lossSum / seen,
    accuracy: correct / seen,
    perClassAccuracy: confusion.map((row, i) => row[i]! / row.reduce((a, b) => a + b, 0)),
    confusion,
  };
}

/** Logits for a batch, in eval mode. */
export function predict(model: Module, x: tf.Tensor): tf.Tensor {
  const wasTraining = model.training;
  model.eval();
  try {
    return tf.tidy(() => leanForward(model, x));
  } finally {
    model.train(wasTraining);
  }
}
