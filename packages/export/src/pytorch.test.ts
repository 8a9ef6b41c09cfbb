import '@tensorflow/tfjs-backend-cpu';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '@convnets/architectures';
import { Conv2d, type Module, Sequential, decodeSafetensors, encodeSafetensors, withSeed } from '@convnets/nn';
import { SMALL_NETS, TORCHVISION_NETS, pythonHasTorch } from '@convnets/tooling/fixtures';
import { pytorchProject } from './pytorch/index.js';
import { UnsupportedKernelError } from './index.js';
import { TwoBranch, twoBranchNet } from '../test-utils/two-branch.js';
import { MAIN_JOB_RECIPE, NOTEBOOK_RECIPE } from '@convnets/trainer';

const torch = pythonHasTorch();
if (!torch && process.env.CONVNETS_TORCH_REQUIRED === '1')
  throw new Error('CONVNETS_TORCH_REQUIRED: Debian python3-torch is needed for the PyTorch export tests');

/** Loads each folder's model.py + weights in PyTorch and writes the logits of its input.safetensors. */
const RUN = `
import sys, importlib
for folder in sys.argv[1:]:
    sys.path.insert(0, folder)
    sys.modules.pop('model', None)
    model = importlib.import_module('model')
    net, card = model.load_model(folder + '/weights.safetensors')
    tensors, _ = model.load_safetensors(folder + '/input.safetensors')
    import torch
    with torch.no_grad():
        model.save_safetensors({'logits': net(tensors['input'])}, folder + '/logits.safetensors')
    sys.path.pop(0)
`;

const card = (name: string, size: number) => ({
  model: name,
  inputSize: size,
  inChannels: 3,
  classes: Array.from({ length: 10 }, (_, i) => `class ${i}`),
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
});

/**
 * The notebook's nets, torchvision's ResNet-50 (named layers, its blocks written from their traces) and a net whose
 * block only the tests know (its model.py class comes from a trace).
 */
const NETS: ReadonlyArray<readonly [string, number, () => Module]> = [
  ...[...SMALL_NETS, ...TORCHVISION_NETS].map(
    ([name, size]) => [name, size, () => createModel(name, { inputSize: size, seed: 2 })] as const,
  ),
  ['two-branch', 9, () => withSeed(2, () => twoBranchNet(3))],
];

describe.runIf(torch)('model.py + weights in PyTorch (Debian python3-torch)', () => {
  let dir: string;
  const expected = new Map<string, tf.Tensor>();
  /** Each net's project folder ('torchvision/resnet50' in 'torchvision-resnet50'). */
  const folderOf = (name: string) => path.join(dir, name.replace('/', '-'));
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'convnets-pytorch-'));
    for (const [name, size, build] of NETS) {
      const model = build().eval();
      // Running statistics away from 0/1, so the eval-mode batch norm in PyTorch has something to match.
      for (const [key, v] of model.namedBuffers()) {
        if (key.endsWith('running_mean')) v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', 3));
        if (key.endsWith('running_var')) v.assign(tf.randomUniform(v.shape, 0.5, 2, 'float32', 4));
      }
      const folder = folderOf(name);
      const files = await pytorchProject(model, card(name, size), { source: 'test' });
      await mkdir(folder);
      for (const [file, content] of files) await writeFile(path.join(folder, file), content);
      const x = tf.randomUniform([2, size, size, 3], -2, 2, 'float32', 5);
      const nchw = tf.transpose(x, [0, 3, 1, 2]);
      await writeFile(path.join(folder, 'input.safetensors'), await encodeSafetensors(new Map([['input', nchw]])));
      expected.set(name, model.forward(x));
      tf.dispose([x, nchw]);
      model.dispose();
    }
    await promisify(execFile)('/usr/bin/python3', ['-c', RUN, ...NETS.map(([n]) => folderOf(n))]);
  }, 300_000);
  afterAll(async () => {
    tf.dispose([...expected.values()]);
    await rm(dir, { recursive: true, force: true });
  });

  it.each(NETS)("%s gives convnets' eval-mode logits within 1e-5", async (name) => {
    const { tensors } = decodeSafetensors(
      new Uint8Array(await readFile(path.join(folderOf(name), 'logits.safetensors'))),
    );
    const theirs = tensors.get('logits')!;
    const ours = expected.get(name)!;
    expect(theirs.shape).toEqual(ours.shape);
    const scale = Math.max(1, tf.max(tf.abs(ours)).dataSync()[0]!);
    expect(tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0]! / scale).toBeLessThan(1e-5);
    theirs.dispose();
  });
});

