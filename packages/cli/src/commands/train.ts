import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type BackendInfo, type BackendRequest, type DeviceLostError, throwIfDeviceLost } from '@convnets/backend';
import type { ImageDataset } from '@convnets/datasets';
import { startBackend } from '../backend.js';
import type { Module } from '@convnets/nn';
import {
  CheckpointError,
  encodeTrainingState,
  encodeWeights,
  restoreTrainingState,
  runFileBase,
  type BatchEvent,
  type EpochEvent,
  type ModelCard,
  type RunSettings,
  type SavedTraining,
  recipeOptimizer,
} from '@convnets/trainer';
import { Command, InvalidArgumentError, Option } from 'commander';
import { percent, positiveNumber, type Io } from '../io.js';
import { writeCurves } from '@convnets/plots/node';
import { writeAtomically } from '@convnets/trainer/node';
import { backendOption, imageSizeOption, loadDataset, modelOption } from '../options.js';
import { type FineTuneFlags, prepare, readStart } from '../finetune.js';
import { fitRecipe, recipeData, recipeOptions, recipeTraining, type RecipeFlags } from '../recipe.js';

export interface TrainFlags extends RecipeFlags, FineTuneFlags {
  model: string;
  backend: BackendRequest;
  out: string;
  resume?: boolean;
  json?: boolean;
  inChannels?: number;
  /** The normalisation (per channel), where not the training set's own (`convnets notebook`: the notebook's 0.5). */
  stats?: { mean: readonly number[]; std: readonly number[] };
}

/** A net to train with its optimizer and learning-rate schedule. */
type Built = { model: Module } & ReturnType<typeof recipeOptimizer>;

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
  'augment',
  'from',
  'freeze',
  'headLr',
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

/** train's own options, beside the recipe's (recipe.ts) and the input size. */
function trainOptions(command: Command): Command {
  return recipeOptions(command)
    .description(
      "train a notebook net on a dataset (the notebook's train_model): progress, per-epoch lines, weights and history",
    )
    .addOption(modelOption('resnet18'))
    .addOption(backendOption())
    .option('--out <dir>', 'output folder', 'result')
    .option('--resume', 'continue the run whose checkpoint is in --out (same options; --epochs is the new total)')
    .option(
      '--json',
      'print one JSON object per line for every batch, epoch and the end, instead of the notebook lines',
    )
    .option('--from <weights>', 'fine-tune these trained weights (their card gives the net and its input)')
    .option(
      '--freeze <paths>',
      "with --from: keep these layers as they are: 'features' (all but the classifier) or dotted paths, comma-separated",
    )
    .option(
      '--head-lr <x>',
      "with --from: the classifier's peak learning rate (the rest learns at --lr)",
      positiveNumber,
    )
    .addOption(
      new Option('--in-channels <n>', 'folder images as grey (1) or RGB (3; default); --from uses its own').argParser(
        (v) => {
          if (v !== '1' && v !== '3') throw new InvalidArgumentError('Expected 1 (grey) or 3 (RGB).');
          return Number(v);
        },
      ),
    );
}

export function trainCommand(io: Io): Command {
  const command = trainOptions(
    imageSizeOption(new Command('train'), "resize images to n x n (default: the dataset's own size)"),
  );
  return command.action(async (flags: TrainFlags) => {
    const info = await startTrainingBackend(io, flags.backend);
    await trainOnce(io, flags, info, command.getOptionValueSource('model') !== 'default');
  });
}

/** Starts `backend` and says which it is (and, without them, why there are no native kernels). */
export async function startTrainingBackend(io: Io, backend: BackendRequest): Promise<BackendInfo> {
  const info = await startBackend(io, backend);
  io.err(`backend: ${info.label}`);
  const native = info.skipped.find((s) => s.backend === 'native');
  if (native) io.err(`(no native kernels: ${native.reason})`);
  return info;
}

/**
 * One training run on the started backend, its files in `flags.out`: what `convnets train` does, and `convnets
 * notebook` for each experiment. `modelChosen`: --model was given (with --from, it must agree with the weights).
 */
export async function trainOnce(io: Io, flags: TrainFlags, info: BackendInfo, modelChosen = true): Promise<void> {
  const start = await readStart(flags, modelChosen);
  let run: Run | undefined;
  try {
    run = await prepareRun(io, flags, start);
    await train(io, flags, info, run);
  } finally {
    start?.dispose();
    run?.model.dispose();
    run?.optimizer.dispose();
  }
}

/** What a run trains: the net (registered as `name`) with its optimizer and schedule, on its data. */
type Run = Built & {
  name: string;
  train: ImageDataset;
  data: ReturnType<typeof recipeData>;
  fineTunedFrom?: ModelCard['fineTunedFrom'];
};

/** The data and the net (a new one, or `start`'s for fine-tuning) with its optimizer. */
async function prepareRun(io: Io, flags: TrainFlags, start: Awaited<ReturnType<typeof readStart>>): Promise<Run> {
  const channels = start?.card.inChannels ?? flags.inChannels;
  const imageSize = start?.card.inputSize ?? flags.imageSize;
  // A folder's pictures may have any size: they load at the net's (which also saves resizing every batch).
  const folderSize = flags.dataset === 'folder' ? imageSize : undefined;
  const { train, test } = await loadDataset(flags.dataset, { ...flags, inChannels: channels, imageSize: folderSize });
  if (start && train.imageShape[2] !== start.card.inChannels)
    throw new Error(
      `--from: ${flags.from} takes ${start.card.inChannels}-channel images; ` +
        `${flags.dataset} has ${train.imageShape[2]}-channel images`,
    );
  const data = recipeData(train, test, { ...flags, imageSize }, start?.card ?? flags.stats);
  if (!start) {
    return { name: flags.model, train, data, ...recipeTraining(flags.model, data, train.classes.length, flags) };
  }
  const fineTune = await prepare(start, train.classes, flags);
  for (const line of fineTune.report) io.err(line);
  const totalSteps = data.trainLoader.length * flags.epochs;
  const optimizer = recipeOptimizer(flags, totalSteps, fineTune.groups);
  const { fineTunedFrom } = fineTune;
  return { name: start.card.model, train, data, model: fineTune.model, ...optimizer, fineTunedFrom };
}

