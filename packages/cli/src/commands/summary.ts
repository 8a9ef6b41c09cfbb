import { initBackend } from '@convnets/backend';
import { createModel, getModelInfo, listModels } from '@convnets/architectures';
import { formatSummary, summary } from '@convnets/nn';
import { Command } from 'commander';
import { positiveInt, type Io } from '../io.js';
import { imageSizeOption } from '../options.js';

interface SummaryFlags {
  imageSize?: number;
  inChannels: number;
  numClasses?: number;
  depth: number;
  json?: boolean;
  tree?: boolean;
}

export function summaryCommand(io: Io): Command {
  return imageSizeOption(new Command('summary'), "input height and width (default: the notebook's size for the model)")
    .description("print a net's layer-by-layer output shapes (NHWC), parameters and FLOPs")
    .argument('<model>', `one of: ${listModels().join(', ')}`)
    .option('--in-channels <c>', 'input channels', positiveInt, 3)
    .option(
      '--num-classes <k>',
      "classes of the last layer (default: the net's, 10; torchvision's nets: 1000)",
      positiveInt,
    )
    .option('--depth <d>', 'how deep to list layers (1: top-level children)', positiveInt, 1)
    .option('--json', 'print one JSON object {model, input, params, flops, layers}')
    .option('--tree', 'also print the module tree as PyTorch prints it')
    .action(async (name: string, flags: SummaryFlags) => {
      await initBackend('cpu'); // weights are allocated but nothing is computed: any backend will do
      const inputSize = flags.imageSize ?? getModelInfo(name).defaultInputSize;
      const model = createModel(name, { inputSize, inChannels: flags.inChannels, numClasses: flags.numClasses });
      try {
        const s = summary(model, [1, inputSize, inputSize, flags.inChannels], { depth: flags.depth, name });
        if (flags.json) {
          io.out(JSON.stringify(s));
          return;
        }
        if (flags.tree) io.out(`${model.toString()}\n`);
        io.out(formatSummary(s));
      } finally {
        model.dispose();
      }
    });
}

export function modelsCommand(io: Io): Command {
  return new Command('models')
    .description('list the available nets')
    .option('--json', 'print one JSON array of {name, description, defaultInputSize}')
    .action((flags: { json?: boolean }) => {
      const models = listModels().map((name) => {
        const { description, defaultInputSize } = getModelInfo(name);
        return { name, description, defaultInputSize };
      });
      if (flags.json) return io.out(JSON.stringify(models));
      const width = Math.max(...models.map((m) => m.name.length));
      for (const { name, description, defaultInputSize: n } of models)
        io.out(`${name.padEnd(width)} ${description} (default input ${n}x${n})`);
    });
}
