// Dataset speed: full MNIST parse time (goal < 1 s) and DataLoader throughput with the notebook's
// transforms (resize 28 -> 224, normalize), in images/s, so the loader never limits training.
// usage: pnpm --filter @convnets/bench datasets [--cifar10 PATH]   (after pnpm build; PATH: CIFAR-10's JPEG archive)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@convnets/backend';
import { DataLoader, compose, normalize, resize, toTensor } from '@convnets/datasets';
import { loadCifar10, loadMnist } from '@convnets/datasets/node';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({ options: { cifar10: { type: 'string' } } });

const info = await initBackend('auto');
let t = performance.now();
const { train } = await loadMnist();
const loadMs = performance.now() - t;

async function throughput(transform, label, batches = 20) {
  const loader = new DataLoader(train, { batchSize: 128, shuffle: true, transform });
  let images = 0;
  t = performance.now();
  for await (const { x, y } of loader) {
    await x.data();
    images += x.shape[0];
    tf.dispose([x, y]);
    if (images >= batches * 128) break;
  }
  return { label, imagesPerSec: images / ((performance.now() - t) / 1000) };
}

const rows = [
  await throughput(toTensor(), 'toTensor (28x28)'),
  await throughput(compose(toTensor(), normalize(0.5, 0.5)), 'toTensor + normalize (28x28)'),
  await throughput(compose(toTensor(), resize(224), normalize(0.5, 0.5)), 'toTensor + resize 224 + normalize', 4),
];
console.log(
  `backend ${info.backend}; MNIST train+test parsed in ${loadMs.toFixed(0)} ms (goal < 1000 ms: ${(1000 / loadMs).toFixed(1)}x the goal)`,
);
for (const r of rows) console.log(`${r.label.padEnd(36)} ${r.imagesPerSec.toFixed(0).padStart(8)} images/s`);

// CIFAR-10 as 60,000 JPEGs (--cifar10): the first load extracts into a cache, later loads only decode.
const jpegs = flags.cifar10 && path.resolve(flags.cifar10);
if (jpegs && !existsSync(jpegs)) throw new Error(`--cifar10: ${jpegs} does not exist`);
if (jpegs) {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'convnets-bench-'));
  try {
    const time = async () => {
      const start = performance.now();
      await loadCifar10({ root: jpegs, cacheDir });
      return (performance.now() - start) / 1000;
    };
    const first = await time();
    const again = await time();
    console.log(
      `CIFAR-10 JPEGs: first load (extract + decode) ${first.toFixed(1)} s, cached load (decode 60,000 JPEGs) ${again.toFixed(1)} s`,
    );
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
