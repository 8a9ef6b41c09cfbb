export { alexnet } from './alexnet.js';
export { vgg, VGG11, VGG11_SMALL, type VggArch } from './vgg.js';
export { nin } from './nin.js';
export { googlenet } from './googlenet.js';
export { resnet, resnet18, RESNET18, type ResnetArch } from './resnet.js';
export { densenet, DENSENET, type DensenetArch } from './densenet.js';
export {
  createModel,
  listModels,
  getModelInfo,
  featurePaths,
  headPath,
  replaceHead,
  adaptStateDict,
  netFromStateDict,
  type StateDictNetOptions,
  type ModelInfo,
  type CreateModelOptions,
} from './registry.js';
export type { HeadInfo } from './options.js';
export type { PretrainedWeights } from './torchvision-weights.js';
export type { ModelOptions } from './options.js';
