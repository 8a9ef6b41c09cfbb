import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CIFAR10_BINARY, encodeCifarBatch } from '@convnets/datasets';
import { NOTEBOOK_EXPERIMENTS } from '@convnets/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, ok } from '../test-utils/cli.js';
import { cliKilledAtRename } from '../test-utils/crash.js';

/**
 * `convnets notebook` at a tiny size: every experiment for 2 epochs of one batch of 20 images at 67 px (the smallest
 * size every net takes), on a CIFAR-10 release of a few random images written here, and on real MNIST, on the default
 * backend (native where oneDNN is, as for a user).
 */
describe('convnets notebook', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-notebook-'));
  const cifar = path.join(dir, 'cifar');
  const tiny = ['--image-size', '67', '--limit-train', '20', '--limit-valid', '10', '--epochs', '2'];
  const args = (out: string) => [...tiny, '--root', cifar, '--out', out];
  const straight = path.join(dir, 'straight');

  beforeAll(() => {
    mkdirSync(cifar);
    let seed = 7;
    const byte = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed >>> 24;
    };
    const batch = (n: number) =>
      encodeCifarBatch(
        Uint8Array.from({ length: n * 32 * 32 * 3 }, byte),
        Uint8Array.from({ length: n }, (_, i) => i % 10),
      );
    for (const file of CIFAR10_BINARY.train) writeFileSync(path.join(cifar, file), batch(20));
    writeFileSync(path.join(cifar, CIFAR10_BINARY.test[0]!), batch(20));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs all eight experiments in the notebook's order, prints its epoch lines, and reports each epoch beside the " +
    "notebook's logged one", async () => {
    const r = await ok('notebook', ...args(straight));
    const order = [...r.err.matchAll(/^([\w-]+): \S+ on (\w+) at 67 px, lr ([\d.]+), 2 epoch\(s\)$/gm)];
    expect(order.map((m) => m[1])).toEqual(NOTEBOOK_EXPERIMENTS.map((e) => e.name));
    expect(order.map((m) => [m[2], Number(m[3])])).toEqual(NOTEBOOK_EXPERIMENTS.map((e) => [e.dataset, e.lr]));
    expect(r.out.match(/^Epoch -> 2 \t train_loss -> [\d.]+ /gm)).toHaveLength(8);
    for (const e of NOTEBOOK_EXPERIMENTS)
      expect(readdirSync(path.join(straight, e.name)), e.name).toEqual(
        expect.arrayContaining(['accuracy.svg', 'loss.svg', 'history.json', `${e.dataset}_${e.model}.safetensors`]),
      );
    const report = JSON.parse(readFileSync(path.join(straight, 'report.json'), 'utf8'));
    expect(report.experiments.map((x: { experiment: string }) => x.experiment)).toEqual(
      NOTEBOOK_EXPERIMENTS.map((e) => e.name),
    );
    for (const [k, x] of report.experiments.entries()) {
      const e = NOTEBOOK_EXPERIMENTS[k]!;
      expect(x).toMatchObject({ model: e.model, dataset: e.dataset, imageSize: 67, notebookImageSize: e.resize });
      expect(x.trainImages).toBe(20);
      expect(x.epochs).toHaveLength(2);
      for (const [i, epoch] of x.epochs.entries()) {
        const [trainLoss, trainAcc, validLoss, validAcc] = e.logged[i]!;
        expect(epoch.notebook).toEqual({ trainLoss, trainAcc, validLoss, validAcc });
        for (const m of ['trainLoss', 'trainAcc', 'validLoss', 'validAcc', 'seconds'])
          expect(Number.isFinite(epoch[m]), `${e.name} ${m}`).toBe(true);
        expect(epoch.dataWait, `${e.name} data wait`).toBeGreaterThanOrEqual(0);
        expect(epoch.dataWait, `${e.name} data wait`).toBeLessThan(1);
      }
    }
    const md = readFileSync(path.join(straight, 'report.md'), 'utf8');
    expect(md).toContain(
      '| epoch | train_loss | notebook | train_acc | notebook | valid_loss | notebook | valid_acc | notebook | s | data wait |',
    );
    expect(md).toContain('20 training images at 67 px (the notebook: 224)');
    expect(existsSync(path.join(straight, 'report.svg'))).toBe(true);
  }, 600_000);

  it('continues a run killed in its second experiment with --resume: the first kept, the second resumed, the ' +
    'weights those of the uninterrupted run', async () => {
    const crashed = path.join(dir, 'crashed');
    const chosen = ['vgg11-small', 'nin-mnist'];
    // The first experiment renames 4 .safetensors files (training state, then weights, per epoch), the second 2 in
    // its epoch 1: the 7th is its epoch-2 training state.
    const killed = await cliKilledAtRename(dir, 7, ['notebook', ...chosen, ...args(crashed)]);
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await ok('notebook', ...chosen, ...args(crashed), '--resume');
    expect(resumed.err).toContain(`vgg11-small: finished in ${path.join(crashed, 'vgg11-small')}, kept`);
    expect(resumed.err).toMatch(/^nin-mnist: nin on mnist at 67 px, lr 0.1, 2 epoch\(s\), resumed$/m);
    expect(resumed.err).toContain('resuming after epoch 1 of 2');
    for (const [name, file] of [
      ['vgg11-small', 'cifar10_vgg11-small.safetensors'],
      ['nin-mnist', 'mnist_nin.safetensors'],
    ] as const) {
      const weights = (root: string) => readFileSync(path.join(root, name, file));
      expect(weights(crashed).equals(weights(straight)), name).toBe(true);
    }
    const report = JSON.parse(readFileSync(path.join(crashed, 'report.json'), 'utf8'));
    expect(report.experiments.map((x: { experiment: string }) => x.experiment)).toEqual(chosen);
    // A resume with other options is refused, naming the difference.
    const other = await cli('notebook', 'nin-mnist', ...args(crashed), '--epochs', '3', '--seed', '1', '--resume');
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/was made with different seed \(0, now 1\)/);
  }, 600_000);

  it("takes DenseNet's batch at its own 224 px with its blocks recomputed (the memory plan)", async () => {
    const out = path.join(dir, 'planned');
    const few = ['--limit-train', '4', '--limit-valid', '2', '--epochs', '1', '--root', cifar, '--out', out];
    const r = await ok('notebook', 'densenet', ...few);
    expect(r.err).toContain(
      'densenet: densenet on cifar10 at 224 px, lr 0.1, 1 epoch(s), blocks recomputed in the backward pass',
    );
    expect(r.out.match(/^Epoch -> 1 \t train_loss -> [\d.]+ /gm)).toHaveLength(1);
  }, 300_000);

  it('names the valid experiments for an unknown one', async () => {
    const r = await cli('notebook', 'lenet', '--out', path.join(dir, 'none'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "Unknown notebook experiment 'lenet'. The notebook's experiments: alexnet, vgg11, vgg11-small, nin, nin-mnist, " +
        'googlenet, resnet18, densenet',
    );
    expect(existsSync(path.join(dir, 'none'))).toBe(false);
  });
});
