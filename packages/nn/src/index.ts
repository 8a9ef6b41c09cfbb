export { Module, parameter, buffer, isBuffer, type ShapeTrace, type TraceEntry } from './module.js';
export { traceForward, type TraceHooks, type KernelCall } from './trace.js';
export { Rng, manualSeed, defaultRng, withSeed } from './random.js';
export { generatorStates, restoreGeneratorStates } from './generators.js';
export { ShapeError, windowOutputSize, formatShape, type Shape, type Pair } from './shape.js';
export {
  fans,
  uniform,
  xavierUniform,
  kaimingNormal,
  zeros,
  ones,
  initializers,
  type Initializer,
  type InitScheme,
  type FanMode,
  type SeedOption,
} from './init.js';
export { initWeights } from './init-weights.js';
export { FUSED_BATCH_NORM, FUSED_SGD, FUSED_ADAM, FUSED_KERNELS } from './fused-kernels.js';
export { freeze, unfreeze, type FreezeOptions } from './freeze.js';
export { Conv2d, type Conv2dOptions } from './layers/conv.js';
export { Linear, type LinearOptions } from './layers/linear.js';
export { BatchNorm2d, type BatchNorm2dOptions } from './layers/batchnorm.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type Pool2dOptions } from './layers/pool.js';
export { ReLU, Identity, Flatten, Dropout, type DropoutOptions } from './layers/simple.js';
export { Sequential } from './layers/sequential.js';
export {
  summary,
  formatSummary,
  traceShapes,
  ModelShapeError,
  type ModelSummary,
  type LayerSummary,
  type SummaryOptions,
} from './summary.js';
export {
  stateDict,
  loadStateDict,
  StateDictError,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from './state-dict.js';
export {
  getModule,
  setModule,
  forwardWithOutputs,
  featureMapLayers,
  lastFeatureMap,
  gradCam,
  type GradCam,
} from './inspect.js';
export { encodeSafetensors, decodeSafetensors, SafetensorsError, type SafetensorsFile } from './safetensors.js';
export { decodePth, pthFormat, PthError } from './pth.js';
export {
  recomputingForward,
  leanForward,
  innermostBlocks,
  chunkedForward,
  refuseTrainingBatchNorm,
} from './recompute.js';
export { gradients, type Gradients, type GradientsOptions } from './backward.js';
