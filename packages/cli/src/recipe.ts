/**
 * The training recipe's flags, which `train` and `compare` share: their defaults are the trainer's MAIN_JOB_RECIPE; the
 * data it trains and tests on, and the net, optimizer and schedule it builds.
 */
import { createModel, featurePaths } from '@convnets/architectures';
import {
  DataLoader,
  compose,
  normalize,
  parseAugmentation,
  resize,
  toTensor,
  trainTransform,
  type ImageDataset,
} from '@convnets/datasets';
import type { Module } from '@convnets/nn';
import {
  MAIN_JOB_RECIPE as MAIN_JOB,
  SCHEDULES,
  fit,
  recipeOptimizer,
  type FitOptions,
  type Recipe,
} from '@convnets/trainer';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveInt } from './io.js';
import { DATASET_DOWNLOAD_HELP, DATASET_ROOT_HELP, datasetOption, type DatasetName } from './options.js';

/** The trainer's recipe as flags, with where the data comes from and what part of it. */
export interface RecipeFlags extends Recipe {
  dataset: DatasetName;
  root?: string;
  download?: boolean;
  imageSize?: number;
  limitTrain?: number;
  limitValid?: number;
  /** `--augment`'s list as given (a run's identity: a resumed run must augment alike). */
  augment?: string;
  /** Images per forward and backward pass (the batch's step in less memory; nets without BatchNorm). */
  microBatch?: number;
  /** Blocks run again in the backward pass instead of keeping their activations (the same step in less memory). */
  recompute?: boolean;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('Expected a non-negative number.');
  return n;
}

/** Adds the recipe's flags (dataset, epochs, batch size, optimizer, schedule, init, seed, subsets) to `command`. */
export function recipeOptions(command: Command): Command {
  return command
    .addOption(datasetOption())
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .option('--epochs <n>', 'epochs', positiveInt, MAIN_JOB.epochs)
    .option('--batch-size <n>', 'images per step', positiveInt, MAIN_JOB.batchSize)
    .option('--lr <x>', 'peak learning rate', nonNegative, MAIN_JOB.lr)
    .option('--momentum <x>', 'SGD momentum', nonNegative, MAIN_JOB.momentum)
    .option('--weight-decay <x>', 'L2 weight decay', nonNegative, MAIN_JOB.weightDecay)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam']).default(MAIN_JOB.optimizer))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(SCHEDULES).default(MAIN_JOB.schedule))
    .option('--label-smoothing <x>', 'label smoothing', nonNegative, MAIN_JOB.labelSmoothing)
    .addOption(microBatchOption())
    .addOption(recomputeOption())
    .addOption(
      new Option('--init <scheme>', 'weight initialisation of conv and linear layers')
        .choices(['xavier', 'kaiming'])
        .default(MAIN_JOB.init),
    )
    .option('--seed <n>', 'seed of the weights, shuffles and dropout', nonNegativeInt, MAIN_JOB.seed)
    .option('--limit-train <n>', 'train on n images, a class-balanced subset chosen by --seed', positiveInt)
    .option('--limit-valid <n>', 'test on n images, a class-balanced subset chosen by --seed', positiveInt)
    .option(
      '--augment <list>',
      'training augmentations, seeded by --seed: flip, crop[:PAD] (pad, then a random crop at the input size; ' +
        "CIFAR-10's is crop:4), resized-crop (ImageNet's RandomResizedCrop)",
      augmentList,
    );
}

/** `--micro-batch`, for `train` and `notebook`. */
export function microBatchOption(): Option {
  return new Option(
    '--micro-batch <n>',
    "images per forward and backward pass of the net's features, run again for their gradients; the classifier takes " +
      "the whole batch, then one update per batch (the same step in less memory; refused for nets whose features' " +
      'BatchNorm trains)',
  ).argParser(positiveInt);
}

/** `--recompute`, for `train` and `notebook`. */
export function recomputeOption(): Option {
  return new Option(
    '--recompute',
    "keep only each block's input through the forward pass and run the block again for its gradients (activation " +
      'checkpointing: the same step in less memory, for about a third more compute; BatchNorm nets too)',
  );
}

/** Checks `--augment`'s list as it is parsed; the flag keeps the text (it is part of a run's identity). */
function augmentList(value: string): string {
  try {
    parseAugmentation(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/**
 * The data as the recipe uses it: the subsets, the input size, the training set's own normalisation (MNIST:
 * 0.1307, 0.3081; a fine-tuned net keeps the one it was trained with) and the loaders (training shuffled by `--seed`).
 */
export function recipeData(
  train: ImageDataset,
  test: ImageDataset,
  flags: RecipeFlags,
  stats: { mean: readonly number[]; std: readonly number[] } = train.channelStats(),
) {
  const trainSet = flags.limitTrain ? train.sample(flags.limitTrain, flags.seed) : train;
  const validSet = flags.limitValid ? test.sample(flags.limitValid, flags.seed) : test;
  const [h, , channels] = train.imageShape;
  const inputSize = flags.imageSize ?? h;
  const { mean, std } = stats;
  const transform = compose(toTensor(), resize(inputSize), normalize(mean, std)); // resize: a no-op at the native size
  const augmentation = flags.augment ? parseAugmentation(flags.augment) : undefined;
  const trainLoader = new DataLoader(trainSet, {
    batchSize: flags.batchSize,
    shuffle: true,
    seed: flags.seed,
    transform: augmentation ? trainTransform(inputSize, augmentation, mean, std) : transform,
  });
  // Validation in training's batches (the notebook's test loader): a forward keeps its activations until the batch
  // ends, so a bigger batch at 224 px outgrows what training fits in (wasm's 4 GB heap).
  const validLoader = new DataLoader(validSet, { batchSize: flags.batchSize, transform });
  return { trainSet, validSet, inputSize, channels, mean, std, trainLoader, validLoader };
}

/** The net (initialised by `--init` with `--seed`), its optimizer and learning-rate schedule. */
export function recipeTraining(
  name: string,
  data: { inputSize: number; channels: number; trainLoader: DataLoader },
  numClasses: number,
  flags: RecipeFlags,
) {
  const { inputSize, channels, trainLoader } = data;
  const model = createModel(name, { inChannels: channels, numClasses, inputSize, seed: flags.seed, init: flags.init });
  return { model, ...recipeOptimizer(flags, trainLoader.length * flags.epochs) };
}

/** `fit` on the recipe's data with its optimizer, schedule, epochs and label smoothing (and `more` options). */
export function fitRecipe(
  model: Module,
  data: ReturnType<typeof recipeData>,
  training: Pick<FitOptions, 'optimizer' | 'schedule'>,
  flags: RecipeFlags,
  more: Partial<FitOptions> = {},
) {
  const { trainLoader: train, validLoader: valid } = data;
  const { epochs, labelSmoothing, microBatch, recompute } = flags;
  // In passes, the features only: the classifier's weight gradients once per batch, its Dropout the batch's masks.
  const classifierStart = microBatch === undefined ? undefined : featurePaths(model).length;
  return fit(model, {
    train,
    valid,
    epochs,
    ...training,
    labelSmoothing,
    microBatch,
    classifierStart,
    recompute,
    ...more,
  });
}
