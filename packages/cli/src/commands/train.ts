import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type BackendInfo,
  type BackendRequest,
  type DeviceLostError,
  initBackend,
  throwIfDeviceLost,
} from '@convnets/backend';
import type { ImageDataset } from '@convnets/datasets';
import type { Module } from '@convnets/nn';
import {
  CheckpointError,
  encodeTrainingState,
  encodeWeights,
  fit,
  restoreTrainingState,
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
import { recipeData, recipeOptions, recipeTraining, type RecipeFlags } from '../recipe.js';

interface TrainFlags extends RecipeFlags, FineTuneFlags {
  model: string;
  backend: BackendRequest;
  out: string;
  resume?: boolean;
  json?: boolean;
  inChannels?: number;
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

export function trainCommand(io: Io): Command {
  const command = imageSizeOption(new Command('train'), "resize images to n x n (default: the dataset's own size)");
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
    )
    .action(async (flags: TrainFlags) => {
      const info = await initBackend(flags.backend);
      io.err(`backend: ${info.label}`);
      const native = info.skipped.find((s) => s.backend === 'native');
      if (native) io.err(`(no native kernels: ${native.reason})`);
      const start = await readStart(flags, command.getOptionValueSource('model') !== 'default');
      let fineTune: Awaited<ReturnType<typeof prepare>> | undefined;
      let built: Built | undefined;
      try {
        const channels = start?.card.inChannels ?? flags.inChannels;
        const { train, test } = await loadDataset(flags.dataset, { ...flags, inChannels: channels });
        if (start && train.imageShape[2] !== start.card.inChannels)
          throw new Error(
            `--from: ${flags.from} takes ${start.card.inChannels}-channel images; ` +
              `${flags.dataset} has ${train.imageShape[2]}-channel images`,
          );
        const data = recipeData(
          train,
          test,
          { ...flags, imageSize: start?.card.inputSize ?? flags.imageSize },
          start?.card,
        );
        if (start) {
          fineTune = await prepare(start, train.classes, flags);
          for (const line of fineTune.report) io.err(line);
          const totalSteps = data.trainLoader.length * flags.epochs;
          built = { model: fineTune.model, ...recipeOptimizer(flags, totalSteps, fineTune.groups) };
        } else built = recipeTraining(flags.model, data, train.classes.length, flags);
        await run(flags, start?.card.model ?? flags.model, info, train, data, built, fineTune?.fineTunedFrom);
      } finally {
        start?.dispose();
        built?.model.dispose();
        built?.optimizer.dispose();
      }
    });

  /** Trains `name` (a registered net) as built, writing its checkpoints, weights, curves and history. */
  async function run(
    flags: TrainFlags,
    name: string,
    info: BackendInfo,
    train: ImageDataset,
    data: ReturnType<typeof recipeData>,
    { model, optimizer, schedule }: Built,
    fineTunedFrom?: ModelCard['fineTunedFrom'],
  ) {
    const { trainSet, validSet, inputSize, channels, mean, std, trainLoader, validLoader } = data;
    io.err(
      `training ${name} on ${flags.dataset} (${trainSet.length} train / ` +
        `${validSet.length} test images at ${inputSize}x${inputSize}), ${flags.epochs} epoch(s)`,
    );
    const interactive = Boolean(process.stderr.isTTY) && !flags.json;
    await mkdir(flags.out, { recursive: true });
    const base = path.join(flags.out, `${flags.dataset}_${name}`);
    const run = Object.fromEntries(
      RUN_IDENTITY.map((k) => [k, k === 'imageSize' ? inputSize : k === 'model' ? name : (flags[k] ?? null)]),
    );
    const card: ModelCard = {
      model: name,
      inputSize,
      inChannels: channels,
      classes: train.classes,
      mean,
      std,
      ...(fineTunedFrom ? { fineTunedFrom } : {}),
    };
    // Two files per epoch, each written atomically: the training state is complete on its own, so a crash at any
    // moment leaves a consistent state to resume from; the weights (with their card) are for users.
    const writeWeights = async (epoch: number) =>
      writeAtomically(`${base}.safetensors`, await encodeWeights(model, { card, epoch }));
    const resume = flags.resume ? await loadCheckpoint(base, model, run) : undefined;
    if (resume) io.err(`resuming after epoch ${resume.epoch} of ${flags.epochs}`);
    let checkpointed = resume?.epoch ?? 0;
    const { history, evaluation: final } = await fit(model, {
      train: trainLoader,
      valid: validLoader,
      epochs: flags.epochs,
      optimizer,
      schedule,
      labelSmoothing: flags.labelSmoothing,
      resume,
      onCheckpoint: async (training) => {
        await writeAtomically(`${base}.train.safetensors`, await encodeTrainingState(model, training, run));
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
          model: name,
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
  }
}
