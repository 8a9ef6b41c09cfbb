/** Crossing to and from PyTorch: run a net on a PyTorch-layout input file, and export PyTorch-loadable weights. */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendRequest } from '@convnets/backend';
import { decodeSafetensors, encodeSafetensors } from '@convnets/nn';
import { encodeWeights } from '@convnets/trainer';
import { Command } from 'commander';
import { positiveInt, type Io } from '../io.js';
import { backendOption, imageSizeOption, weightsModelOption } from '../options.js';
import { loadNet, readWeights, type NetFlags } from '../weights.js';
import { writeAtomically } from '@convnets/plots/node';

interface InteropFlags extends NetFlags {
  backend: BackendRequest;
}

/** Builds the net the weights fit (flags, else their card, else the notebook's defaults) in eval mode. */
async function netFromWeights(flags: InteropFlags, file: string, flag: string) {
  await initBackend(flags.backend);
  const weights = await readWeights(file, flag);
  const net = loadNet(weights, flags, { inChannels: 3, numClasses: 10 });
  net.model.eval();
  return { ...net, card: weights.card };
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

export function predictCommand(io: Io): Command {
  return netOptions(
    new Command('predict').description('logits of a net for an NCHW `input` tensor in a safetensors file'),
  )
    .requiredOption(
      '--weights <file>',
      'PyTorch-named safetensors weights (from `convnets train`, `export` or PyTorch)',
    )
    .requiredOption('--input <file>', 'safetensors file with a float32 tensor `input` [N, C, H, W]')
    .requiredOption('--output <file>', 'where to write `logits` [N, numClasses]')
    .action(async (flags: InteropFlags & { weights: string; input: string; output: string }) => {
      const { model, inChannels: channels } = await netFromWeights(flags, flags.weights, '--weights');
      const bytes = await readFile(flags.input).catch(() => {
        model.dispose();
        throw new Error(`--input: cannot read ${flags.input}`);
      });
      const { tensors } = decodeSafetensors(new Uint8Array(bytes), flags.input);
      const input = tensors.get('input');
      const expected = `[N, ${channels}, H, W]`;
      if (input?.rank !== 4 || input.shape[1] !== channels || input.dtype !== 'float32') {
        model.dispose();
        tf.dispose([...tensors.values()]);
        throw new Error(
          `--input: ${flags.input} must hold a float32 tensor 'input' of shape ${expected} (NCHW), ` +
            `got ${input ? `${input.dtype} [${input.shape.join(', ')}]` : 'no tensor named input'}`,
        );
      }
      const logits = tf.tidy(() => model.forward(tf.transpose(input, [0, 2, 3, 1]))); // NCHW -> NHWC at the edge
      await writeAtomically(flags.output, await encodeSafetensors(new Map([['logits', logits]])));
      io.err(`wrote logits [${logits.shape.join(', ')}] to ${flags.output}`);
      tf.dispose([logits, ...tensors.values()]);
      model.dispose();
    });
}

export function exportCommand(io: Io): Command {
  return netOptions(
    new Command('export').description('write weights as a safetensors file that PyTorch load_state_dict accepts'),
  )
    .requiredOption('--checkpoint <file>', 'weights written by `convnets train`')
    .requiredOption('--output <file>', 'the PyTorch-named, PyTorch-layout safetensors file to write')
    .action(async (flags: InteropFlags & { checkpoint: string; output: string }) => {
      // Loading validates every name and shape; the card travels along.
      const { model, card } = await netFromWeights(flags, flags.checkpoint, '--checkpoint');
      const bytes = await encodeWeights(model, { card });
      await writeAtomically(flags.output, bytes);
      io.err(`wrote ${flags.output} (${(bytes.length / 2 ** 20).toFixed(1)} MiB)`);
      model.dispose();
    });
}
