import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createModel } from '@convnets/architectures';
import { initBackend, type BackendRequest } from '@convnets/backend';
import { DataLoader, compose, normalize, resize, toTensor, type ImageDataset } from '@convnets/datasets';
import { decodeSafetensors, encodeSafetensors, loadStateDict, stateDict } from '@convnets/nn';
import {
  Adam,
  SCHEDULES,
  Sgd,
  evaluate,
  fit,
  scheduleByName,
  type BatchEvent,
  type EpochEvent,
  type ScheduleName,
  type TrainingState,
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

/**
 * Two files per epoch, each written atomically (temp file + rename). The training state (`.train.safetensors`:
 * model state under `model.`, optimizer state under `optimizer.`, epoch/history/RNG in the metadata) is complete
 * on its own, so a crash at any moment leaves a consistent state to resume from; `.safetensors` holds only the
 * weights, in PyTorch's names and layouts, for users.
 */
async function saveCheckpoint(
  base: string,
  model: Parameters<typeof stateDict>[0],
  training: TrainingState,
  run: Record<string, unknown>,
): Promise<void> {
  const state = stateDict(model);
  try {
    const meta = { epoch: training.epoch, history: training.history, rng: training.rng, run };
    const tensors = new Map([
      ...[...state].map(([k, t]) => [`model.${k}`, t] as const),
      ...[...training.optimizer].map(([k, t]) => [`optimizer.${k}`, t] as const),
    ]);
    await writeAtomically(`${base}.train.safetensors`, encodeSafetensors(tensors, { convnets: JSON.stringify(meta) }));
    await writeAtomically(`${base}.safetensors`, weightsFile(state, training.epoch));
  } finally {
    tf.dispose([...state.values()]);
  }
}

/** The user-facing weights: PyTorch names and layouts, loadable by `model.load_state_dict`. */
function weightsFile(state: Map<string, tf.Tensor>, epoch: number): Uint8Array {
  return encodeSafetensors(state, { format: 'pt', epoch: String(epoch) });
}

async function loadCheckpoint(
  base: string,
  model: Parameters<typeof stateDict>[0],
  run: Record<string, unknown>,
): Promise<TrainingState> {
  const file = `${base}.train.safetensors`;
  const bytes = await readFile(file).catch(() => {
    throw new Error(`--resume: ${file} does not exist (train without --resume first, with the same --out)`);
  });
  const sidecar = decodeSafetensors(new Uint8Array(bytes), file);
  const meta = JSON.parse(sidecar.metadata.convnets ?? 'null') as {
    epoch: number;
    history: TrainingState['history'];
    rng: Record<string, number>;
    run: Record<string, unknown>;
  } | null;
  const part = (prefix: string) =>
    new Map([...sidecar.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  const weights = part('model.');
  const optimizer = part('optimizer.');
  try {
    if (!meta || weights.size === 0)
      throw new Error(`--resume: ${file} is not a convnets training state (no metadata or no model tensors)`);
    const differs = RUN_IDENTITY.filter((k) => JSON.stringify(meta.run[k]) !== JSON.stringify(run[k]));
    if (differs.length) {
      throw new Error(
        `--resume: the checkpoint was made with different ` +
          `${differs.map((k) => `${k} (${JSON.stringify(meta.run[k])}, now ${JSON.stringify(run[k])})`).join(', ')}`,
      );
    }
    loadStateDict(model, weights);
  } catch (err) {
    tf.dispose([...sidecar.tensors.values()]);
    throw err;
  }
  tf.dispose([...weights.values()]);
  return { epoch: meta.epoch, history: meta.history, rng: meta.rng, optimizer };
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

/** A progress bar on a terminal; elsewhere a line every tenth of an epoch. */
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
    if (interactive) process.stderr.write(`\r${text}`);
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
      const interactive = Boolean(process.stderr.isTTY);
      await mkdir(flags.out, { recursive: true });
      const base = path.join(flags.out, `${flags.dataset}_${flags.model}`);
      const run = Object.fromEntries(RUN_IDENTITY.map((k) => [k, k === 'imageSize' ? inputSize : (flags[k] ?? null)]));
      const resume = flags.resume ? await loadCheckpoint(base, model, run) : undefined;
      if (resume) io.err(`resuming after epoch ${resume.epoch} of ${flags.epochs}`);
      const history = await fit(model, {
        train: trainLoader,
        valid: validLoader,
        epochs: flags.epochs,
        optimizer,
        schedule: scheduleByName(flags.schedule, flags.lr, trainLoader.length * flags.epochs),
        labelSmoothing: flags.labelSmoothing,
        resume,
        onCheckpoint: async (training) => {
          await saveCheckpoint(base, model, training, run);
          await writeCurves(flags.out, training.history);
        },
        onBatch: progress(io, interactive),
        onEpoch: (e) => {
          if (interactive) process.stderr.write('\n');
          io.out(epochLine(e));
        },
      });
      if (resume) tf.dispose([...resume.optimizer.values()]);
      const final = await evaluate(model, validLoader);
      io.out(
        `test accuracy ${(final.accuracy * 100).toFixed(2)}% (loss ${final.loss.toFixed(4)}); per class: ` +
          `${final.perClassAccuracy.map((a, i) => `${train.classes[i]} ${percent(a, 1)}`).join(', ')}`,
      );

      // Every trained epoch wrote its weights and curves. A run resumed with nothing left to train (after a crash
      // between the last epoch's two renames) writes them here, from the training state it resumed.
      if (history.trainLoss.length === (resume?.epoch ?? 0)) {
        const state = stateDict(model);
        await writeAtomically(`${base}.safetensors`, weightsFile(state, history.trainLoss.length)).finally(() =>
          tf.dispose([...state.values()]),
        );
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
      io.err(
        `wrote ${base}.safetensors, ${path.join(flags.out, 'history.json')} and the curves ` +
          `${['accuracy', 'loss'].map((n) => path.join(flags.out, `${n}.svg|png`)).join(', ')}`,
      );
      optimizer.dispose();
      model.dispose();
    });
}
