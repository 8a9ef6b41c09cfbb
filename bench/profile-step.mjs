// Per-kernel profile of the main job's training step (ResNet-18, real MNIST at 28x28, batch 128, our Sgd
// and crossEntropy): ms per step over --steps steps, then tf.profile of one step, by kernel name and by
// kernel and input shapes. On wasm, tf.profile's kernel times are wall times. Another net or shape
// (--model densenet --size 32 --channels 3) trains on seeded random batches instead of MNIST.
// usage: pnpm --filter @convnets/bench profile-step [--backend auto] [--steps 8] [--top 30] [--model M]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@convnets/backend';
import { createModel } from '@convnets/architectures';
import { loadMnist } from '@convnets/datasets/node';
import { initWeights } from '@convnets/nn';
import { Sgd, trainStep } from '@convnets/trainer';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    steps: { type: 'string', default: '8' },
    top: { type: 'string', default: '30' },
    model: { type: 'string', default: 'resnet18' },
    size: { type: 'string', default: '28' },
    channels: { type: 'string', default: '1' },
  },
});
const info = await initBackend(flags.backend);
console.log(info.label, JSON.stringify(info.details));
const [S, C] = [Number(flags.size), Number(flags.channels)];
const mnist = S === 28 && C === 1 ? (await loadMnist()).train : null;
const net = createModel(flags.model, { numClasses: 10, inChannels: C, inputSize: S, seed: 0 });
initWeights(net, 'xavier', 0);
const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
const B = 128;
const batch = (i) =>
  tf.tidy(() => {
    if (!mnist)
      return {
        x: tf.randomNormal([B, S, S, C], 0, 1, 'float32', i),
        y: tf.tensor1d(
          Int32Array.from({ length: B }, (_, j) => (i * 7 + j) % 10),
          'int32',
        ),
      };
    const pixels = Float32Array.from(mnist.images.subarray(i * B * 784, (i + 1) * B * 784));
    const x = tf.div(tf.sub(tf.tensor4d(pixels, [B, 28, 28, 1]), 0.1307 * 255), 0.3081 * 255);
    return { x, y: tf.tensor1d(mnist.labels.subarray(i * B, (i + 1) * B), 'int32') };
  });
net.train();
async function step(i) {
  const { x, y } = batch(i);
  await trainStep(net, { x, y }, optimizer, { lr: 0.01 }); // fit's step
  tf.dispose([x, y]);
}
for (let i = 0; i < 3; i++) await step(i);
const steps = Number(flags.steps);
const start = performance.now();
for (let i = 0; i < steps; i++) await step(3 + i);
const ms = (performance.now() - start) / steps;
console.log(`${ms.toFixed(1)} ms per step, ${((B / ms) * 1000).toFixed(0)} img/s, ${tf.memory().numTensors} tensors`);

const profile = await tf.profile(() => step(3 + steps));
const total = new Map();
const byShape = new Map();
for (const k of profile.kernels) {
  total.set(k.name, (total.get(k.name) ?? 0) + k.kernelTimeMs);
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const e = byShape.get(key) ?? { ms: 0, calls: 0 };
  e.ms += k.kernelTimeMs;
  e.calls++;
  byShape.set(key, e);
}
const top = Number(flags.top);
console.log('\nms per step, by kernel');
for (const [name, t] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${t.toFixed(1).padStart(8)}  ${name}`);
console.log('\nms per step, calls, kernel and input shapes');
for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, top))
  console.log(`${e.ms.toFixed(1).padStart(8)} ${String(e.calls).padStart(4)}  ${key}`);
