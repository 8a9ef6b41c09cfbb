// The notebook's experiments side by side: each run by `convnets notebook` and by its PyTorch twin (the exported
// train.py --recipe notebook: the same net, data, subset, batches and recipe, PyTorch's own Xavier draw), at a few
// seeds. Prints the last epoch's train/valid accuracy of both and the notebook's logged line for that epoch: the
// table of docs/notebook.md. Reduced runs by default (fewer images and epochs; --image-size for a smaller resize).
// usage: pnpm --filter @convnets/bench notebook-twin --root CIFAR [--experiments nin-mnist,googlenet] [--seeds 0,1]
//          [--epochs 3] [--limit-train 2048] [--limit-valid 1000] [--image-size 67] [--backend auto]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mnistDataDirectory } from '@convnets/datasets/node';
import { NOTEBOOK_EXPERIMENTS, notebookExperiment } from '@convnets/trainer';
import { torchEnv } from './torch-env.mjs';

const { values: flags } = parseArgs({
  options: {
    root: { type: 'string' },
    experiments: { type: 'string', default: NOTEBOOK_EXPERIMENTS.map((e) => e.name).join(',') },
    seeds: { type: 'string', default: '0,1' },
    epochs: { type: 'string', default: '3' },
    'limit-train': { type: 'string', default: '2048' },
    'limit-valid': { type: 'string', default: '1000' },
    'image-size': { type: 'string' },
    backend: { type: 'string', default: 'auto' },
  },
});
const experiments = flags.experiments.split(',').map((name) => notebookExperiment(name));
if (experiments.some((e) => e.dataset === 'cifar10') && !flags.root)
  throw new Error('--root: the CIFAR-10 experiments need the dataset (a folder or the .tar.gz of train|test/<class>/)');

const cli = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const work = mkdtempSync(path.join(os.tmpdir(), 'convnets-notebook-twin-'));
const run = (file, args, options = {}) => execFileSync(file, args, { encoding: 'utf8', stdio: 'pipe', ...options });
const convnets = (...args) => run(process.execPath, [cli, ...args]);

/** train.py reads a folder: the binary release or train|test/<class>/ images (a .tar.gz is extracted once). */
function torchRoot(dataset) {
  if (dataset === 'mnist') return mnistDataDirectory();
  if (statSync(flags.root).isDirectory()) return flags.root;
  const folder = path.join(work, 'cifar10');
  if (!existsSync(folder)) {
    mkdirSync(folder);
    run('tar', ['-xzf', flags.root, '-C', folder]);
  }
  const inner = path.join(folder, 'cifar10-images');
  return existsSync(path.join(inner, 'train')) ? inner : folder;
}

/** A TCP port nothing listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const shared = ['--epochs', flags.epochs, '--limit-train', flags['limit-train'], '--limit-valid', flags['limit-valid']];
const rows = [];
for (const e of experiments) {
  for (const seed of flags.seeds.split(',')) {
    const out = path.join(work, `convnets-${seed}`);
    const size = flags['image-size'] ? ['--image-size', flags['image-size']] : [];
    const root = e.dataset === 'cifar10' ? ['--root', flags.root] : [];
    convnets('notebook', e.name, ...root, ...shared, ...size, '--seed', seed, '--backend', flags.backend, '--out', out);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).experiments[0];
    const ours = report.epochs.at(-1);

    // The twin: the project exported from this run (its net and card: input size, Normalize(0.5, 0.5)), trained from
    // PyTorch's own Xavier weights.
    const project = path.join(work, `torch-${e.name}`);
    if (!existsSync(project)) {
      const weights = path.join(out, e.name, `${e.dataset}_${e.model}.safetensors`);
      convnets('export', '--checkpoint', weights, '--format', 'pytorch', '--dataset', e.dataset, '--output', project);
    }
    const theirs = path.join(work, `torch-${seed}`, e.name);
    const recipe = [
      '--recipe',
      'notebook',
      '--lr',
      String(e.lr),
      '--dataset',
      e.dataset,
      '--root',
      torchRoot(e.dataset),
    ];
    // One process, started as torchrun would start it, on a port of its own (torchrun --standalone always takes
    // 29400, which another run on the machine may hold).
    const env = { ...torchEnv(), RANK: '0', LOCAL_RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: '127.0.0.1' };
    run('/usr/bin/python3', ['train.py', ...recipe, ...shared, '--seed', seed, '--out', theirs], {
      cwd: project,
      env: { ...env, MASTER_PORT: String(await freePort()) },
    });
    const twin = JSON.parse(readFileSync(path.join(theirs, 'history.json'), 'utf8'));
    const last = twin.trainAcc.length - 1;
    rows.push({
      experiment: e.name,
      seed,
      size: report.imageSize,
      convnets: [ours.trainAcc, ours.validAcc],
      pytorch: [twin.trainAcc[last], twin.validAcc[last]],
      notebook: ours.notebook ? [ours.notebook.trainAcc, ours.notebook.validAcc] : null,
      secondsPerEpoch: [ours.seconds, report.trainImages / twin.imagesPerSec[last]],
    });
    const r = rows.at(-1);
    console.log(
      `${r.experiment.padEnd(12)} seed ${seed} at ${r.size} px, epoch ${flags.epochs}: train/valid acc ` +
        `convnets ${r.convnets.map((v) => v.toFixed(3)).join(' / ')}, ` +
        `pytorch ${r.pytorch.map((v) => v.toFixed(3)).join(' / ')}` +
        (r.notebook ? `, the notebook (all images, epoch ${flags.epochs}) ${r.notebook.join(' / ')}` : ''),
    );
  }
}
console.log(JSON.stringify({ flags, rows }));
