import { Linear, Sequential, traceShapes, type Module } from '@convnets/nn';
import type { PretrainedWeights } from './torchvision-weights.js';

export interface ModelOptions {
  /** Size of the last layer. Default 10 (CIFAR-10, MNIST); 1000 (ImageNet) for torchvision's nets. */
  numClasses?: number;
  /** 3 for RGB, 1 for MNIST. Default 3. */
  inChannels?: number;
  /** Height and width of the (square) input the net is built for; each net has its notebook's default. */
  inputSize?: number;
}

export type ResolvedOptions = Required<ModelOptions>;

/**
 * Where a net's classifier is (timm's `features` vs `head`): the top-level modules before `classifierStart` are its
 * features; `path` is the layer that gives the class scores, and `make` builds a new one for `numClasses` in place
 * of `old` (what `replaceHead` puts there).
 */
export interface HeadInfo {
  classifierStart: number;
  path: string;
  make: (old: Module, numClasses: number) => Module;
}

/** A Linear head: the same input features, `numClasses` outputs. */
export const linearHead = (classifierStart: number, path: string): HeadInfo => ({
  classifierStart,
  path,
  make: (old, numClasses) => new Linear((old as Linear).inFeatures, numClasses),
});

/** A registered net: each architecture's file exports its own; the registry only lists them. */
export interface ModelInfo {
  name: string;
  description: string;
  /** The input size the notebook uses for this net. */
  defaultInputSize: number;
  build: (options: ModelOptions) => Sequential;
  head: HeadInfo;
  /**
   * What the original library does to a state-dict key of its weights files when loading them (torchvision's
   * DenseNet renames old keys, its GoogLeNet drops the auxiliary classifiers): the key the net has, or undefined to
   * drop the tensor. `adaptStateDict` applies it.
   */
  adaptStateDict?: (key: string) => string | undefined;
  /** Published weights for this net (torchvision's ImageNet ones), where there are. */
  pretrained?: PretrainedWeights;
}

/** The options with the net's defaults where they are not given (`undefined` counts as not given). */
export function resolveOptions(
  name: string,
  options: ModelOptions,
  defaultInputSize: number,
  defaultClasses = 10,
): ResolvedOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved = { numClasses: defaultClasses, inChannels: 3, inputSize: defaultInputSize, ...given };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${name}: option ${key} must be a positive integer, got ${value}`);
    }
  }
  return resolved;
}

/**
 * The number of features a conv stack hands to the first Linear layer, by shape inference: what lets
 * AlexNet and VGG be built for any input size instead of a hard-coded 6400 or 512*7*7.
 */
export function flattenedSize(name: string, features: Module[], { inputSize, inChannels }: ResolvedOptions): number {
  const { output } = traceShapes(new Sequential(...features), [1, inputSize, inputSize, inChannels], name);
  return output.slice(1).reduce((a, b) => a * b, 1);
}

/** Checks that a finished net takes its declared input, with an error naming the layer if it does not. */
export function checked<M extends Module>(name: string, model: M, { inputSize, inChannels }: ResolvedOptions): M {
  traceShapes(model, [1, inputSize, inputSize, inChannels], name);
  return model;
}
