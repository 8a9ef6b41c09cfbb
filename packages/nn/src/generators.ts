/**
 * The random generators a model's modules own (Dropout's), read and restored by module path, so a resumed run
 * draws the same numbers an uninterrupted one would, without the caller knowing which modules draw them.
 */
import type { Module } from './module.js';
import { Rng } from './random.js';

function generators(model: Module): Array<[string, Rng]> {
  const out: Array<[string, Rng]> = [];
  for (const [path, module] of model.namedModules()) {
    const rng = (module as unknown as { rng?: unknown }).rng;
    if (rng instanceof Rng) out.push([path, rng]);
  }
  return out;
}

/** Every generator's state, by the path of the module that owns it. */
export function generatorStates(model: Module): Record<string, number> {
  return Object.fromEntries(generators(model).map(([path, rng]) => [path, rng.getState()]));
}

/** Sets the generators named in `states` (as `generatorStates` gave them); others are left as they are. */
export function restoreGeneratorStates(model: Module, states: Record<string, number>): void {
  for (const [path, rng] of generators(model)) if (path in states) rng.setState(states[path]!);
}
