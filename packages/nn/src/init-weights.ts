import { initializers, type InitScheme, type Initializer } from './init.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import type { Module } from './module.js';
import { Rng } from './random.js';

/**
 * Re-initialises the `weight` of every Conv2d and Linear (biases and BatchNorm untouched), like the
 * notebook's `model.apply(init_weights)`. Each weight gets its own seed drawn in module order, so the
 * result depends only on `seed` and the architecture. Returns the model.
 */
export function initWeights<M extends Module>(model: M, scheme: InitScheme | Initializer, seed: number): M {
  const init = typeof scheme === 'function' ? scheme : initializers[scheme];
  const rng = new Rng(seed);
  for (const [, module] of model.namedModules()) {
    if (!(module instanceof Conv2d || module instanceof Linear)) continue;
    const fresh = init(module.weight.shape, { seed: rng.nextSeed() });
    module.weight.assign(fresh);
    fresh.dispose();
  }
  return model;
}
