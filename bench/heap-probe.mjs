// The wasm heap's high-water mark (where native's and wasm's tensors live) after one training step of a net at a size
// and batch: wasm memory only grows, so its size after the step is the step's peak (plus what came before).
// usage: [STEPS=n] [BACKEND=wasm] pnpm --filter @convnets/bench heap-probe MODEL SIZE BATCH [recompute|micro:N]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@convnets/backend';
import { createModel, featurePaths } from '@convnets/architectures';
import { initWeights } from '@convnets/nn';
import { Sgd, trainStep } from '@convnets/trainer';

const [model, size, batch, mode] = process.argv.slice(2);
const [S, B] = [Number(size), Number(batch)];
await initBackend(process.env.BACKEND ?? 'native');
const net = createModel(model, { numClasses: 10, inChannels: 3, inputSize: S, seed: 0 });
initWeights(net, 'xavier', 0);
net.train();
const heap = () => tf.backend().wasm.HEAPU8.buffer.byteLength / 2 ** 20;
const x = tf.randomNormal([B, S, S, 3], 0, 1, 'float32', 1);
const y = tf.tensor1d(
  Int32Array.from({ length: B }, (_, j) => j % 10),
  'int32',
);
const before = heap();
const t0 = performance.now();
const optimizer = new Sgd();
// STEPS=n: more steps, the heap after each (a heap that fragments grows or fails in a later step).
for (let i = 0; i < Number(process.env.STEPS ?? 1); i++) {
  await trainStep(net, { x, y }, optimizer, {
    lr: 0.01,
    recompute: mode === 'recompute',
    microBatch: mode?.startsWith('micro:') ? Number(mode.slice(6)) : undefined,
    classifierStart: featurePaths(net).length, // as the CLI's --micro-batch: the classifier on the whole batch
  });
  if (process.env.STEPS) console.log(`step ${i + 1}: heap ${heap()} MB`);
}
const ms = performance.now() - t0;
console.log(
  JSON.stringify({ model, S, B, mode: mode ?? 'plain', heapBeforeMB: before, heapAfterMB: heap(), ms: Math.round(ms) }),
);
// Then one evaluation batch of the same size (eval mode, as fit's validation).
const { evaluate } = await import('@convnets/trainer');
const e0 = performance.now();
await evaluate(net, [{ x, y }]);
console.log(JSON.stringify({ evalHeapAfterMB: heap(), evalMs: Math.round(performance.now() - e0) }));
