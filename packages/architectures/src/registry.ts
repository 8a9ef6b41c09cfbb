import { type InitScheme, initWeights, type Sequential, withSeed } from '@convnets/nn';
import { alexnet } from './alexnet.js';
import { densenet } from './densenet.js';
import { googlenet } from './googlenet.js';
import { nin } from './nin.js';
import { resnet18 } from './resnet.js';
import { VGG11, VGG11_SMALL, vgg } from './vgg.js';
import type { ModelOptions } from './options.js';

export interface ModelInfo {
  name: string;
  description: string;
  /** The input size the notebook uses for this net. */
  defaultInputSize: number;
  build: (options: ModelOptions) => Sequential;
}

const models: ModelInfo[] = [
  { name: 'alexnet', description: 'AlexNet (notebook variant)', defaultInputSize: 224, build: alexnet },
  { name: 'vgg11', description: 'VGG-11', defaultInputSize: 224, build: (o) => vgg(VGG11, o, 'vgg11') },
  {
    name: 'vgg11-small',
    description: 'VGG-11 with a quarter of the channels',
    defaultInputSize: 224,
    build: (o) => vgg(VGG11_SMALL, o, 'vgg11-small'),
  },
  { name: 'nin', description: 'Network in Network', defaultInputSize: 224, build: nin },
  { name: 'googlenet', description: 'GoogLeNet (Inception v1)', defaultInputSize: 96, build: googlenet },
  { name: 'resnet18', description: 'ResNet-18 (notebook variant)', defaultInputSize: 224, build: resnet18 },
  { name: 'densenet', description: 'DenseNet, growth 32, blocks [4, 4, 4, 4]', defaultInputSize: 224, build: densenet },
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
