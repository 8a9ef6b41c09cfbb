import type { Module } from '@convnets/nn';

/**
 * A kernel a traced forward runs between layers that the target format has no form for, named by the dotted path
 * (as `namedModules()` gives it) and type of the module whose `forward` runs it.
 */
export class UnsupportedKernelError extends Error {
  override name = 'UnsupportedKernelError';
  constructor(
    readonly format: string,
    readonly path: string,
    readonly type: string,
    readonly kernel: string,
    supported: readonly string[],
  ) {
    super(
      `${format} export: the module at '${path || '(the model itself)'}' (${type}) runs tfjs's ${kernel} kernel, ` +
        `which has no ${format} form here (between layers: ${supported.join(', ')}; or use nn's layers)`,
    );
  }
}

/** A module's class, the key of the per-layer tables. */
export type ModuleClass = abstract new (...args: never[]) => Module;

/** A child's dotted path under its parent's ('' is the module itself, or the model). */
export const childPath = (parent: string, name: string) => (parent && name ? `${parent}.${name}` : parent || name);

/** NHWC's axis `axis` (negative: from the end) of a rank-`rank` tensor, as NCHW numbers it (other ranks: unchanged). */
export function nchwAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? [0, 2, 3, 1][a]! : a;
}
