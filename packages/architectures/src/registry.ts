import type * as tf from '@tensorflow/tfjs-core';
import {
  type InitScheme,
  initWeights,
  loadStateDict,
  type Module,
  type Sequential,
  getModule,
  setModule,
  withSeed,
} from '@convnets/nn';
import { alexnetInfo } from './alexnet.js';
import { densenetInfo } from './densenet.js';
import { googlenetInfo } from './googlenet.js';
import { ninInfo } from './nin.js';
import type { ModelInfo, ModelOptions } from './options.js';
import { resnet18Info } from './resnet.js';
import { torchvisionAlexnetInfo } from './torchvision-alexnet.js';
import { torchvisionDensenetInfos } from './torchvision-densenet.js';
import { torchvisionGooglenetInfo } from './torchvision-googlenet.js';
import { torchvisionResnetInfos } from './torchvision-resnet.js';
import { torchvisionVggInfos } from './torchvision-vgg.js';
import { vgg11Info, vgg11SmallInfo } from './vgg.js';

export type { ModelInfo } from './options.js';

/** The notebook's nets, in the notebook's order; then torchvision's, under `torchvision/`. */
const models: ModelInfo[] = [
  alexnetInfo,
  vgg11Info,
  vgg11SmallInfo,
  ninInfo,
  googlenetInfo,
  resnet18Info,
  densenetInfo,
  torchvisionAlexnetInfo,
  ...torchvisionVggInfos,
  torchvisionGooglenetInfo,
  ...torchvisionResnetInfos,
  ...torchvisionDensenetInfos,
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

/** The registered name of each net `createModel` made (what `replaceHead` and `featurePaths` look up). */
const names = new WeakMap<Module, string>();

/** Builds a registered net, timm-style: `createModel('resnet18', { numClasses: 10, inChannels: 1 })`. */
export function createModel(name: string, { seed = 0, init, ...options }: CreateModelOptions = {}): Sequential {
  const info = getModelInfo(name);
  const model = withSeed(seed, () => info.build(options));
  if (init) initWeights(model, init, seed);
  names.set(model, name);
  return model;
}

/**
 * A weights file's tensors as `name` loads them: each key as the original library's loader renames it (torchvision's
 * old DenseNet keys), the tensors it drops (GoogLeNet's auxiliary classifiers) disposed. Other nets: unchanged.
 */
export function adaptStateDict(name: string, tensors: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  const adapt = getModelInfo(name).adaptStateDict;
  if (!adapt) return tensors;
  const out = new Map<string, tf.Tensor>();
  for (const [key, t] of tensors) {
    const renamed = adapt(key);
    if (renamed === undefined) t.dispose();
    else out.set(renamed, t);
  }
  return out;
}

/** What `netFromStateDict` builds: each unset size from the state dict (classes) or the net's default (input size). */
export interface StateDictNetOptions {
  inputSize?: number;
  inChannels?: number;
  numClasses?: number;
  /** The keys are the original library's (a file from PyTorch or timm): read as its loader reads them. */
  fromPytorch?: boolean;
}

/**
 * The registered net `name` built to fit a state dict and loaded from it: as many classes as the head's weight has
 * rows unless `numClasses` says otherwise. The tensors stay the caller's (those the library's loader drops are
 * disposed: `adaptStateDict`); a dict that does not fit throws
 * `StateDictError` (missing and unexpected keys listed as PyTorch's `load_state_dict` lists them).
 */
export function netFromStateDict(
  name: string,
  tensors: Map<string, tf.Tensor>,
  { inputSize, inChannels = 3, numClasses, fromPytorch = false }: StateDictNetOptions = {},
): Sequential {
  const info = getModelInfo(name);
  const classes = numClasses ?? tensors.get(`${info.head.path}.weight`)?.shape[0];
  if (classes === undefined)
    throw new Error(`${name}: the weights have no ${info.head.path}.weight, so the number of classes is not known`);
  const model = createModel(name, { inputSize: inputSize ?? info.defaultInputSize, inChannels, numClasses: classes });
  try {
    loadStateDict(model, fromPytorch ? adaptStateDict(name, tensors) : tensors);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

function infoOf(model: Module, caller: string): ModelInfo {
  const name = names.get(model);
  if (!name) throw new TypeError(`${caller}: the net was not made by createModel, so its head is not known`);
  return getModelInfo(name);
}

/** The dotted paths of a net's features: its top-level modules before the classifier (`--freeze features`). */
export function featurePaths(model: Module): string[] {
  const { classifierStart } = infoOf(model, 'featurePaths').head;
  return [...model.namedChildren()].slice(0, classifierStart).map(([path]) => path);
}

/** The dotted path of the layer that gives a net's class scores. */
export function headPath(model: Module): string {
  return infoOf(model, 'headPath').head.path;
}

/**
 * Puts a new head for `numClasses` classes in place of the net's (torchvision's `model.fc = nn.Linear(...)`): PyTorch's
 * default initialisation from `seed` (the recipe's `init`, if given, applied to it alone), trainable. The old head is
 * disposed; returns the new one.
 */
export function replaceHead(
  model: Module,
  numClasses: number,
  { seed = 0, init }: { seed?: number; init?: InitScheme } = {},
): Module {
  const { head } = infoOf(model, 'replaceHead');
  if (!(Number.isInteger(numClasses) && numClasses > 0))
    throw new RangeError(`replaceHead: numClasses must be a positive integer, got ${numClasses}`);
  const fresh = withSeed(seed, () => head.make(getModule(model, head.path), numClasses));
  if (init) initWeights(fresh, init, seed);
  fresh.train(model.training);
  setModule(model, head.path, fresh).dispose();
  return fresh;
}
