/**
 * Training and inference throughput of one net on the current backend. A training step is the trainer's
 * `trainStep` (cross-entropy, then Sgd with momentum 0.9 and weight decay 5e-4, as `train`), on
 * a fresh batch each step (a pool of random batches in turn), not one memorised batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { summary } from '@convnets/nn';
import { Sgd, trainStep } from '@convnets/trainer';

export interface BenchOptions {
  model: string;
  imageSize: number;
  batchSize: number;
  /** Minimum measuring time per mode; at least two steps run either way. */
  seconds: number;
  inChannels?: number;
}

export interface BenchResult {
  backend: string;
  trainImagesPerSec: number;
  inferImagesPerSec: number;
  /** Achieved training GFLOP/s, counting a training step as 3 x the forward FLOPs. */
  gflops: number;
  inferGflops: number;
}

/** Forward FLOPs per image of the net at this size, from the summary. */
export function forwardFlops(model: string, imageSize: number, inChannels = 3): number {
  const net = createModel(model, { inputSize: imageSize, inChannels });
  try {
    return summary(net, [1, imageSize, imageSize, inChannels]).flops;
  } finally {
    net.dispose();
  }
}

/** Distinct batches the steps take in turn. */
const POOL = 4;

/**
 * Steps per second of `step` after three warm-up steps (which compile, cache and tier up). Each step ends in an
 * asynchronous read of its result, as training does: that is when a GPU's queued work is done.
 */
async function rate(step: (i: number) => Promise<void>, seconds: number): Promise<number> {
  for (let i = 0; i < 3; i++) await step(i);
  let steps = 0;
  const start = performance.now();
  while (steps < 2 || performance.now() - start < seconds * 1000) {
    await step(steps);
    steps++;
  }
  return (steps * 1000) / (performance.now() - start);
}

export async function benchmark(options: BenchOptions): Promise<BenchResult> {
  const { model, imageSize, batchSize, seconds, inChannels = 3 } = options;
  const net = createModel(model, { inputSize: imageSize, inChannels, seed: 0 });
  const flops = summary(net, [1, imageSize, imageSize, inChannels]).flops;
  const xs = Array.from({ length: POOL }, (_, i) =>
    tf.randomNormal([batchSize, imageSize, imageSize, inChannels], 0, 1, 'float32', i + 1),
  );
  const ys = Array.from({ length: POOL }, (_, i) =>
    tf.tensor1d(
      Array.from({ length: batchSize }, (_, j) => (j * 7 + i) % 10),
      'int32',
    ),
  );
  const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  try {
    net.eval();
    const infer = await rate(async (i) => {
      const y = tf.tidy(() => net.forward(xs[i % POOL]!));
      await y.data();
      y.dispose();
    }, seconds);
    net.train();
    const train = await rate(async (i) => {
      await trainStep(net, { x: xs[i % POOL]!, y: ys[i % POOL]! }, optimizer, { lr: 0.01 });
    }, seconds);
    return {
      backend: tf.getBackend(),
      trainImagesPerSec: train * batchSize,
      inferImagesPerSec: infer * batchSize,
      gflops: (train * batchSize * 3 * flops) / 1e9,
      inferGflops: (infer * batchSize * flops) / 1e9,
    };
  } finally {
    tf.dispose([...xs, ...ys]);
    optimizer.dispose();
    net.dispose();
  }
}
