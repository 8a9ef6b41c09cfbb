/** Crossing to and from PyTorch: run a net on a PyTorch-layout input file, and export PyTorch-loadable weights. */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { createModel, getModelInfo } from '@convnets/architectures';
import { initBackend, type BackendRequest } from '@convnets/backend';
import { decodeSafetensors, encodeSafetensors, stateDict, type Module } from '@convnets/nn';
import { Command } from 'commander';
import { positiveInt, type Io } from '../io.js';
import { backendOption, imageSizeOption, modelOption } from '../options.js';
import { loadWeights } from '../weights.js';
import { writeAtomically } from '@convnets/plots/node';

async function readSafetensors(file: string, flag: string) {
  const bytes = await readFile(file).catch(() => {
    throw new Error(`${flag}: cannot read ${file}`);
  });
  return decodeSafetensors(new Uint8Array(bytes), file);
}

interface NetFlags {
  model: string;
  imageSize?: number;
  inChannels: number;
  numClasses: number;
  backend: BackendRequest;
}

/** Builds the net and loads PyTorch-named weights into it (strict: names and shapes must all match). */
async function loadNet(flags: NetFlags, weightsFile: string, flag: string): Promise<Module> {
  await initBackend(flags.backend);
  const { tensors } = await readSafetensors(weightsFile, flag);
  const model = createModel(flags.model, {
    inputSize: flags.imageSize ?? getModelInfo(flags.model).defaultInputSize,
    inChannels: flags.inChannels,
    numClasses: flags.numClasses,
  });
  loadWeights(model, tensors, weightsFile, flags.model);
  return model.eval();
}

const netOptions = (command: Command) =>
  imageSizeOption(command, "input height and width the net is built for (default: the notebook's)")
    .addOption(modelOption())
    .option('--in-channels <c>', 'input channels', positiveInt, 3)
    .option('--num-classes <k>', 'classes', positiveInt, 10)
    .addOption(backendOption());

export function predictCommand(io: Io): Command {
  return netOptions(
    new Command('predict').description('logits of a net for an NCHW `input` tensor in a safetensors file'),
  )
    .requiredOption('--weights <file>', 'PyTorch-named safetensors weights')
    .requiredOption('--input <file>', 'safetensors file with a float32 tensor `input` [N, C, H, W]')
    .requiredOption('--output <file>', 'where to write `logits` [N, numClasses]')
    .action(async (flags: NetFlags & { weights: string; input: string; output: string }) => {
      const model = await loadNet(flags, flags.weights, '--weights');
      const { tensors } = await readSafetensors(flags.input, '--input');
      const input = tensors.get('input');
      const expected = `[N, ${flags.inChannels}, H, W]`;
      if (input?.rank !== 4 || input.shape[1] !== flags.inChannels || input.dtype !== 'float32') {
        tf.dispose([...tensors.values()]);
        throw new Error(
          `--input: ${flags.input} must hold a float32 tensor 'input' of shape ${expected} (NCHW), ` +
            `got ${input ? `${input.dtype} [${input.shape.join(', ')}]` : 'no tensor named input'}`,
        );
      }
      const logits = tf.tidy(() => model.forward(tf.transpose(input, [0, 2, 3, 1]))); // NCHW -> NHWC at the edge
      await writeAtomically(flags.output, encodeSafetensors(new Map([['logits', logits]])));
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
    .action(async (flags: NetFlags & { checkpoint: string; output: string }) => {
      const model = await loadNet(flags, flags.checkpoint, '--checkpoint'); // validates names and shapes
      const state = stateDict(model);
      await writeAtomically(flags.output, encodeSafetensors(state, { format: 'pt' }));
      io.err(`wrote ${state.size} tensors to ${flags.output}`);
      tf.dispose([...state.values()]);
      model.dispose();
    });
}
