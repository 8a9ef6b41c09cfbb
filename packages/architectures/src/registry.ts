import { type InitScheme, initWeights, type Sequential, withSeed } from '@convnets/nn';
import { alexnetInfo } from './alexnet.js';
import { densenetInfo } from './densenet.js';
import { googlenetInfo } from './googlenet.js';
import { ninInfo } from './nin.js';
import type { ModelInfo, ModelOptions } from './options.js';
import { resnet18Info } from './resnet.js';
import { vgg11Info, vgg11SmallInfo } from './vgg.js';

export type { ModelInfo } from './options.js';

/** The notebook's nets, in the notebook's order. */
const models: ModelInfo[] = [
  alexnetInfo,
  vgg11Info,
  vgg11SmallInfo,
  ninInfo,
  googlenetInfo,
  resnet18Info,
  densenetInfo,
];

const registry = new Map(models.map((m) => [m.name, m]));

export function listModels(): string[] {
  return [...registry.keys()];
}

export function getModelInfo(name: string): ModelInfo {
  const info = registry.get(name);
  if (!info) throw new Error(`Unknown model '${name}'. Available models: ${listModels().join(', ')}`);
  return info;
}

export interface CreateModelOptions extends ModelOptions {
  /** Seed of the initial weights (PyTorch's default initialisation); the same seed gives the same net. */
  seed?: number;
  /** Then re-initialise conv and linear weights ('xavier' as the notebook, or 'kaiming'), from the same seed. */
  init?: InitScheme;
}

/** Builds a registered net, timm-style: `createModel('resnet18', { numClasses: 10, inChannels: 1 })`. */
export function createModel(name: string, { seed = 0, init, ...options }: CreateModelOptions = {}): Sequential {
  const info = getModelInfo(name);
  const model = withSeed(seed, () => info.build(options));
  if (init) initWeights(model, init, seed);
  return model;
}
