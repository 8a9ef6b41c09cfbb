/**
 * A PyTorch project for a trained net: model.py (generated from the module tree), the weights as safetensors, the
 * training script for torchrun (DDP), and a README. Node only: the Python files ship in this package's `python/`.
 */
import { readFile } from 'node:fs/promises';
import type { Module } from '@convnets/nn';
import { encodeWeights, type ModelCard } from '@convnets/trainer';
import { pytorchModelSource } from './model-py.js';

export { PYTORCH_LAYERS } from './model-py.js';

const pythonFile = (name: string) => readFile(new URL(`../../python/${name}`, import.meta.url), 'utf8');

export interface PytorchOptions {
  /** Where the net's classifier begins among its top-level modules (the registry's), for `--freeze features`. */
  classifierStart?: number;
}

/** model.py's text: the net as a PyTorch module, with `load_model()` and the safetensors helpers. */
export async function pytorchModel(model: Module, card: ModelCard, options: PytorchOptions = {}): Promise<string> {
  return pytorchModelSource(model, card, await pythonFile('prelude.py'), options.classifierStart);
}

export interface PytorchProjectOptions extends PytorchOptions {
  /** Where the weights came from (the README says). */
  source?: string;
  /** The dataset the README's commands name. */
  dataset?: string;
}

/** The files of the project, by name: model.py, weights.safetensors, train.py, README.md. */
export async function pytorchProject(
  model: Module,
  card: ModelCard,
  { source = 'a convnets net', dataset = 'mnist', ...options }: PytorchProjectOptions = {},
): Promise<Map<string, string | Uint8Array>> {
  const modelPy = await pytorchModel(model, card, options); // first: a layer with no PyTorch form stops everything
  const fill: Record<string, string> = {
    model: card.model,
    source,
    dataset,
    shape: `${card.inChannels}x${card.inputSize}x${card.inputSize}`,
    classes: String(card.classes.length),
  };
  const readme = (await pythonFile('README.md')).replace(/\{\{(\w+)\}\}/g, (_, key: string) => fill[key]!);
  return new Map<string, string | Uint8Array>([
    ['model.py', modelPy],
    ['weights.safetensors', await encodeWeights(model, { card })],
    ['train.py', await pythonFile('train.py')],
    ['README.md', readme],
  ]);
}
