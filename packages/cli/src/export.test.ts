import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { encode as encodePng } from 'fast-png';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '@convnets/nn';
import { loadMnist, mnistDataDirectory } from '@convnets/datasets/node';
import { pythonHasTorch } from '@convnets/tooling/fixtures';
import { cli, ok } from '../test-utils/cli.js';
import { DIGIT_FOLDER_CLASSES, writeDigitFolder } from '../test-utils/digits.js';

const torch = pythonHasTorch();
if (!torch && process.env.CONVNETS_TORCH_REQUIRED === '1')
  throw new Error('CONVNETS_TORCH_REQUIRED: Debian python3-torch is needed for the torchrun test');

/** Real MNIST test digits: the first `n`, as uint8 NHWC pixels. */
const { test: mnistTest } = await loadMnist({ splits: ['test'] });
const digits = (n: number) => mnistTest.head(n).images;

async function onnxLogits(file: string, nchw: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    const { logits } = await session.run({ input: new ort.Tensor('float32', nchw, dims) });
    return logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** `torchrun train.py ARGS` in a project folder, two processes on this machine: what it printed. */
const torchrun = (project: string, ...args: string[]) => torchrunIn(2, project, args);

/** `torchrun train.py ARGS` in a project folder, in `processes` processes on this machine: what it printed. */
async function torchrunIn(processes: number, project: string, args: string[]): Promise<string> {
  // Debian's torch 1.13 on Python 3.11 cannot parse torchrun's own default `--redirects 0 --tee 0` (Python 3.11
  // no longer iterates zero-valued flags): rank 0's output is teed explicitly. Newer torch needs no flags.
  const launch = ['--redirects', '1', '--tee', '1', '--standalone', `--nproc_per_node=${processes}`];
  const env = { ...process.env, OMP_NUM_THREADS: '1' };
  const { stdout } = await promisify(execFile)('torchrun', [...launch, 'train.py', ...args], { cwd: project, env });
  return stdout;
}

/** The test accuracy train.py's rank 0 printed, in percent. */
const printedAccuracy = (stdout: string) => Number(/^(?:\[default0\]:)?test accuracy ([\d.]+)%/m.exec(stdout)![1]);

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('convnets export', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-export-'));
  const weights = path.join(dir, 'run', 'mnist_resnet18.safetensors');
  let card: { mean: number[]; std: number[]; classes: string[] };

  beforeAll(async () => {
    const args = ['--limit-train', '512', '--limit-valid', '100', '--epochs', '1', '--batch-size', '64'];
    const trained = await cli('train', '--model', 'resnet18', ...args, '--out', path.join(dir, 'run'));
    expect(trained.code, trained.err).toBe(0);
    card = JSON.parse(decodeSafetensors(readFileSync(weights)).metadata.convnets!);
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--format onnx: onnxruntime gives the logits `convnets predict` gives, on real digits', async () => {
    const file = path.join(dir, 'net.onnx');
    const exported = await cli('export', '--checkpoint', weights, '--format', 'onnx', '--output', file);
    expect(exported.code, exported.err).toBe(0);
    expect(exported.err).toContain('input [batch, 1, 28, 28]');
    // Eight digits, normalised with the card as training did, NCHW (one channel: the same bytes as NHWC).
    const x = Float32Array.from(digits(8), (v) => (v / 255 - card.mean[0]!) / card.std[0]!);
    const input = tf.tensor4d(x, [8, 1, 28, 28]);
    writeFileSync(path.join(dir, 'input.safetensors'), await encodeSafetensors(new Map([['input', input]])));
    input.dispose();
    const predicted = await cli(
      ...['predict', '--checkpoint', weights],
      ...['--input', path.join(dir, 'input.safetensors')],
      '--output',
      path.join(dir, 'logits.safetensors'),
    );
    expect(predicted.code, predicted.err).toBe(0);
    const { tensors } = decodeSafetensors(readFileSync(path.join(dir, 'logits.safetensors')));
    const ours = tensors.get('logits')!.dataSync();
    tf.dispose([...tensors.values()]);
    const theirs = await onnxLogits(file, x, [8, 1, 28, 28]);
    expect(theirs.length).toBe(80);
    expect(maxDiff(ours, theirs)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(ours, Math.abs)));
  });

  it('--format onnx --normalize: raw pixels of an image give `predict --image` probabilities', async () => {
    const file = path.join(dir, 'raw.onnx');
    expect(
      (await cli('export', '--checkpoint', weights, '--format', 'onnx', '--normalize', '--output', file)).code,
    ).toBe(0);
    const pixels = digits(1);
    const png = path.join(dir, 'digit.png');
    writeFileSync(png, encodePng({ width: 28, height: 28, data: pixels, channels: 1, depth: 8 }));
    const predicted = await cli('predict', '--checkpoint', weights, '--image', png, '--json');
    expect(predicted.code, predicted.err).toBe(0);
    const { probabilities, top } = JSON.parse(predicted.out);
    expect(top).toHaveLength(5);
    expect(top[0].class).toBe(card.classes[probabilities.indexOf(Math.max(...probabilities))]);
    const logits = await onnxLogits(
      file,
      Float32Array.from(pixels, (v) => v / 255),
      [1, 1, 28, 28],
    );
    const exp = Array.from(logits, (v) => Math.exp(v - Math.max(...logits)));
    const softmax = exp.map((v) => v / exp.reduce((a, b) => a + b));
    expect(maxDiff(softmax, probabilities)).toBeLessThan(1e-5);
  });

  it('refuses bad input clearly and overwrites nothing', async () => {
    const unknown = await cli('export', '--checkpoint', weights, '--format', 'tflite', '--output', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("argument 'tflite' is invalid. Allowed choices are safetensors, onnx, pytorch");
    const kept = path.join(dir, 'kept.onnx');
    writeFileSync(kept, 'mine');
    const other = await cli(
      'export',
      '--checkpoint',
      weights,
      '--model',
      'vgg11',
      '--format',
      'onnx',
      '--output',
      kept,
    );
    expect(other.code).toBe(1);
    expect(other.err).toContain('--model vgg11: ');
    expect(other.err).toContain('holds a resnet18 (its model card says so)');
    const opset = await cli('export', '--checkpoint', weights, '--format', 'onnx', '--opset', '9', '--output', kept);
    expect(opset.err).toContain('opset must be an integer from 13 to 18, got 9');
    expect(readFileSync(kept, 'utf8')).toBe('mine');
    const busy = path.join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    const full = await cli('export', '--checkpoint', weights, '--format', 'pytorch', '--output', busy);
    expect(full.code).toBe(1);
    expect(full.err).toContain(`--output: ${busy} already holds other files (notes.txt): give a new or empty folder`);
    expect(readdirSync(busy)).toEqual(['notes.txt']);
    const normalizeElsewhere = await cli('export', '--checkpoint', weights, '--normalize', '--output', kept);
    expect(normalizeElsewhere.err).toContain('--opset and --normalize are for --format onnx, not safetensors');
  });

  it.runIf(torch)(
    '--format pytorch: torchrun trains it data-parallel on real MNIST (2 processes, gloo) and convnets reads the result',
    async () => {
      const project = path.join(dir, 'pytorch');
      const exported = await cli('export', '--checkpoint', weights, '--format', 'pytorch', '--output', project);
      expect(exported.code, exported.err).toBe(0);
      expect(readdirSync(project).sort()).toEqual(['README.md', 'model.py', 'train.py', 'weights.safetensors']);
      const out = path.join(dir, 'ddp');
      // One epoch, then --resume for a second: what a longer run would show, at a third of the cost. Tested on 2,000
      // digits: train.py picks convnets' class-balanced subset, the one `eval --limit` takes (seed 0).
      const data = [
        '--dataset',
        'mnist',
        '--root',
        mnistDataDirectory(),
        '--limit-train',
        '1024',
        '--limit-valid',
        '2000',
      ];
      const stdout = await torchrun(project, ...data, '--epochs', '1', '--out', out);
      // Lines of rank 0 (torchrun prefixes each process's lines with its name).
      expect(stdout).toMatch(/in 2 processes, 1 epoch\(s\)/);
      expect(stdout).toMatch(/^(\[default0\]:)?Epoch -> 1 \t train_loss -> [\d.]+ /m);
      const history = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
      expect(history.trainLoss).toHaveLength(1);
      // --resume continues the run from its state in --out: epoch 2 only, the history kept.
      const resumed = await torchrun(project, ...data, '--epochs', '2', '--resume', '--out', out);
      expect(resumed).toContain('resuming after epoch 1 of 2');
      expect(resumed).not.toMatch(/Epoch -> 1 /);
      expect(resumed).toMatch(/^(\[default0\]:)?Epoch -> 2 \t train_loss -> [\d.]+ /m);
      const longer = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
      expect(longer.trainLoss.slice(0, 1)).toEqual(history.trainLoss);
      expect(longer.trainLoss).toHaveLength(2);
      expect(longer.trainLoss[1]).toBeLessThan(longer.trainLoss[0]);
      expect(longer.test.accuracy).toBeGreaterThan(0.5);
      const printed = printedAccuracy(resumed);
      const checkpoint = path.join(out, 'mnist_resnet18.safetensors');
      const evaluated = await cli(
        'eval',
        '--checkpoint',
        checkpoint,
        '--dataset',
        'mnist',
        '--limit',
        '2000',
        '--json',
      );
      expect(evaluated.code, evaluated.err).toBe(0);
      const result = JSON.parse(evaluated.out);
      expect(result.images).toBe(2000);
      // The same weights on the same 2,000 digits: at most a borderline digit may round the other way.
      expect(Math.abs(result.accuracy - longer.test.accuracy)).toBeLessThanOrEqual(1 / 2000 + 1e-9);
      // The printed line is the history's figure, rounded to 2 decimals.
      expect(Math.abs(longer.test.accuracy * 100 - printed)).toBeLessThanOrEqual(0.005 + 1e-9);
      const plotted = await cli('plot', 'history', path.join(out, 'history.json'), '--format', 'svg');
      expect(plotted.code, plotted.err).toBe(0);
      expect(statSync(path.join(out, 'accuracy.svg')).size).toBeGreaterThan(1000);
    },
    600_000,
  );

  it.runIf(torch)(
    "--format pytorch: train.py --recipe notebook in one process takes convnets' steps (the same images, batches, " +
      'updates, test subset)',
    async () => {
      const project = path.join(dir, 'pytorch-twin');
      await ok('export', '--checkpoint', weights, '--format', 'pytorch', '--output', project);
      // The notebook's recipe (plain SGD, constant lr) from these weights, on 96 digits in 3 shuffled batches of 32.
      const subset = ['--dataset', 'mnist', '--limit-train', '96', '--limit-valid', '200', '--batch-size', '32'];
      const run = [...subset, '--lr', '0.01', '--epochs', '1', '--seed', '3'];
      const ours = path.join(dir, 'twin-convnets');
      const notebook = ['--momentum', '0', '--weight-decay', '0', '--schedule', 'constant'];
      await ok('train', '--from', weights, ...run, ...notebook, '--out', ours);
      const theirs = path.join(dir, 'twin-pytorch');
      const root = mnistDataDirectory();
      const stdout = await torchrunIn(1, project, [
        '--recipe',
        'notebook',
        '--weights',
        'weights.safetensors',
        '--root',
        root,
        ...run,
        '--out',
        theirs,
      ]);
      expect(stdout).toContain('(96 train / 200 test images) in 1 processes, 1 epoch(s), the notebook recipe');
      const read = (folder: string) => decodeSafetensors(readFileSync(path.join(folder, 'mnist_resnet18.safetensors')));
      const [a, b] = [read(ours).tensors, read(theirs).tensors];
      let worst = 0;
      for (const [name, t] of a) {
        const [x, y] = [t.dataSync(), b.get(name)!.dataSync()];
        const scale = maxDiff(y, new Float32Array(y.length)) || 1e-6;
        worst = Math.max(worst, maxDiff(x, y) / scale);
      }
      const [mine, torchs] = [ours, theirs].map((f) => JSON.parse(readFileSync(path.join(f, 'history.json'), 'utf8')));
      expect(worst).toBeLessThan(1e-4);
      expect(Math.abs(mine.trainLoss[0] - torchs.trainLoss[0])).toBeLessThan(1e-4);
      // The same 200 test digits (convnets' class-balanced subset for --seed 3): the same loss and predictions.
      expect(Math.abs(torchs.test.loss - mine.test.loss) / mine.test.loss).toBeLessThan(1e-4);
      expect(torchs.test.confusion).toEqual(mine.test.confusion);
      tf.dispose([...a.values(), ...b.values()]);
    },
    300_000,
  );

  it.runIf(torch)(
    '--format pytorch of a net fine-tuned on an image folder: train.py continues on that folder, convnets reads it',
    async () => {
      const folder = path.join(dir, 'digits');
      await writeDigitFolder(folder);
      const tuned = path.join(dir, 'tuned');
      await ok(
        ...['train', '--from', weights, '--dataset', 'folder', '--root', folder, '--freeze', 'features'],
        ...['--epochs', '1', '--batch-size', '32', '--out', tuned],
      );
      const project = path.join(dir, 'pytorch-folder');
      const checkpoint = path.join(tuned, 'folder_resnet18.safetensors');
      await ok('export', '--checkpoint', checkpoint, '--format', 'pytorch', '--output', project);
      expect(readFileSync(path.join(project, 'README.md'), 'utf8')).toContain('train.py --dataset folder --root');
      const out = path.join(dir, 'ddp-folder');
      const data = ['--dataset', 'folder', '--root', folder, '--batch-size', '32', '--lr', '0.01'];
      const stdout = await torchrun(project, ...data, '--epochs', '2', '--out', out);
      expect(stdout).toContain('training resnet18 on folder (138 train / 45 test images) in 2 processes');
      const history = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
      expect(history.trainLoss[1]).toBeLessThan(history.trainLoss[0]);
      const result = path.join(out, 'folder_resnet18.safetensors');
      const card = JSON.parse(decodeSafetensors(readFileSync(result)).metadata.convnets!);
      expect(card.classes).toEqual(DIGIT_FOLDER_CLASSES);
      const evaluated = await ok('eval', '--checkpoint', result, '--dataset', 'folder', '--root', folder, '--json');
      const { accuracy, images } = JSON.parse(evaluated.out);
      expect(images).toBe(readdirSync(path.join(folder, 'test'), { recursive: true }).length - 3);
      // The same weights on the same images: at most one borderline image may round the other way.
      expect(Math.abs(accuracy * 100 - printedAccuracy(stdout))).toBeLessThanOrEqual(100 / images + 0.01);
      // Fine-tuning flags, as `convnets train --from` has them: the features frozen (BatchNorm statistics too), the
      // head at its own learning rate. The same trainable/frozen counts as convnets printed for this net.
      const frozenOut = path.join(dir, 'ddp-frozen');
      const frozen = await torchrun(project, ...data, '--freeze', 'features', '--head-lr', '0.05', '--out', frozenOut);
      expect(frozen).toContain('trainable parameters: 1,539, frozen: 11,173,248');
      const before = decodeSafetensors(readFileSync(path.join(project, 'weights.safetensors'))).tensors;
      const after = decodeSafetensors(readFileSync(path.join(frozenOut, 'folder_resnet18.safetensors'))).tensors;
      for (const [name, t] of after) {
        const same = Array.from(t.dataSync()).join() === Array.from(before.get(name)!.dataSync()).join();
        expect(same, name).toBe(!name.startsWith('7.'));
      }
      tf.dispose([...before.values(), ...after.values()]);
      // A folder whose class the net does not know is refused by name.
      const stranger = path.join(dir, 'stranger');
      await writeDigitFolder(stranger);
      renameSync(path.join(stranger, 'train', 'zero'), path.join(stranger, 'train', 'nought'));
      // (One process is enough to be refused.)
      const refused = torchrunIn(1, project, [
        '--dataset',
        'folder',
        '--root',
        stranger,
        '--out',
        path.join(dir, 'no'),
      ]);
      await expect(refused).rejects.toThrow("the net has no class 'nought' (its classes: one, seven, zero)");
      const unknown = torchrunIn(1, project, [...data, '--freeze', '9', '--out', path.join(dir, 'no')]);
      await expect(unknown).rejects.toThrow("--freeze: no module at '9'");
    },
    600_000,
  );
});
