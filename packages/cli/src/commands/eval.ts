import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BackendRequest } from '@convnets/backend';
import { startBackend } from '../backend.js';
import { DataLoader } from '@convnets/datasets';
import { confusionMatrixChart } from '@convnets/plots';
import { writeChart } from '@convnets/plots/node';
import { evaluate } from '@convnets/trainer';
import { Command } from 'commander';
import { percent, positiveInt, type Io } from '../io.js';
import { trainedNetAndTestSet, type TrainedNetFlags } from '../weights.js';
import {
  DATASET_DOWNLOAD_HELP,
  DATASET_ROOT_HELP,
  datasetOption,
  backendOption,
  imageSizeOption,
  weightsModelOption,
  checkpointOption,
} from '../options.js';

interface EvalFlags extends TrainedNetFlags {
  batchSize: number;
  limit?: number;
  backend: BackendRequest;
  json?: boolean;
  out?: string;
}

export function evalCommand(io: Io): Command {
  return checkpointOption(
    imageSizeOption(
      new Command('eval'),
      "input size the weights were trained at (default: the weights' card, else the dataset's own size)",
    ),
    'weights written by `convnets train` (or any PyTorch-named safetensors)',
  )
    .description(
      'evaluate trained weights on a test set: loss, accuracy, per-class accuracy, confusion matrix. Weights from ' +
        '`convnets train` carry their net, input size, classes and normalisation, so only the test split is read',
    )
    .addOption(weightsModelOption())
    .addOption(datasetOption())
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .option('--batch-size <n>', 'images per batch', positiveInt, 500)
    .option('--limit <n>', 'evaluate n test images, a class-balanced subset (seed 0)', positiveInt)
    .addOption(backendOption())
    .option('--json', 'print one JSON object')
    .option('--out <dir>', "where to write confusion.svg and confusion.png (default: the checkpoint's folder)")
    .action(async (flags: EvalFlags) => {
      await startBackend(io, flags.backend);
      const { model, name, test, transform } = await trainedNetAndTestSet(flags);
      const set = flags.limit ? test.sample(flags.limit, 0) : test;
      const result = await evaluate(model, new DataLoader(set, { batchSize: flags.batchSize, transform }));
      model.dispose();
      const out = flags.out ?? path.dirname(flags.checkpoint);
      await mkdir(out, { recursive: true });
      const charts = await writeChart(
        confusionMatrixChart(result.confusion, test.classes, `Confusion matrix: ${name} on ${flags.dataset} test`),
        path.join(out, 'confusion'),
      );
      io.err(`wrote ${charts.join(', ')}`);
      if (flags.json)
        return io.out(JSON.stringify({ model: name, dataset: flags.dataset, images: set.length, ...result }));
      io.out(
        [
          `${name} on ${flags.dataset} test (${set.length} images): loss ` +
            `${result.loss.toFixed(4)}, accuracy ${(result.accuracy * 100).toFixed(2)}%`,
          ...result.perClassAccuracy.map((a, i) => `  ${test.classes[i]!.padEnd(12)} ${percent(a, 2)}`),
        ].join('\n'),
      );
    });
}
