// Fine-tuning side by side: ResNet-18 trained on real MNIST (the main job's weights, or --from W), then taught
// Fashion-MNIST three ways — the head only (features frozen), every layer, and from scratch — by `convnets train`
// and by its PyTorch twin (finetune_torch.py on the `convnets export --format pytorch` project: the same starting
// weights, recipe and data). One job at a time, alternating sides; prints the table of docs/fine-tuning.md.
// usage: pnpm --filter @convnets/bench finetune [--from W] [--epochs 1] [--root /usr/share/datasets/fashion-mnist]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, featurePaths, headPath } from '@convnets/architectures';
import { initBackend } from '@convnets/backend';
import { torchEnv } from './torch-env.mjs';

const { values: flags } = parseArgs({
  options: {
    from: { type: 'string' },
    epochs: { type: 'string', default: '1' },
    root: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    backend: { type: 'string', default: 'auto' },
  },
});
const cli = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const work = mkdtempSync(path.join(os.tmpdir(), 'convnets-finetune-bench-'));
const convnets = (...args) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: 'pipe' });

let from = flags.from;
if (!from) {
  console.log('pretraining resnet18 on MNIST (convnets train, 2 epochs)…');
  convnets('train', '--backend', flags.backend, '--out', path.join(work, 'mnist'));
  from = path.join(work, 'mnist', 'mnist_resnet18.safetensors');
}
const project = path.join(work, 'torch');
convnets('export', '--checkpoint', from, '--format', 'pytorch', '--dataset', 'mnist', '--output', project);
await initBackend('cpu'); // only to build the net and read its layout
const net = createModel('resnet18', { inputSize: 28, inChannels: 1 });
const [features, head] = [featurePaths(net).join(','), headPath(net)];
net.dispose();

const modes = { head: ['--from', from, '--freeze', 'features'], all: ['--from', from], scratch: [] };
const rows = [];
for (const [mode, extra] of Object.entries(modes)) {
  const out = path.join(work, mode);
  const dataset = ['--dataset', 'fashion-mnist', '--root', flags.root, '--epochs', flags.epochs];
  convnets('train', ...dataset, ...extra, '--backend', flags.backend, '--out', out);
  const history = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
  const ours = {
    accuracy: history.test.accuracy,
    seconds: history.imagesPerSec.reduce((s, r) => s + 60000 / r, 0),
    backend: history.backend,
  };
  const script = fileURLToPath(new URL('./finetune_torch.py', import.meta.url));
  const env = torchEnv();
  const torchArgs = [script, '--project', project, '--root', flags.root, '--mode', mode, '--features', features];
  const twin = JSON.parse(
    execFileSync('/usr/bin/python3', [...torchArgs, '--head', head, '--epochs', flags.epochs], {
      env,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop(),
  );
  const torchSeconds = twin.secondsPerEpoch.reduce((a, b) => a + b, 0);
  rows.push([mode, ours, { accuracy: twin.accuracy, seconds: torchSeconds }]);
  console.log(
    `${mode}: convnets ${(ours.accuracy * 100).toFixed(2)}% in ${ours.seconds.toFixed(0)} s (${ours.backend}), ` +
      `PyTorch ${twin.torch} ${(twin.accuracy * 100).toFixed(2)}% in ${torchSeconds.toFixed(0)} s`,
  );
}
console.log(
  `\n| ${flags.epochs} epoch(s) on Fashion-MNIST | convnets accuracy | training time | PyTorch accuracy | training time | time ratio |`,
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [mode, a, b] of rows) {
  const name = { head: 'head only (features frozen)', all: 'every layer', scratch: 'from scratch' }[mode];
  console.log(
    `| ${name} | ${(a.accuracy * 100).toFixed(2)}% | ${a.seconds.toFixed(0)} s | ${(b.accuracy * 100).toFixed(2)}% | ` +
      `${b.seconds.toFixed(0)} s | ${(a.seconds / b.seconds).toFixed(2)}x |`,
  );
}
console.log(`(work files in ${work})`);
