/**
 * The training recipes, each defined once. The main job's (MAIN_JOB_RECIPE) is what `convnets train` and the browser
 * app train with and what the benchmarks time: SGD with momentum 0.9 and weight decay 5e-4, the one-cycle schedule
 * peaking at 0.05. The notebook's (NOTEBOOK_RECIPE) is what its eight experiments ran (notebook.ts): plain SGD at a
 * constant learning rate, batch 128, 10 epochs. Both start from Xavier weights (the caller builds the net with
 * `init` and `seed`: `createModel(name, { init, seed })`).
 */
import type { InitScheme } from '@convnets/nn';
import { Adam, type Optimizer, type ParamGroup, Sgd } from './optimizers.js';
import { type Schedule, type ScheduleName, scheduleByName } from './schedules.js';

export interface Recipe {
  epochs: number;
  /** Images per step. */
  batchSize: number;
  /** The peak learning rate. */
  lr: number;
  momentum: number;
  weightDecay: number;
  optimizer: 'sgd' | 'adam';
  schedule: ScheduleName;
  labelSmoothing: number;
  /** How conv and linear weights start. */
  init: InitScheme;
  /** Seed of the weights, shuffles and dropout. */
  seed: number;
}

/** The main job's recipe: a short, fast run that reaches a good accuracy in 2 epochs. */
export const MAIN_JOB_RECIPE: Readonly<Recipe> = Object.freeze({
  epochs: 2,
  batchSize: 128,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
  optimizer: 'sgd',
  schedule: 'onecycle',
  labelSmoothing: 0,
  init: 'xavier',
  seed: 0,
});

/**
 * The notebook's recipe (`train_model`): `optim.SGD(lr)` with no momentum, weight decay or schedule, Xavier-uniform
 * conv and linear weights, batches of 128 shuffled each epoch, 10 epochs. Its experiments set their own lr.
 */
export const NOTEBOOK_RECIPE: Readonly<Recipe> = Object.freeze({
  epochs: 10,
  batchSize: 128,
  lr: 0.1,
  momentum: 0,
  weightDecay: 0,
  optimizer: 'sgd',
  schedule: 'constant',
  labelSmoothing: 0,
  init: 'xavier',
  seed: 0,
});

/**
 * The recipe's optimizer, and its learning-rate schedule over the run's `totalSteps`; `groups` give some parameters
 * their own learning-rate scale and weight decay (fine-tuning's head vs backbone).
 */
export function recipeOptimizer(
  recipe: Pick<Recipe, 'optimizer' | 'momentum' | 'weightDecay' | 'schedule' | 'lr'>,
  totalSteps: number,
  groups: readonly ParamGroup[] = [],
): { optimizer: Optimizer; schedule: Schedule } {
  const optimizer =
    recipe.optimizer === 'adam'
      ? new Adam({ weightDecay: recipe.weightDecay, groups })
      : new Sgd({ momentum: recipe.momentum, weightDecay: recipe.weightDecay, groups });
  return { optimizer, schedule: scheduleByName(recipe.schedule, recipe.lr, totalSteps) };
}
