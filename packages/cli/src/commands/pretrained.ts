/** `convnets weights get`: a net's published weights into the cache, once, checked, with where they came from. */
import { getModelInfo, listModels } from '@convnets/architectures';
import { Command } from 'commander';
import type { Io } from '../io.js';
import { getPretrained } from '../weights.js';

export function weightsCommand(io: Io): Command {
  const get = new Command('get')
    .description(
      "download a net's published weights (torchvision's ImageNet ones) into the cache once, checked against the " +
        'SHA-256 prefix in their file name; then `--weights <net>` names them on every command',
    )
    .argument(
      '<model>',
      `one of: ${listModels()
        .filter((m) => getModelInfo(m).pretrained)
        .join(', ')}`,
    )
    .option('--url <url>', 'fetch them from here instead (a mirror): a file named <name>-<SHA-256 prefix>.<ext>')
    .option('--json', 'print one JSON object {model, file, url, sha256, source, license, downloaded}')
    .action(async (model: string, flags: { url?: string; json?: boolean }) => {
      const published = getModelInfo(model).pretrained; // an unknown name fails naming the known ones
      if (published && !flags.json) io.err(`${model}: ${flags.url ?? published.url}`);
      const { record, downloaded } = await getPretrained(model, { url: flags.url });
      if (flags.json) return io.out(JSON.stringify({ ...record, downloaded }));
      io.out(
        [
          `${downloaded ? 'downloaded' : 'already in the cache'}: ${record.file}`,
          `sha256: ${record.sha256}`,
          `source: ${record.source}`,
          `license: ${record.license}`,
          `use: --weights ${model}`,
        ].join('\n'),
      );
    });
  return new Command('weights').description("published weights: torchvision's ImageNet nets").addCommand(get);
}
