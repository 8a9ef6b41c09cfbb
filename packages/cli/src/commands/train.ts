import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createModel } from '@convnets/architectures';
import { initBackend, type BackendRequest } from '@convnets/backend';
import { DataLoader, compose, normalize, resize, toTensor, type ImageDataset } from '@convnets/datasets';
import type { Module } from '@convnets/nn';
import {
  Adam,
  CheckpointError,
  SCHEDULES,
  Sgd,
  encodeTrainingState,
  encodeWeights,
  fit,
  restoreTrainingState,
  scheduleByName,
  type BatchEvent,
  type EpochEvent,
  type ModelCard,
  type RunSettings,
  type SavedTraining,
  type ScheduleName,
} from '@convnets/trainer';
import { Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, percent, positiveInt, type Io } from '../io.js';
import { writeAtomically, writeCurves } from '@convnets/plots/node';
import {
  DATASET_DOWNLOAD_HELP,
  DATASET_ROOT_HELP,
  datasetOption,
  loadDataset,
  type DatasetName,
  backendOption,
  imageSizeOption,
  modelOption,
} from '../options.js';

interface TrainFlags {
  model: string;
  dataset: DatasetName;
  root?: string;
  download?: boolean;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  optimizer: 'sgd' | 'adam';
  schedule: ScheduleName;
  labelSmoothing: number;
  init: 'xavier' | 'kaiming';
  imageSize?: number;
  backend: BackendRequest;
  seed: number;
  limitTrain?: number;
  limitValid?: number;
  out: string;
  resume?: boolean;
  json?: boolean;
}

/** The options a resumed run must share with the run it continues. */
const RUN_IDENTITY = [
  'model',
  'dataset',
  'batchSize',
  'seed',
  'lr',
  'schedule',
  'optimizer',
  'imageSize',
  'limitTrain',
] as const;

/** The training state a `--resume` continues: `<base>.train.safetensors`, loaded into `model`. */
async function loadCheckpoint(base: string, model: Module, run: RunSettings): Promise<SavedTraining> {
  const file = `${base}.train.safetensors`;
  const bytes = await readFile(file).catch(() => {
    throw new Error(`--resume: ${file} does not exist (train without --resume first, with the same --out)`);
  });
  try {
    return restoreTrainingState(model, new Uint8Array(bytes), { file, expect: run });
  } catch (err) {
    if (err instanceof CheckpointError) err.message = `--resume: ${err.message}`;
    throw err;
  }
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('Expected a non-negative number.');
  return n;
}

/** The notebook's per-epoch line. */
function epochLine(e: EpochEvent): string {
  return (
    `Epoch -> ${e.epoch} \t train_loss -> ${e.trainLoss} \t\t\t train_acc -> ${e.trainAcc} ` +
    `\n==========\t valid_loss -> ${e.validLoss} \t\t\t valid_acc -> ${e.validAcc}`
  );
}

/** `--json`: one JSON object per line for every batch and epoch (and the end), for scripts and notebooks. */
const jsonLine = (io: Io, event: string, fields: object) => io.out(JSON.stringify({ event, ...fields }));

/** Clears the terminal line the progress bar is on. */
const CLEAR_LINE = '\r\x1b[2K';

/** A progress bar on a terminal (redrawn in place); elsewhere a line every tenth of an epoch. */
function progress(io: Io, interactive: boolean) {
  let started = Date.now();
  return ({ epoch, batch, batches, runningLoss, imagesPerSec }: BatchEvent) => {
    if (batch === 1) started = Date.now();
    const total = batches ?? 0;
    const fraction = total ? batch / total : 0;
    const eta = total && fraction > 0 ? ((Date.now() - started) / 1000 / fraction) * (1 - fraction) : 0;
    const text =
      `epoch ${epoch} [${'#'.repeat(Math.round(fraction * 30)).padEnd(30, '.')}] ${batch}/${total} ` +
      `loss ${runningLoss.toFixed(4)} ${imagesPerSec.toFixed(0)} img/s ETA ${eta.toFixed(0)}s`;
    if (interactive) process.stderr.write(`${CLEAR_LINE}${text}`);
    else if (total && (batch === total || batch % Math.max(1, Math.floor(total / 10)) === 0)) io.err(text);
  };
}

