/**
 * `convnets compare`: the notebook's point — the nets trained with one recipe on the same data, side by side:
 * parameters, forward FLOPs, training images/s, wall time and test accuracy, as a table, JSON and a chart.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { listModels } from '@convnets/architectures';
import type { BackendRequest } from '@convnets/backend';
import { startBackend } from '../backend.js';
import { ModelShapeError, summary } from '@convnets/nn';
import { compareChart } from '@convnets/plots';
import { writeChart } from '@convnets/plots/node';
import { writeAtomically } from '@convnets/trainer/node';
import { Command, InvalidArgumentError } from 'commander';
import type { Io } from '../io.js';
import { backendOption, imageSizeOption, loadDataset } from '../options.js';
import { fitRecipe, recipeData, recipeOptions, recipeTraining, type RecipeFlags } from '../recipe.js';

const NOTEBOOK_NETS = ['alexnet', 'vgg11-small', 'nin', 'googlenet', 'resnet18', 'densenet'];

/** `--models a,b,c`: names from the registry, each once. */
function modelList(value: string): string[] {
  const names = value.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !listModels().includes(n));
  if (unknown.length || !names.length)
    throw new InvalidArgumentError(`Unknown model ${unknown.join(', ')}: expected some of ${listModels().join(', ')}.`);
  return [...new Set(names)];
}

interface CompareFlags extends RecipeFlags {
  models: string[];
  backend: BackendRequest;
  out: string;
  json?: boolean;
}

type Row =
  | {
      model: string;
      params: number;
      flops: number;
      imagesPerSec: number;
      seconds: number;
      accuracy: number;
      loss: number;
    }
  | { model: string; skipped: string; reason: string };

const table = (rows: Row[]) => {
  const lines = rows.map((r) =>
    'skipped' in r
      ? `${r.model.padEnd(12)} skipped: ${r.skipped}`
      : `${r.model.padEnd(12)} ${r.params.toLocaleString('en-US').padStart(11)} ` +
        `${(r.flops / 1e6).toFixed(1).padStart(10)} ${r.imagesPerSec.toFixed(1).padStart(10)} ` +
        `${r.seconds.toFixed(1).padStart(9)} ${(r.accuracy * 100).toFixed(2).padStart(8)}%`,
  );
  return [
    `${'model'.padEnd(12)} ${'params'.padStart(11)} ${'MFLOPs'.padStart(10)} ${'img/s'.padStart(10)} ` +
      `${'time (s)'.padStart(9)} ${'test acc'.padStart(9)}`,
    ...lines,
  ].join('\n');
};

export function compareCommand(io: Io): Command {
  const command = imageSizeOption(new Command('compare'), "input size for every net (default: the dataset's own)");
  return recipeOptions(command)
    .description(
      'train several nets with the same recipe and data and compare them: parameters, forward FLOPs, training ' +
        'images/s, wall time, test accuracy (a table, DIR/compare.json and the chart DIR/compare.svg|png)',
    )
    .option('--models <list>', `comma-separated (default: ${NOTEBOOK_NETS.join(',')})`, modelList, NOTEBOOK_NETS)
    .addOption(backendOption())
    .option('--out <dir>', 'output folder', 'result')
    .option('--json', 'print the comparison as one JSON object')
    .action(async (flags: CompareFlags) => {
      const info = await startBackend(io, flags.backend);
      io.err(`backend: ${info.label}`);
      const { train, test } = await loadDataset(flags.dataset, flags);
      const data = recipeData(train, test, flags);
      const rows: Row[] = [];
      for (const name of flags.models) {
        let built: ReturnType<typeof recipeTraining>;
        try {
          built = recipeTraining(name, data, train.classes.length, flags);
        } catch (err) {
          if (!(err instanceof ModelShapeError)) throw err;
          // A net whose pooling outruns a small image: say so and go on with the others.
          const skipped = `cannot take ${data.inputSize}x${data.inputSize} input`;
          rows.push({ model: name, skipped, reason: err.message });
          io.err(`${name}: skipped, ${data.inputSize}x${data.inputSize} is too small for it`);
          continue;
        }
        const { model, optimizer, schedule } = built;
        const shape = summary(model, [1, data.inputSize, data.inputSize, data.channels]);
        io.err(`${name}: training ${flags.epochs} epoch(s) on ${data.trainSet.length} images`);
        const started = performance.now();
        const { history, evaluation } = await fitRecipe(model, data, { optimizer, schedule }, flags);
        const seconds = (performance.now() - started) / 1000;
        const imagesPerSec = history.imagesPerSec.reduce((a, b) => a + b, 0) / history.imagesPerSec.length;
        rows.push({
          model: name,
          params: shape.params,
          flops: shape.flops,
          imagesPerSec,
          seconds,
          accuracy: evaluation!.accuracy,
          loss: evaluation!.loss,
        });
        optimizer.dispose();
        model.dispose();
      }
      const result = {
        dataset: flags.dataset,
        backend: info.name,
        inputSize: data.inputSize,
        epochs: flags.epochs,
        trainImages: data.trainSet.length,
        testImages: data.validSet.length,
        nets: rows,
      };
      await mkdir(flags.out, { recursive: true });
      await writeAtomically(path.join(flags.out, 'compare.json'), `${JSON.stringify(result, null, 2)}\n`);
      const trained = rows.filter((r): r is Exclude<Row, { skipped: string }> => !('skipped' in r));
      const written = trained.length
        ? await writeChart(
            compareChart(trained, {
              title: `Test accuracy vs. training time: ${flags.dataset}, ${flags.epochs} epoch(s)`,
            }),
            path.join(flags.out, 'compare'),
          )
        : [];
      io.err(`wrote ${[path.join(flags.out, 'compare.json'), ...written].join(', ')}`);
      io.out(flags.json ? JSON.stringify(result) : table(rows));
    });
}
