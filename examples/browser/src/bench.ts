/**
 * In-browser training speed (`?bench=1`): the same training steps of one net on each backend in turn, images/s side
 * by side (GPU backends mean something on a machine with a GPU). Steps are the trainer's own (crossEntropy, Sgd);
 * each is waited for (its loss read back), after warm-up steps that compile the shaders.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import type { BackendRequest } from '@convnets/backend';
import { Sgd, trainStep } from '@convnets/trainer';
import { initAppBackend } from './session.js';

export interface BenchRow {
  backend: string;
  imagesPerSec?: number;
  /** Why the backend did not run. */
  skipped?: string;
}

export async function benchBackends(
  backends: readonly BackendRequest[],
  { model = 'resnet18', inputSize = 28, channels = 1, batch = 32, steps = 10, warmup = 3 } = {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const backend of backends) {
    try {
      await initAppBackend(backend);
    } catch (err) {
      rows.push({ backend, skipped: err instanceof Error ? err.message : String(err) });
      continue;
    }
    const net = createModel(model, { inputSize, inChannels: channels, seed: 0 }).train();
    const x = tf.randomNormal([batch, inputSize, inputSize, channels], 0, 1, 'float32', 1);
    const y = tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 10),
      'int32',
    );
    const sgd = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
    const step = () => trainStep(net, { x, y }, sgd, { lr: 0.01 });
    for (let i = 0; i < warmup; i++) await step();
    const started = performance.now();
    for (let i = 0; i < steps; i++) await step();
    rows.push({ backend, imagesPerSec: (batch * steps) / ((performance.now() - started) / 1000) });
    tf.dispose([x, y]);
    sgd.dispose();
    net.dispose();
  }
  return rows;
}
