import type { Module } from '@convnets/nn';

/** A module the target format has no form for, named by its dotted path (as `namedModules()` gives it) and type. */
export class UnsupportedLayerError extends Error {
  override name = 'UnsupportedLayerError';
  constructor(
    readonly format: string,
    readonly path: string,
    readonly type: string,
    supported: readonly string[],
  ) {
    super(
      `${format} export: the layer at '${path || '(the model itself)'}' is a ${type}, which has no ${format} form ` +
        `(supported: ${supported.join(', ')})`,
    );
  }
}

/** A module's class, the key of the per-layer tables. */
export type ModuleClass = abstract new (...args: never[]) => Module;

/** The converter for `module`'s exact class (a subclass may compute something else, so it is not taken). */
export function converterFor<F>(
  table: ReadonlyMap<ModuleClass, F>,
  module: Module,
  path: string,
  format: string,
  names: readonly string[],
): F {
  const found = table.get(module.constructor as ModuleClass);
  if (!found) throw new UnsupportedLayerError(format, path, module.typeName, names);
  return found;
}

/** A child's dotted path under its parent's. */
export const childPath = (parent: string, name: string) => (parent ? `${parent}.${name}` : name);
