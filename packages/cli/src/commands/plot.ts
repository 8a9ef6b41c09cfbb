/** `convnets plot`: the notebook's pictures as SVG/PNG files (training curves, sample grid, channel heatmap). */
import { initBackend } from '@convnets/backend';
import { DataLoader, toTensor } from '@convnets/datasets';
import { channelHeatmapChart, imageGridChart, type HistoryLike } from '@convnets/plots';
import { writeChart, writeCurves } from '@convnets/plots/node';
import * as tf from '@tensorflow/tfjs-core';
import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Io } from '../io.js';
import { nonNegativeInt, positiveInt } from '../io.js';
import { DATASET_DOWNLOAD_HELP, DATASET_ROOT_HELP, datasetOption, loadDataset, type DatasetName } from '../options.js';

type Format = 'svg' | 'png';

function formats(value: string): Format[] {
  const list = value.split(',').map((f) => f.trim());
  if (list.length === 0 || list.some((f) => f !== 'svg' && f !== 'png'))
    throw new InvalidArgumentError('Expected svg, png or svg,png.');
  return list as Format[];
}

const formatOption = () =>
  new Option('--format <list>', 'file formats: svg, png or svg,png')
    .argParser(formats)
    .default(['svg', 'png'], 'svg,png');

interface SamplesFlags {
  dataset: DatasetName;
  root?: string;
  download?: boolean;
  split: 'train' | 'test';
  count: number;
  columns: number;
  seed: number;
  channels?: number;
  crop: number;
  out: string;
  format: Format[];
}

export function plotCommand(io: Io): Command {
  const history = new Command('history')
    .description(
      'draw accuracy and loss vs. epoch (training and validation) from a history.json written by `convnets train`',
    )
    .argument('<history.json>', 'the history file')
    .option('--out <dir>', "output folder (default: the history file's folder)")
    .addOption(formatOption())
    .action(async (file: string, flags: { out?: string; format: Format[] }) => {
      const text = await readFile(file, 'utf8').catch(() => {
        throw new Error(`${file}: cannot be read`);
      });
      let parsed: HistoryLike;
      try {
        parsed = JSON.parse(text) as HistoryLike;
      } catch (err) {
        throw new Error(`${file}: is not JSON (${(err as Error).message})`);
      }
      const out = flags.out ?? path.dirname(file);
      await mkdir(out, { recursive: true });
      io.err(`wrote ${(await writeCurves(out, parsed, flags.format)).join(', ')}`);
    });

  const samples = new Command('samples')
    .description(
      "draw a grid of shuffled samples titled with their classes (the notebook's " +
        "6 x 10 figure); --channels K: sample K's channels as value heatmaps",
    )
    .addOption(datasetOption())
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .addOption(new Option('--split <name>', 'which split').choices(['train', 'test']).default('train'))
    .option('--count <n>', 'images in the grid', positiveInt, 60)
    .option('--columns <n>', 'columns of the grid', positiveInt, 10)
    .option('--seed <n>', 'seed of the shuffle', nonNegativeInt, 0)
    .option(
      '--channels <k>',
      'also draw sample k (of the grid) channel by channel, every value in its cell',
      nonNegativeInt,
    )
    .option('--crop <n>', 'heatmap: show the top-left n x n pixels', positiveInt, 32)
    .option('--out <dir>', 'output folder', 'result')
    .addOption(formatOption())
    .action(async (flags: SamplesFlags) => {
      await initBackend('cpu'); // only a gather and a cast: any backend will do
      const splits = await loadDataset(flags.dataset, flags);
      const set = splits[flags.split];
      if (flags.channels !== undefined && flags.channels >= Math.min(flags.count, set.length)) {
        throw new Error(
          `--channels ${flags.channels}: the grid has samples 0..${Math.min(flags.count, set.length) - 1}`,
        );
      }
      // The notebook shows the first batch of a shuffled loader, scaled to [0, 1] by ToTensor.
      const loader = new DataLoader(set, {
        batchSize: Math.min(flags.count, set.length),
        shuffle: true,
        seed: flags.seed,
        transform: toTensor(),
      });
      let first: { x: tf.Tensor; y: tf.Tensor } | undefined;
      for await (const batch of loader.batches(0)) {
        first = batch;
        break;
      }
      const { x, y } = first!;
      try {
        const labels = await y.data();
        await mkdir(flags.out, { recursive: true });
        const written = await writeChart(
          imageGridChart(x, { labels, classes: set.classes, columns: flags.columns }),
          path.join(flags.out, 'samples'),
          flags.format,
        );
        if (flags.channels !== undefined)
          written.push(
            ...(await writeChart(
              channelHeatmapChart(x, { index: flags.channels, crop: flags.crop }),
              path.join(flags.out, 'channels'),
              flags.format,
            )),
          );
        io.err(`wrote ${written.join(', ')}`);
      } finally {
        tf.dispose([x, y]);
      }
    });

  return new Command('plot')
    .description("the notebook's pictures as SVG/PNG files")
    .addCommand(history)
    .addCommand(samples);
}
