/**
 * `convnets plot`: the notebook's pictures as SVG/PNG files (training curves, sample grid, channel heatmap), and
 * what trained weights compute inside (activation maps by layer, Grad-CAM).
 */
import { initBackend, type BackendRequest } from '@convnets/backend';
import { startBackend } from '../backend.js';
import { DataLoader, sampleAsBatch, toTensor } from '@convnets/datasets';
import { forwardWithOutputs, gradCam, type Module } from '@convnets/nn';
import {
  channelHeatmapChart,
  featureMapsChart,
  gradCamChart,
  imageGridChart,
  type HistoryLike,
  type PixelArray,
} from '@convnets/plots';
import { writeChart, writeCurves } from '@convnets/plots/node';
import * as tf from '@tensorflow/tfjs-core';
import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Io } from '../io.js';
import { nonNegativeInt, positiveInt } from '../io.js';
import {
  DATASET_DOWNLOAD_HELP,
  DATASET_ROOT_HELP,
  backendOption,
  datasetOption,
  imageSizeOption,
  loadDataset,
  weightsModelOption,
  type DatasetName,
  checkpointOption,
} from '../options.js';
import { trainedNetAndTestSet, type TrainedNetFlags } from '../weights.js';

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
        const images = { data: await x.data(), shape: x.shape }; // read once, asynchronously (GPU backends)
        await mkdir(flags.out, { recursive: true });
        const written = await writeChart(
          imageGridChart(images, { labels, classes: set.classes, columns: flags.columns }),
          path.join(flags.out, 'samples'),
          flags.format,
        );
        if (flags.channels !== undefined)
          written.push(
            ...(await writeChart(
              channelHeatmapChart(images, { index: flags.channels, crop: flags.crop }),
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
    .description("the notebook's pictures as SVG/PNG files, and what trained weights compute inside")
    .addCommand(history)
    .addCommand(samples)
    .addCommand(insideCommand(io, 'features'))
    .addCommand(insideCommand(io, 'gradcam'));
}

interface InsideFlags extends TrainedNetFlags {
  sample: number;
  layer?: string;
  backend: BackendRequest;
  out: string;
  format: Format[];
}

/** Test sample k through trained weights: the model, the image as stored, and the batch of one it is fed as. */
async function sampleThroughNet(io: Io, flags: InsideFlags) {
  await startBackend(io, flags.backend);
  const net = await trainedNetAndTestSet(flags);
  if (flags.sample >= net.test.length) {
    net.model.dispose();
    throw new Error(`--sample ${flags.sample}: the test split has samples 0..${net.test.length - 1}`);
  }
  const { image, label } = net.test.get(flags.sample);
  const x = sampleAsBatch(net.test, flags.sample, net.transform);
  return { ...net, x, image: { data: image, shape: [...net.test.imageShape] }, label };
}

/** `plot features` (activation maps, one picture per layer) and `plot gradcam` (the class evidence over the image). */
function insideCommand(io: Io, kind: 'features' | 'gradcam'): Command {
  const description =
    kind === 'features'
      ? "draw a test sample's activation maps at --layer (default: one picture per top-level layer, the " +
        "notebook's shape trace as pictures): features-<layer>.svg|png"
      : 'draw Grad-CAM over a test sample: where the evidence for the predicted class (and the true one, when ' +
        'they differ) comes from, at --layer (default: the last convolutional stage): gradcam.svg|png';
  return checkpointOption(
    imageSizeOption(new Command(kind), "input size (default: the weights' card)"),
    'weights written by `convnets train` (or PyTorch-named safetensors)',
  )
    .description(description)
    .addOption(weightsModelOption())
    .addOption(datasetOption())
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .option('--sample <k>', 'which test sample', nonNegativeInt, 0)
    .option('--layer <path>', "a module's dotted path, as `convnets summary --depth 3` lists them (e.g. 1.0.conv1)")
    .addOption(backendOption())
    .option('--out <dir>', 'output folder', 'result')
    .addOption(formatOption())
    .action(async (flags: InsideFlags) => {
      const run = await sampleThroughNet(io, flags);
      try {
        await mkdir(flags.out, { recursive: true });
        const written =
          kind === 'features' ? await drawFeatures(run.model, run.x, run.image, flags) : await drawGradCam(run, flags);
        io.err(`wrote ${written.join(', ')}`);
      } finally {
        run.x.dispose();
        run.model.dispose();
      }
    });
}

async function drawFeatures(model: Module, x: tf.Tensor, image: PixelArray, flags: InsideFlags): Promise<string[]> {
  const paths = flags.layer ? [flags.layer] : [...model.namedChildren()].map(([name]) => name);
  const { logits, outputs } = forwardWithOutputs(model, x, paths);
  const written: string[] = [];
  try {
    for (const [layer, output] of outputs) {
      // A flattened vector, the logits, or a pooled 1x1 map: nothing to draw as a picture.
      if (output.rank !== 4 || output.shape[1]! * output.shape[2]! <= 1) continue;
      const title = `layer ${layer}, output [${output.shape.join(', ')}] (NHWC)`;
      const spec = featureMapsChart({ data: await output.data(), shape: output.shape }, { input: image, title });
      written.push(...(await writeChart(spec, path.join(flags.out, `features-${layer}`), flags.format)));
    }
  } finally {
    tf.dispose([logits, ...outputs.values()]);
  }
  if (!written.length) throw new Error(`--layer ${flags.layer}: its output is not a feature map (NHWC, over 1x1)`);
  return written;
}

async function drawGradCam(run: Awaited<ReturnType<typeof sampleThroughNet>>, flags: InsideFlags): Promise<string[]> {
  const { model, x, image, label, test } = run;
  const [h, w] = image.shape as [number, number, number];
  const cams = [await gradCam(model, x, { layer: flags.layer })];
  if (cams[0]!.predicted !== label) cams.push(await gradCam(model, x, { layer: cams[0]!.layer, classIndex: label }));
  try {
    // The map is at the net's input size; the picture shows the image as stored.
    const panels = [];
    for (const cam of cams) {
      const resized = tf.tidy(() =>
        tf.image.resizeBilinear(tf.expandDims(cam.map, 2) as tf.Tensor3D, [h, w], false, true),
      );
      const title =
        `${cam.classIndex === cam.predicted ? 'predicted' : 'true'}: ` +
        `${test.classes[cam.classIndex]} (p ${cam.probability.toFixed(3)})`;
      panels.push({ map: await resized.data().finally(() => resized.dispose()), title });
    }
    const title = `Grad-CAM at layer ${cams[0]!.layer}: test sample ${flags.sample}, true class ${test.classes[label]}`;
    return await writeChart(gradCamChart(image, panels, { title }), path.join(flags.out, 'gradcam'), flags.format);
  } finally {
    tf.dispose(cams.map((c) => c.map));
  }
}
