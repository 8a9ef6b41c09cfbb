/**
 * Freezing for fine-tuning, with PyTorch's semantics: a frozen parameter has `requires_grad` off (tfjs's
 * `Variable.trainable`), so it gets no gradient, no weight decay and no optimizer state. Modules are named by their
 * dotted paths (`namedModules`), e.g. `'0'` or `'3.1.conv1'`; a path takes that module and everything below it.
 */
import { BatchNorm2d } from './layers/batchnorm.js';
import { getModule } from './inspect.js';
import type { Module } from './module.js';

export interface FreezeOptions {
  /**
   * Also hold the frozen BatchNorm layers in eval mode (their running statistics stay as they are, as with
   * `module.eval()` on them in PyTorch); default false, as `requires_grad_(False)` alone.
   */
  freezeBatchNorm?: boolean;
}

/** The modules at `paths` ('' or none: the whole net); a path that names no module fails, naming the call. */
function modulesAt(model: Module, paths: string | readonly string[] | undefined, caller: string): Module[] {
  const wanted = paths === undefined ? [''] : typeof paths === 'string' ? [paths] : [...paths];
  return wanted.map((p) => {
    try {
      return getModule(model, p);
    } catch (err) {
      throw new RangeError(`${caller}: ${(err as Error).message}`);
    }
  });
}

/** Turns gradients off for every parameter of the modules at `paths` (default: the whole net); returns `model`. */
export function freeze<M extends Module>(
  model: M,
  paths?: string | readonly string[],
  { freezeBatchNorm = false }: FreezeOptions = {},
): M {
  for (const module of modulesAt(model, paths, 'freeze')) {
    for (const p of module.parameters()) p.trainable = false;
    if (!freezeBatchNorm) continue;
    for (const [, m] of module.namedModules()) {
      if (m instanceof BatchNorm2d) {
        m.heldInEval = true;
        m.training = false;
      }
    }
  }
  return model;
}

/** Turns gradients back on (and releases held BatchNorm layers) for the modules at `paths`; returns `model`. */
export function unfreeze<M extends Module>(model: M, paths?: string | readonly string[]): M {
  for (const module of modulesAt(model, paths, 'unfreeze')) {
    for (const p of module.parameters()) p.trainable = true;
    for (const [, m] of module.namedModules()) m.heldInEval = false;
  }
  return model;
}
