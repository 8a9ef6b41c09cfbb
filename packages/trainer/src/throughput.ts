/**
 * Training and inference speed of a net on the current backend, measured once for every caller (`convnets bench`,
 * the browser app's `?bench=1`): the notebook recipe's optimizer and `trainStep`, on a fresh batch each step (a
 * pool of seeded random batches in turn), each step waited for by reading its result, as training does (that is
 * when a GPU's queued work is done), after warm-up steps that compile, cache and tier up.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@convnets/nn';
import { MAIN_JOB_RECIPE, recipeOptimizer } from './recipe.js';
import { trainStep } from './step.js';

export interface ThroughputOptions {
  batchSize: number;
  /** One image's shape, [height, width, channels]. */
  imageShape: readonly [number, number, number];
  /** What to measure (default both). */
  modes?: ReadonlyArray<'train' | 'infer'>;
  /** Each mode runs at least this long (default 0) and at least `steps` steps (default 2), after `warmup` (3). */
  seconds?: number;
  steps?: number;
  warmup?: number;
  /** Labels are drawn from this many classes (default 10). */
  numClasses?: number;
}

export interface Throughput {
  trainImagesPerSec?: number;
  inferImagesPerSec?: number;
}

/** Distinct batches the steps take in turn. */
const POOL = 4;

/** Steps per second of `step` (given its index) after the warm-up. */
async function rate(step: (i: number) => Promise<void>, { seconds = 0, steps = 2, warmup = 3 }): Promise<number> {
  for (let i = 0; i < warmup; i++) await step(i);
  let done = 0;
  const start = performance.now();
  while (done < steps || performance.now() - start < seconds * 1000) await step(done++);
  return (done * 1000) / (performance.now() - start);
}

/** Images per second `model` trains (one recipe step each: its weights change) and infers at; its mode is kept. */
export async function measureThroughput(model: Module, options: ThroughputOptions): Promise<Throughput> {
  const { batchSize, imageShape, modes = ['train', 'infer'], numClasses = 10 } = options;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`measureThroughput: batchSize must be a positive integer, got ${batchSize}`);
  }
  const xs = Array.from({ length: POOL }, (_, i) =>
    tf.randomNormal([batchSize, ...imageShape], 0, 1, 'float32', i + 1),
  );
  const ys = Array.from({ length: POOL }, (_, i) =>
    tf.tensor1d(
      Array.from({ length: batchSize }, (_, j) => (j * 7 + i) % numClasses),
      'int32',
    ),
  );
  const { optimizer } = recipeOptimizer(MAIN_JOB_RECIPE, 1);
  const wasTraining = model.training;
  const result: Throughput = {};
  try {
    if (modes.includes('infer')) {
      model.eval();
      const perSec = await rate(async (i) => {
        const y = tf.tidy(() => model.forward(xs[i % POOL]!));
        await y.data();
        y.dispose();
      }, options);
      result.inferImagesPerSec = perSec * batchSize;
    }
    if (modes.includes('train')) {
      model.train();
      const perSec = await rate(async (i) => {
        await trainStep(model, { x: xs[i % POOL]!, y: ys[i % POOL]! }, optimizer, { lr: 0.01 });
      }, options);
      result.trainImagesPerSec = perSec * batchSize;
    }
    return result;
  } finally {
    if (wasTraining) model.train();
    else model.eval();
    tf.dispose([...xs, ...ys]);
    optimizer.dispose();
  }
}