export function trainCommand(io: Io): Command {
  return imageSizeOption(new Command('train'), "resize images to n x n (default: the dataset's own size)")
    .description(
      "train a notebook net on a dataset (the notebook's train_model): progress, per-epoch lines, weights and history",
    )
    .addOption(modelOption('resnet18'))
    .addOption(datasetOption())
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .option('--epochs <n>', 'epochs', positiveInt, 2)
    .option('--batch-size <n>', 'images per step', positiveInt, 128)
    .option('--lr <x>', 'peak learning rate', nonNegative, 0.05)
    .option('--momentum <x>', 'SGD momentum', nonNegative, 0.9)
    .option('--weight-decay <x>', 'L2 weight decay', nonNegative, 5e-4)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam']).default('sgd'))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(SCHEDULES).default('onecycle'))
    .option('--label-smoothing <x>', 'label smoothing', nonNegative, 0)
    .addOption(
      new Option('--init <scheme>', 'weight initialisation of conv and linear layers')
        .choices(['xavier', 'kaiming'])
        .default('xavier'),
    )
    .addOption(backendOption())
    .option('--seed <n>', 'seed of the weights, shuffles and dropout', nonNegativeInt, 0)
    .option('--limit-train <n>', 'train on n images, a class-balanced subset chosen by --seed', positiveInt)
    .option('--limit-valid <n>', 'test on n images, a class-balanced subset chosen by --seed', positiveInt)
    .option('--out <dir>', 'output folder', 'result')
    .option('--resume', 'continue the run whose checkpoint is in --out (same options; --epochs is the new total)')
    .option(
      '--json',
      'print one JSON object per line for every batch, epoch and the end, instead of the notebook lines',
    )
    .action(async (flags: TrainFlags) => {
      const info = await initBackend(flags.backend);
      io.err(`backend: ${info.label}`);
      const native = info.skipped.find((s) => s.backend === 'native');
      if (native) io.err(`(no native kernels: ${native.reason})`);
      const { train, test } = await loadDataset(flags.dataset, flags);
      const trainSet: ImageDataset = flags.limitTrain ? train.sample(flags.limitTrain, flags.seed) : train;
      const validSet: ImageDataset = flags.limitValid ? test.sample(flags.limitValid, flags.seed) : test;
      const [h, , channels] = train.imageShape;
      const inputSize = flags.imageSize ?? h;
      // Normalise with the training set's own statistics (MNIST: 0.1307, 0.3081).
      const { mean, std } = train.channelStats();
      const transform = compose(toTensor(), resize(inputSize), normalize(mean, std)); // resize is a no-op at the native size
      const trainLoader = new DataLoader(trainSet, {
        batchSize: flags.batchSize,
        shuffle: true,
        seed: flags.seed,
        transform,
      });
      const validLoader = new DataLoader(validSet, { batchSize: 500, transform });
      const model = createModel(flags.model, {
        inChannels: channels,
        numClasses: train.classes.length,
        inputSize,
        seed: flags.seed,
        init: flags.init,
      });
      const optimizer =
        flags.optimizer === 'adam'
          ? new Adam({ weightDecay: flags.weightDecay })
          : new Sgd({ momentum: flags.momentum, weightDecay: flags.weightDecay });
      io.err(
        `training ${flags.model} on ${flags.dataset} (${trainSet.length} train / ` +
          `${validSet.length} test images at ${inputSize}x${inputSize}), ${flags.epochs} epoch(s)`,
      );
      const interactive = Boolean(process.stderr.isTTY) && !flags.json;
      await mkdir(flags.out, { recursive: true });
      const base = path.join(flags.out, `${flags.dataset}_${flags.model}`);
      const run = Object.fromEntries(RUN_IDENTITY.map((k) => [k, k === 'imageSize' ? inputSize : (flags[k] ?? null)]));
      const card: ModelCard = {
        model: flags.model,
        inputSize,
        inChannels: channels,
        classes: train.classes,
        mean,
        std,
      };
      // Two files per epoch, each written atomically: the training state is complete on its own, so a crash at any
      // moment leaves a consistent state to resume from; the weights (with their card) are for users.
      const writeWeights = (epoch: number) =>
        writeAtomically(`${base}.safetensors`, encodeWeights(model, { card, epoch }));
      const resume = flags.resume ? await loadCheckpoint(base, model, run) : undefined;
      if (resume) io.err(`resuming after epoch ${resume.epoch} of ${flags.epochs}`);
      const { history, evaluation: final } = await fit(model, {
        train: trainLoader,
        valid: validLoader,
        epochs: flags.epochs,
        optimizer,
        schedule: scheduleByName(flags.schedule, flags.lr, trainLoader.length * flags.epochs),
        labelSmoothing: flags.labelSmoothing,
        resume,
        onCheckpoint: async (training) => {
          await writeAtomically(`${base}.train.safetensors`, encodeTrainingState(model, training, run));
          await writeWeights(training.epoch);
          await writeCurves(flags.out, training.history);
        },
        onBatch: flags.json ? (e) => jsonLine(io, 'batch', e) : progress(io, interactive),
        onEpoch: (e) => {
          if (flags.json) return jsonLine(io, 'epoch', e);
          if (interactive) process.stderr.write(CLEAR_LINE);
          io.out(epochLine(e));
        },
      });
      if (!final) throw new Error('fit returned no evaluation of the test set');
      if (!flags.json)
        io.out(
          `test accuracy ${(final.accuracy * 100).toFixed(2)}% (loss ${final.loss.toFixed(4)}); per class: ` +
            `${final.perClassAccuracy.map((a, i) => `${train.classes[i]} ${percent(a, 1)}`).join(', ')}`,
        );

      // Every trained epoch wrote its weights and curves. A run resumed with nothing left to train (after a crash
      // between the last epoch's two renames) writes them here, from the training state it resumed.
      if (history.trainLoss.length === (resume?.epoch ?? 0)) {
        await writeWeights(history.trainLoss.length);
        await writeCurves(flags.out, history);
      }
      await writeAtomically(
        path.join(flags.out, 'history.json'),
        `${JSON.stringify(
          {
            model: flags.model,
            dataset: flags.dataset,
            backend: info.name,
            ...history,
            test: {
              loss: final.loss,
              accuracy: final.accuracy,
              perClassAccuracy: final.perClassAccuracy,
              confusion: final.confusion,
            },
          },
          null,
          2,
        )}\n`,
      );
      const files = [`${base}.safetensors`, path.join(flags.out, 'history.json')];
      if (flags.json) jsonLine(io, 'done', { test: final, files });
      io.err(
        `wrote ${files.join(', ')} and the curves ` +
          `${['accuracy', 'loss'].map((n) => path.join(flags.out, `${n}.svg|png`)).join(', ')}`,
      );
      optimizer.dispose();
      model.dispose();
    });
}