/** Trains the run, writing its checkpoints, weights, curves and history. */
async function train(io: Io, flags: TrainFlags, info: BackendInfo, run: Run): Promise<void> {
  const { name, data, model } = run;
  const { trainSet, validSet, inputSize, channels, mean, std } = data;
  io.err(
    `training ${name} on ${flags.dataset} (${trainSet.length} train / ` +
      `${validSet.length} test images at ${inputSize}x${inputSize}), ${flags.epochs} epoch(s)`,
  );
  await mkdir(flags.out, { recursive: true });
  const base = path.join(flags.out, runFileBase(flags.dataset, name));
  const settings = Object.fromEntries(
    RUN_IDENTITY.map((k) => [k, k === 'imageSize' ? inputSize : k === 'model' ? name : (flags[k] ?? null)]),
  );
  const classes = run.train.classes;
  const card: ModelCard = { model: name, inputSize, inChannels: channels, classes, mean, std };
  if (run.fineTunedFrom) card.fineTunedFrom = run.fineTunedFrom;
  // Two files per epoch, each written atomically: the training state is complete on its own, so a crash at any
  // moment leaves a consistent state to resume from; the weights (with their card) are for users.
  const writeWeights = async (epoch: number) =>
    writeAtomically(`${base}.safetensors`, await encodeWeights(model, { card, epoch }));
  const resume = flags.resume ? await loadCheckpoint(base, model, settings) : undefined;
  if (resume) io.err(`resuming after epoch ${resume.epoch} of ${flags.epochs}`);
  const { history, evaluation: final } = await fitWithCheckpoints(io, flags, run, {
    base,
    settings,
    resume,
    writeWeights,
  });
  if (!final) throw new Error('fit returned no evaluation of the test set');
  if (!flags.json)
    io.out(
      `test accuracy ${(final.accuracy * 100).toFixed(2)}% (loss ${final.loss.toFixed(4)}); per class: ` +
        `${final.perClassAccuracy.map((a, i) => `${classes[i]} ${percent(a, 1)}`).join(', ')}`,
    );

  // Every trained epoch wrote its weights and curves. A run resumed with nothing left to train (after a crash
  // between the last epoch's two renames) writes them here, from the training state it resumed.
  if (history.trainLoss.length === (resume?.epoch ?? 0)) {
    await writeWeights(history.trainLoss.length);
    await writeCurves(flags.out, history);
  }
  const { loss, accuracy, perClassAccuracy, confusion } = final;
  const images = { trainImages: data.trainSet.length, testImages: data.validSet.length };
  const record = { model: name, dataset: flags.dataset, backend: info.name, ...images, ...history };
  const test = { loss, accuracy, perClassAccuracy, confusion };
  await writeAtomically(path.join(flags.out, 'history.json'), `${JSON.stringify({ ...record, test }, null, 2)}\n`);
  const files = [`${base}.safetensors`, path.join(flags.out, 'history.json')];
  if (flags.json) jsonLine(io, 'done', { test: final, files });
  io.err(
    `wrote ${files.join(', ')} and the curves ` +
      `${['accuracy', 'loss'].map((n) => path.join(flags.out, `${n}.svg|png`)).join(', ')}`,
  );
}

interface Checkpoints {
  /** The path of the run's files without their endings. */
  base: string;
  settings: RunSettings;
  resume?: SavedTraining;
  writeWeights: (epoch: number) => Promise<void>;
}

/** `fit` with a checkpoint after every epoch, the progress and epoch lines, and a lost GPU said as such. */
async function fitWithCheckpoints(io: Io, flags: TrainFlags, run: Run, checkpoints: Checkpoints) {
  const { base, settings, resume, writeWeights } = checkpoints;
  const { model, optimizer, schedule, data } = run;
  const interactive = Boolean(process.stderr.isTTY) && !flags.json;
  let checkpointed = resume?.epoch ?? 0;
  return fitRecipe(model, data, { optimizer, schedule }, flags, {
    resume,
    onCheckpoint: async (training) => {
      await writeAtomically(`${base}.train.safetensors`, await encodeTrainingState(model, training, settings));
      await writeWeights(training.epoch);
      await writeCurves(flags.out, training.history);
      checkpointed = training.epoch;
    },
    onBatch: flags.json ? (e) => jsonLine(io, 'batch', e) : progress(io, interactive),
    onEpoch: (e) => {
      if (flags.json) return jsonLine(io, 'epoch', e);
      if (interactive) process.stderr.write(CLEAR_LINE);
      io.out(epochLine(e));
    },
  }).catch(async (err: unknown) => {
    await throwIfDeviceLost(err).catch((lost: DeviceLostError) => {
      lost.message =
        `${lost.message} during epoch ${checkpointed + 1}. ` +
        (checkpointed
          ? `The checkpoint after epoch ${checkpointed} is intact (${base}.train.safetensors): continue on another ` +
            `backend with the same options plus --resume --backend native (or wasm, cpu)`
          : 'No epoch had finished, so there is no checkpoint yet');
      throw lost;
    });
    throw err;
  });
}
