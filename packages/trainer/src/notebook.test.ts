import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOTEBOOK_EXPERIMENTS, NOTEBOOK_NORMALIZE, experimentRecipe, notebookExperiment } from './notebook.js';
import { MAIN_JOB_RECIPE, NOTEBOOK_RECIPE } from './recipe.js';

describe('the notebook experiments', () => {
  it('are the eight of the notebook, in its order, each with ten logged epochs', () => {
    expect(NOTEBOOK_EXPERIMENTS.map((e) => e.name)).toEqual([
      'alexnet',
      'vgg11',
      'vgg11-small',
      'nin',
      'nin-mnist',
      'googlenet',
      'resnet18',
      'densenet',
    ]);
    for (const e of NOTEBOOK_EXPERIMENTS) expect(e.logged, e.name).toHaveLength(e.epochs);
  });

  it('train with plain SGD at their own learning rate, unlike the main job', () => {
    expect(experimentRecipe(notebookExperiment('resnet18'))).toEqual({ ...NOTEBOOK_RECIPE, lr: 0.05, epochs: 10 });
    expect(NOTEBOOK_RECIPE).toMatchObject({ momentum: 0, weightDecay: 0, schedule: 'constant', batchSize: 128 });
    expect(MAIN_JOB_RECIPE).toMatchObject({ momentum: 0.9, weightDecay: 5e-4, schedule: 'onecycle' });
  });

  it('names the valid experiments for an unknown one', () => {
    expect(() => notebookExperiment('lenet')).toThrow(
      "Unknown notebook experiment 'lenet'. The notebook's experiments: alexnet, vgg11, vgg11-small, nin, nin-mnist, " +
        'googlenet, resnet18, densenet',
    );
  });
});

const notebookFile = path.resolve(import.meta.dirname, '../../../../shared/reference/pytorch-notebook.md');

/** The notebook's own text, read independently of notebook.ts: its settings and printed epoch lines are the truth. */
describe.runIf(existsSync(notebookFile))("the experiments' data against the notebook's text", () => {
  const text = existsSync(notebookFile) ? readFileSync(notebookFile, 'utf8') : '';
  const calls = [
    ...text.matchAll(
      /train_model\((\w+)\(([^)]*)\), "\w+", (\d+), device, learning_rate=([\d.]+)(,\s*train_loader=(\w+))?/g,
    ),
  ];

  it('has one train_model call per experiment, with its net, epochs, learning rate, data and resize', () => {
    expect(calls).toHaveLength(NOTEBOOK_EXPERIMENTS.length);
    const nets: Record<string, string> = {
      AlexNet: 'alexnet',
      conv_arch: 'vgg11',
      conv_arch_small: 'vgg11-small',
      NINNet: 'nin',
      GoogLeNet: 'googlenet',
      ResNet: 'resnet18',
      DenseNet: 'densenet',
    };
    calls.forEach((call, k) => {
      const e = NOTEBOOK_EXPERIMENTS[k]!;
      const [, cls, args, epochs, lr, , loader] = call;
      expect(e.model, e.name).toBe(nets[args!.startsWith('conv_arch') ? args! : cls!]);
      expect(e.epochs, e.name).toBe(Number(epochs));
      expect(e.lr, e.name).toBe(Number(lr));
      // NINNet(init=1) takes 1-channel images; its call trains on the MNIST loaders.
      expect(e.inChannels, e.name).toBe(args === 'init=1' ? 1 : 3);
      expect(e.dataset, e.name).toBe(loader === 'train_loader_mnist' ? 'mnist' : 'cifar10');
      // The resize of the loader the call trains on (train_model's default: `train_loader`), through its dataset's
      // transform, each as last defined before the call.
      const before = text.slice(0, call.index);
      const lastOf = (pattern: RegExp) => [...before.matchAll(pattern)].at(-1)!;
      const dataset = lastOf(new RegExp(`${loader ?? 'train_loader'} = DataLoader\\(dataset=(\\w+)`, 'g'))[1]!;
      const transform = lastOf(new RegExp(`${dataset} = datasets\\.\\w+\\([^)]*transform=(\\w+)\\)`, 'g'))[1]!;
      const resize = lastOf(
        new RegExp(
          `${transform} = transforms\\.Compose\\(\\[transforms\\.ToTensor\\(\\),\\s*transforms\\.Resize\\((\\d+)\\)`,
          'g',
        ),
      )[1];
      expect(e.resize, e.name).toBe(Number(resize));
    });
  });

  it('normalises every transform with mean 0.5 and std 0.5 after ToTensor and Resize', () => {
    const chains = [...text.matchAll(/transforms\.Compose\(\[([\s\S]*?)\n\s*\]\)/g)].map((m) => m[1]!);
    expect(chains.filter((c) => c.includes('Resize'))).toHaveLength(3); // CIFAR-10 at 224, MNIST at 224, CIFAR-10 at 96
    for (const chain of chains.filter((c) => c.includes('Resize'))) {
      expect(chain.replace(/\s+/g, '')).toMatch(
        /^transforms\.ToTensor\(\),transforms\.Resize\(\d+\),transforms\.Normalize\(mean=(\[0\.5,0\.5,0\.5\]|0\.5),std=(\[0\.5,0\.5,0\.5\]|0\.5)\),?$/,
      );
    }
    expect(NOTEBOOK_NORMALIZE).toEqual({ mean: 0.5, std: 0.5 });
  });

  it("uses the notebook recipe: train_model's plain SGD, Xavier-uniform weights, batches of 128 shuffled", () => {
    expect(text).toContain('optimizer = optim.SGD(model.parameters(), lr=learning_rate)');
    expect(text).toContain('nn.init.xavier_uniform_(m.weight)');
    expect(text).toMatch(/batch_size = 128\n/);
    expect(text).toMatch(/DataLoader\(dataset=train_data, batch_size=batch_size, shuffle=True/);
  });

  it("logs each experiment's epoch lines exactly as the notebook printed them", () => {
    calls.forEach((call, k) => {
      const e = NOTEBOOK_EXPERIMENTS[k]!;
      const after = text.slice(call.index! + call[0].length);
      const output = after.slice(0, after.indexOf('```python'));
      const lines = [
        ...output.matchAll(
          /Epoch -> (\d+) \t train_loss -> ([\d.e-]+) \t\t\t train_acc -> ([\d.e-]+) \n\s*==========\t valid_loss -> ([\d.e-]+) \t\t\t valid_acc -> ([\d.e-]+)/g,
        ),
      ];
      expect(
        lines.map((l) => Number(l[1])),
        e.name,
      ).toEqual(e.logged.map((_, i) => i + 1));
      expect(
        lines.map((l) => l.slice(2, 6).map(Number)),
        e.name,
      ).toEqual(e.logged.map((row) => [...row]));
    });
  });
});
