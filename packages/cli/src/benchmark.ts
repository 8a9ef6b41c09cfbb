/** Training and inference throughput of one net on the current backend, on synthetic data. */
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { summary } from '@convnets/nn';

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

/** Steps per second of `step` after one warm-up step (which compiles and caches). */
function rate(step: () => void, seconds: number): number {
  step();
  let steps = 0;
  const start = performance.now();
  while (steps < 2 || performance.now() - start < seconds * 1000) {
    step();
    steps++;
  }
  return (steps * 1000) / (performance.now() - start);
}

export function benchmark(options: BenchOptions): BenchResult {
  const { model, imageSize, batchSize, seconds, inChannels = 3 } = options;
  const net = createModel(model, { inputSize: imageSize, inChannels, seed: 0 });
  const flops = summary(net, [1, imageSize, imageSize, inChannels]).flops;
  const x = tf.randomNormal([batchSize, imageSize, imageSize, inChannels], 0, 1, 'float32', 1);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 10), 'int32'), 10);
  const optimizer = tf.train.sgd(0.01);
  try {
    net.eval();
    const infer = rate(() => {
      const y = tf.tidy(() => net.forward(x));
      y.dataSync();
      y.dispose();
    }, seconds);
    net.train();
    const train = rate(() => {
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, net.forward(x)) as tf.Scalar, true, net.parameters())!;
      loss.dataSync();
      loss.dispose();
    }, seconds);
    return {
      backend: tf.getBackend(),
      trainImagesPerSec: train * batchSize,
      inferImagesPerSec: infer * batchSize,
      gflops: (train * batchSize * 3 * flops) / 1e9,
      inferGflops: (infer * batchSize * flops) / 1e9,
    };
  } finally {
    tf.dispose([x, labels]);
    optimizer.dispose();
    net.dispose();
  }
}
