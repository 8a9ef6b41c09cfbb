/** Crossing to and from PyTorch: run a net on a PyTorch-layout input file, and export PyTorch-loadable weights. */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { getModelInfo } from '@convnets/architectures';
import type { BackendRequest } from '@convnets/backend';
import { startBackend } from '../backend.js';
import { decodeSafetensors, encodeSafetensors } from '@convnets/nn';
import { encodeWeights } from '@convnets/trainer';
import { ONNX_OPSETS, toOnnx } from '@convnets/export';
import { pytorchProject } from '@convnets/export/pytorch';
import { Command, Option } from 'commander';
import { percent, positiveInt, type Io } from '../io.js';
import { decodeImage, inferenceTransform } from '@convnets/datasets';
import { DATASETS, backendOption, imageSizeOption, weightsModelOption, checkpointOption } from '../options.js';
import { VERSION } from '../version.js';
import { cardOf, imagenetCard, loadNet, readWeights, type NetFlags } from '../weights.js';
import { writeAtomically, writeFolderAtomically } from '@convnets/trainer/node';

interface InteropFlags extends NetFlags {
  backend: BackendRequest;
}

/** Builds the net the weights fit (flags, else their card, else the notebook's defaults) in eval mode. */
async function netFromWeights(io: Io, flags: InteropFlags, file: string, flag: string) {
  await startBackend(io, flags.backend);
  const weights = await readWeights(file, flag);
  const net = loadNet(weights, flags, { inChannels: 3, numClasses: 10 });
  net.model.eval();
  return { ...net, card: cardOf(weights) ?? imagenetCard(net) };
}

const netOptions = (command: Command) =>
  imageSizeOption(
    command,
    "input height and width the net is built for (default: the weights' card, else the notebook's)",
  )
    .addOption(weightsModelOption())
    .option('--in-channels <c>', "input channels (default: the weights' card, else 3)", positiveInt)
    .option('--num-classes <k>', "classes (default: the weights' card, else 10)", positiveInt)
    .addOption(backendOption());

interface PredictFlags extends InteropFlags {
  checkpoint: string;
  image?: string;
  top: number;
  json?: boolean;
  input?: string;
  output?: string;
}

export function predictCommand(io: Io): Command {
  return checkpointOption(
    netOptions(
      new Command('predict').description(
        "a net's top classes for an image file (the card's preprocessing), or its logits for an NCHW `input` tensor",
      ),
    ),
    'PyTorch-named safetensors weights (from `convnets train`, `export` or PyTorch)',
  )
    .option('--image <file>', "a PNG or JPEG: resized to the net's input, scaled to [0, 1], normalised with the card")
    .option('--top <k>', 'with --image: how many classes to print', positiveInt, 5)
    .option('--json', 'with --image: print one JSON object (the top classes and every probability)')
    .option('--input <file>', 'safetensors file with a float32 tensor `input` [N, C, H, W], already normalised')
    .option('--output <file>', 'with --input: where to write `logits` [N, numClasses]')
    .action(async (flags: PredictFlags) => {
      if (Boolean(flags.image) === Boolean(flags.input))
        throw new Error('predict needs either --image <file> or --input <file> (with --output <file>), not both');
      if (flags.input && !flags.output) throw new Error('--input needs --output <file> for the logits');
      if (flags.image) return predictImage(io, flags, flags.image);
      const { model, inChannels: channels } = await netFromWeights(io, flags, flags.checkpoint, '--checkpoint');
      const input = flags.input!;
      const bytes = await readFile(input).catch(() => {
        model.dispose();
        throw new Error(`--input: cannot read ${input}`);
      });
      const { tensors } = decodeSafetensors(new Uint8Array(bytes), input);
      const x = tensors.get('input');
      const expected = `[N, ${channels}, H, W]`;
      if (x?.rank !== 4 || x.shape[1] !== channels || x.dtype !== 'float32') {
        model.dispose();
        tf.dispose([...tensors.values()]);
        throw new Error(
          `--input: ${input} must hold a float32 tensor 'input' of shape ${expected} (NCHW), ` +
            `got ${x ? `${x.dtype} [${x.shape.join(', ')}]` : 'no tensor named input'}`,
        );
      }
      const logits = tf.tidy(() => model.forward(tf.transpose(x, [0, 2, 3, 1]))); // NCHW -> NHWC at the edge
      await writeAtomically(flags.output!, await encodeSafetensors(new Map([['logits', logits]])));
      io.err(`wrote logits [${logits.shape.join(', ')}] to ${flags.output}`);
      tf.dispose([logits, ...tensors.values()]);
      model.dispose();
    });
}

