/**
 * In-browser training speed (`?bench=1`): the trainer's `measureThroughput` of one net on each backend in turn,
 * images/s side by side (GPU backends mean something on a machine with a GPU).
 */
import { createModel } from '@convnets/architectures';
import type { BackendRequest } from '@convnets/backend';
import { measureThroughput } from '@convnets/trainer';
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
    const net = createModel(model, { inputSize, inChannels: channels, seed: 0 });
    try {
      const measured = await measureThroughput(net, {
        batchSize: batch,
        imageShape: [inputSize, inputSize, channels],
        modes: ['train'],
        steps,
        warmup,
      });
      rows.push({ backend, imagesPerSec: measured.trainImagesPerSec });
    } finally {
      net.dispose();
    }
  }
  return rows;
}
