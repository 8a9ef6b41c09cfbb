export {
  fit,
  evaluate,
  predict,
  TrainingDivergedError,
  type FitOptions,
  type FitResult,
  type History,
  type Batches,
  type BatchEvent,
  type EpochEvent,
  type Evaluation,
  type TrainingState,
} from './fit.js';
export {
  encodeTrainingState,
  restoreTrainingState,
  encodeWeights,
  decodeWeights,
  CheckpointError,
  runFileBase,
  type ModelCard,
  type RunSettings,
  type SavedTraining,
} from './checkpoint.js';
export { crossEntropy, correctCount } from './loss.js';
export { trainStep, type Batch, type LossFunction, type TrainStepOptions, type TrainStepResult } from './step.js';
export { Sgd, Adam, type Optimizer, type ParamGroup, type SgdOptions, type AdamOptions } from './optimizers.js';
export {
  constant,
  stepDecay,
  cosine,
  oneCycle,
  scheduleByName,
  SCHEDULES,
  type Schedule,
  type ScheduleName,
} from './schedules.js';
export { MAIN_JOB_RECIPE, NOTEBOOK_RECIPE, recipeOptimizer, type Recipe } from './recipe.js';
export {
  NOTEBOOK_EXPERIMENTS,
  NOTEBOOK_NORMALIZE,
  experimentRecipe,
  notebookExperiment,
  type NotebookExperiment,
} from './notebook.js';
export { measureThroughput, type Throughput, type ThroughputOptions } from './throughput.js';