/** One image file through the card's preprocessing and the net: the top classes with their probabilities. */
async function predictImage(io: Io, flags: PredictFlags, file: string): Promise<void> {
  const bytes = await readFile(file).catch(() => {
    throw new Error(`--image: cannot read ${file}`);
  });
  const { model, card, inputSize, inChannels } = await netFromWeights(io, flags, flags.checkpoint, '--checkpoint');
  try {
    if (!card)
      throw new Error(
        `--image: ${flags.checkpoint} has no model card (classes, mean/std) to preprocess with ` +
          "(torchvision's nets with 1000 classes take ImageNet's)",
      );
    const image = decodeImage(new Uint8Array(bytes), file, inChannels === 1 ? 1 : 3);
    const transform = inferenceTransform({ ...card, inputSize });
    const probabilities = tf.tidy(() => {
      const pixels = tf.tensor4d(image.data, [1, image.height, image.width, image.channels], 'float32');
      // Nothing random in these transforms: the generator is never drawn from.
      return tf.softmax(model.forward(transform(pixels, { random: Math.random })));
    });
    const p = [...((await probabilities.data()) as Float32Array)];
    probabilities.dispose();
    const top = p
      .map((probability, i) => ({ class: card.classes[i]!, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, flags.top);
    if (flags.json) return io.out(JSON.stringify({ image: file, model: card.model, top, probabilities: p }));
    const width = Math.max(12, ...top.map((t) => t.class.length));
    io.out(top.map((t) => `${t.class.padEnd(width)} ${percent(t.probability, 2)}`).join('\n'));
  } finally {
    model.dispose();
  }
}

/** What `export` writes: PyTorch-named weights (the default), an ONNX model, or a PyTorch project folder. */
const EXPORT_FORMATS = ['safetensors', 'onnx', 'pytorch'] as const;

interface ExportFlags extends InteropFlags {
  checkpoint: string;
  output: string;
  format: (typeof EXPORT_FORMATS)[number];
  opset?: number;
  normalize?: boolean;
  dataset?: string;
}

export function exportCommand(io: Io): Command {
  return checkpointOption(
    netOptions(
      new Command('export').description(
        'write trained weights for other tools: PyTorch-named safetensors (default), an ONNX model for onnxruntime, ' +
          'or a PyTorch project (model.py, weights, a torchrun DDP train.py)',
      ),
    ),
    'weights written by `convnets train`',
  )
    .requiredOption('--output <path>', 'the file to write (safetensors, onnx), or a new or empty folder (pytorch)')
    .addOption(new Option('--format <format>', 'what to write').choices(EXPORT_FORMATS).default('safetensors'))
    .option(`--opset <n>`, `onnx: the ONNX opset (${ONNX_OPSETS.min}-${ONNX_OPSETS.max})`, positiveInt)
    .option('--normalize', "onnx: bake the card's mean/std into the graph, so it takes raw [0, 1] pixels")
    .addOption(
      new Option(
        '--dataset <name>',
        "pytorch: the dataset train.py's README commands name (default: from the file name)",
      ).choices(DATASETS),
    )
    .action(async (flags: ExportFlags) => {
      if (flags.format !== 'onnx' && (flags.opset !== undefined || flags.normalize))
        throw new Error(`--opset and --normalize are for --format onnx, not ${flags.format}`);
      // Checked before the net is loaded, so nothing is done when the folder cannot be used.
      if (flags.format === 'pytorch') await expectNewFolder(flags.output);
      // Loading validates every name and shape; the card travels along.
      const { model, card, inputSize, inChannels } = await netFromWeights(io, flags, flags.checkpoint, '--checkpoint');
      try {
        const source = path.basename(flags.checkpoint);
        if (flags.format === 'safetensors') {
          const bytes = await encodeWeights(model, { card });
          await writeAtomically(flags.output, bytes);
          return io.err(`wrote ${flags.output} (${mib(bytes)})`);
        }
        const needsCard = flags.format === 'pytorch' ? '--format pytorch' : flags.normalize ? '--normalize' : '';
        if (!card && needsCard)
          throw new Error(
            `${flags.checkpoint} has no model card (mean/std, classes): ${needsCard} needs one ` +
              '(weights written by `convnets train` have it)',
          );
        if (flags.format === 'onnx') {
          const inputShape = [inChannels, inputSize, inputSize] as const;
          const options = { card, normalize: flags.normalize, opset: flags.opset, source, producerVersion: VERSION };
          const bytes = await toOnnx(model, { ...options, inputShape });
          await writeAtomically(flags.output, bytes);
          const input = flags.normalize ? 'raw [0, 1] pixels' : "pixels normalised with the card's mean/std";
          const shape = `[batch, ${inputShape.join(', ')}]`;
          return io.err(`wrote ${flags.output} (${mib(bytes)}): input ${shape} ${input}, output logits`);
        }
        const dataset = flags.dataset ?? DATASETS.find((d) => source.startsWith(`${d}_`)) ?? 'mnist';
        const { classifierStart } = getModelInfo(card!.model).head;
        const files = await pytorchProject(model, card!, { source, dataset, classifierStart });
        await writeFolderAtomically(flags.output, files);
        io.err(`wrote ${[...files.keys()].map((f) => path.join(flags.output, f)).join(', ')}`);
      } finally {
        model.dispose();
      }
    });
}

const mib = (bytes: Uint8Array) => `${(bytes.length / 2 ** 20).toFixed(1)} MiB`;

/** A folder to create, or one that exists and is empty: never one holding other files (they would be mixed in). */
async function expectNewFolder(folder: string): Promise<void> {
  const entries = await readdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new Error(`--output: ${folder} cannot be used as a folder (${err.code})`);
  });
  if (entries.length)
    throw new Error(
      `--output: ${folder} already holds other files (${entries.slice(0, 3).join(', ')}): give a new or empty folder`,
    );
}
