/**
 * Training and inference throughput of one net on the current backend, in images/s and GFLOP/s: the trainer's
 * `measureThroughput` (the notebook recipe's steps on a pool of random batches) on a fresh net.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { summary } from '@convnets/nn';
import { measureThroughput } from '@convnets/trainer';

export interface BenchOptions {
  model: string;
  imageSize: number;
  batchSize: number;
  /** Minimum measuring time per mode; at least two steps run either way. */
  seconds: number;
  /** Untimed steps before each mode is measured (default 3). */
  warmup?: number;
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

export async function benchmark(options: BenchOptions): Promise<BenchResult> {
  const { model, imageSize, batchSize, seconds, warmup, inChannels = 3 } = options;
  const net = createModel(model, { inputSize: imageSize, inChannels, seed: 0 });
  try {
    const flops = summary(net, [1, imageSize, imageSize, inChannels]).flops;
    const { trainImagesPerSec = 0, inferImagesPerSec = 0 } = await measureThroughput(net, {
      batchSize,
      imageShape: [imageSize, imageSize, inChannels],
      seconds,
      warmup,
    });
    return {
      backend: tf.getBackend(),
      trainImagesPerSec,
      inferImagesPerSec,
      gflops: (trainImagesPerSec * 3 * flops) / 1e9,
      inferGflops: (inferImagesPerSec * flops) / 1e9,
    };
  } finally {
    net.dispose();
  }
}
