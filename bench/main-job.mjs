// The main job side by side: `pnpm start`'s training step (ResNet-18, real MNIST at 28x28, batch 128,
// our Sgd + crossEntropy, the DataLoader with the CLI's transforms) against its PyTorch twin
// (main_job_torch.py, glibc's buffer trimming off as in a long run), after a warm-up. The two sides take
// turns for --rounds rounds, since this VM's speed drifts by minutes: compare the ratios, not the figures.
// usage: pnpm --filter @convnets/bench main-job [--rounds 3] [--steps 20] [--warmup 5] [--backend auto] [--no-torch]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@convnets/backend';
import { createModel } from '@convnets/architectures';
import { DataLoader, compose, normalize, toTensor } from '@convnets/datasets';
import { loadMnist, mnistDataDirectory } from '@convnets/datasets/node';
import { initWeights } from '@convnets/nn';
import { Sgd, trainStep } from '@convnets/trainer';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { torchEnv } from './torch-env.mjs';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'auto' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const steps = Number(flags.steps);
const warmup = Number(flags.warmup);

/** Our side: a generator that trains `steps` more steps per call and returns ms per step. */
async function ours() {
  const info = await initBackend(flags.backend);
  const { train } = await loadMnist();
  const { mean, std } = train.channelStats();
  const loader = new DataLoader(train, {
    batchSize: 128,
    shuffle: true,
    seed: 0,
    transform: compose(toTensor(), normalize(mean, std)),
  });
  const net = createModel('resnet18', { numClasses: 10, inChannels: 1, inputSize: 28, seed: 0 });
  initWeights(net, 'xavier', 0);
  const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  net.train();
  let batches = loader[Symbol.asyncIterator]();
  async function run(count) {
    for (let i = 0; i < count; i++) {
      let next = await batches.next();
      if (next.done) {
        batches = loader[Symbol.asyncIterator]();
        next = await batches.next();
      }
      const { x, y } = next.value;
      await trainStep(net, { x, y }, optimizer, { lr: 0.01 }); // fit's step
      tf.dispose([x, y]);
    }
  }
  await run(warmup);
  return {
    info,
    async measure() {
      const start = performance.now();
      await run(steps);
      return (performance.now() - start) / steps;
    },
  };
}

function torch() {
  const env = torchEnv();
  const script = new URL('./main_job_torch.py', import.meta.url).pathname;
  const args = [script, '--mnist', mnistDataDirectory(), '--steps', String(steps * 2), '--warmup', String(warmup * 2)];
  return JSON.parse(execFileSync('/usr/bin/python3', args, { env, encoding: 'utf8' }).trim().split('\n').pop());
}

const side = await ours();
console.log(`convnets on ${side.info.label} (${JSON.stringify(side.info.details)}); PyTorch on /usr/bin/python3`);
const ratios = [];
for (let round = 1; round <= Number(flags.rounds); round++) {
  const a = await side.measure();
  let line = `round ${round}: convnets ${a.toFixed(1)} ms/step (${(128000 / a).toFixed(0)} img/s)`;
  if (!flags['no-torch']) {
    const b = torch();
    ratios.push(a / b.msPerStep);
    line +=
      `, PyTorch ${b.torch} ${b.msPerStep.toFixed(1)} ms/step ` +
      `(${(128000 / b.msPerStep).toFixed(0)} img/s): ${(a / b.msPerStep).toFixed(2)}x`;
  }
  console.log(line);
}
if (ratios.length) {
  const sorted = [...ratios].sort((p, q) => p - q);
  console.log(
    `convnets takes ${sorted[sorted.length >> 1].toFixed(2)}x PyTorch's time per step (median of ${ratios.length} rounds)`,
  );
}
console.log(`tensors at the end: ${tf.memory().numTensors}`);