describe('model.py', () => {
  it("uses the notebook's class names, defining only the blocks the net uses", async () => {
    const model = createModel('resnet18', { inputSize: 32, inChannels: 1 });
    const cardOf = { ...card('resnet18', 32), inChannels: 1, mean: [0.1], std: [0.3] };
    const files = await pytorchProject(model, cardOf, { classifierStart: 5 });
    const source = files.get('model.py') as string;
    expect(source).toContain('class Residual(nn.Module):');
    expect(source).toContain('Residual(64, 128, use_1x1conv=True, strides=2),');
    expect(source).toContain('nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),');
    expect(source).not.toContain('class Inception');
    expect(source).toContain('CLASSIFIER_START = 5\n'); // for train.py's --freeze features and --head-lr
    expect(await pytorchProject(model, cardOf).then((f) => f.get('model.py'))).toContain('CLASSIFIER_START = None\n');
    expect(files.get('README.md')).toContain('torchrun --standalone --nproc_per_node=2 train.py --dataset mnist');
    model.dispose();
  });

  it("writes a block it has no writer for as a class read from the block's forward", async () => {
    const model = withSeed(2, () => twoBranchNet(3));
    const before = tf.memory().numTensors;
    const source = (await pytorchProject(model, card('two-branch', 9))).get('model.py') as string;
    expect(tf.memory().numTensors).toBe(before);
    // One class for the two blocks (the same code), its children by their names, its parameter by its own.
    expect(source.match(/^class TwoBranch\b.*$/gm)).toEqual(['class TwoBranch(nn.Module):']);
    expect(source).toContain(
      [
        '        self.wide = nn.Conv2d(4, 6, kernel_size=3, padding=1)',
        '        self.narrow = nn.Conv2d(4, 2, kernel_size=1)',
        '        self.merge = nn.Conv2d(8, 4, kernel_size=1)',
        '        self.gate = nn.Parameter(torch.zeros([4]))',
        '',
        '    def forward(self, x):',
        '        y1 = self.wide(x)',
        '        y2 = F.relu(y1)',
        '        y3 = self.narrow(x)',
        '        y4 = torch.cat((y2, y3), dim=1)',
        '        y5 = self.merge(y4)',
        '        y6 = x * self.gate.view(-1, 1, 1)',
        '        y7 = y5 + y6',
        '        y8 = F.relu(y7)',
        '        return y8',
      ].join('\n'),
    );
    expect(source).toContain('        TwoBranch(),\n        TwoBranch(),\n');
    model.dispose();
  });

  it('refuses a kernel with no PyTorch form, naming the module that runs it', async () => {
    class Exponential extends TwoBranch {
      override forward(x: tf.Tensor) {
        return tf.exp(this.merge.forward(x));
      }
    }
    const model = new Sequential(new Conv2d(3, 8, 3), new Exponential(8));
    const failure = pytorchProject(model, card('custom', 8));
    await expect(failure).rejects.toThrow(UnsupportedKernelError);
    await expect(failure).rejects.toThrow(
      "PyTorch export: the module at '1' (Exponential) runs tfjs's Exp kernel, which has no PyTorch form here",
    );
    model.dispose();
  });
});

describe('train.py', () => {
  it("carries the trainer's recipes: MAIN_JOB_RECIPE as main, NOTEBOOK_RECIPE as notebook", async () => {
    const project = await pytorchProject(
      withSeed(0, () => new Sequential(new Conv2d(1, 2, 3))),
      {
        model: 'tiny',
        inputSize: 8,
        inChannels: 1,
        classes: ['a', 'b'],
        mean: [0.5],
        std: [0.5],
      },
    );
    const text = project.get('train.py') as string;
    // RECIPES' rows are Python dict literals of numbers and strings: JSON once quoted as JSON.
    const row = (name: string) =>
      JSON.parse(new RegExp(`^ {4}'${name}': (\\{.*\\}),$`, 'm').exec(text)![1]!.replaceAll("'", '"'));
    for (const [name, recipe] of [
      ['main', MAIN_JOB_RECIPE],
      ['notebook', NOTEBOOK_RECIPE],
    ] as const) {
      const { epochs, batchSize, lr, momentum, weightDecay, schedule } = recipe;
      expect(row(name), name).toEqual({ epochs, batchSize, lr, momentum, weightDecay, schedule });
    }
  });
});
