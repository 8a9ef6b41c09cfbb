import type { ImageDataset } from '@convnets/datasets';
import { Command, Option } from 'commander';
import type { Io } from '../io.js';
import {
  DATASET_DOWNLOAD_HELP,
  DATASET_ROOT_HELP,
  DATASETS,
  type DatasetName,
  type DatasetSource,
  loadDataset,
} from '../options.js';

function describeSplit(split: ImageDataset) {
  const { mean, std } = split.channelStats();
  return { size: split.length, imageShape: [...split.imageShape], mean, std };
}

export function dataCommand(io: Io): Command {
  const inspect = new Command('inspect')
    .description('print split sizes, image shape, class names and per-channel mean/std of a dataset')
    .addArgument(new Command().createArgument('<dataset>', 'which dataset').choices(DATASETS))
    .option('--root <path>', DATASET_ROOT_HELP)
    .option('--download', DATASET_DOWNLOAD_HELP)
    .addOption(new Option('--json', 'print one JSON object'))
    .action(async (name: DatasetName, flags: DatasetSource & { json?: boolean }) => {
      const { train, test } = await loadDataset(name, flags);
      const report = {
        dataset: name,
        source: train.source.replace(/ \(train\)$/, ''),
        classes: [...train.classes],
        train: describeSplit(train),
        test: describeSplit(test),
      };
      if (flags.json) return io.out(JSON.stringify(report));
      const fmt = (v: number[]) => `[${v.map((x) => x.toFixed(4)).join(', ')}]`;
      io.out(
        [
          `${name} from ${report.source}`,
          `classes (${report.classes.length}): ${report.classes.join(', ')}`,
          ...(['train', 'test'] as const).map(
            (s) =>
              `${s.padEnd(5)} ${String(report[s].size).padStart(6)} images of ` +
              `${report[s].imageShape.join('x')} (HWC), mean ${fmt(report[s].mean)}, std ${fmt(report[s].std)}`,
          ),
        ].join('\n'),
      );
    });
  return new Command('data').description('inspect datasets').addCommand(inspect);
}
