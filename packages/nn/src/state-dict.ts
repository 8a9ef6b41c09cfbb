/**
 * PyTorch state dicts: the one place where tensors cross between PyTorch's layouts and ours.
 * Names are already PyTorch's (see Module); only conv and linear weights change layout:
 * conv `[out, in, kh, kw]` <-> `[kh, kw, in, out]`, linear `[out, in]` <-> `[in, out]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import type { Module } from './module.js';

const TO_TORCH = { conv: [3, 2, 0, 1], linear: [1, 0] } as const;
const FROM_TORCH = { conv: [2, 3, 1, 0], linear: [1, 0] } as const;

/** Each saved tensor with the layout change it needs, or none. */
function* stateWithLayouts(model: Module): Generator<[string, tf.Variable, keyof typeof TO_TORCH | null]> {
  for (const [path, module] of model.namedModules()) {
    for (const [name, v] of module.ownVariables()) {
      const layout =
        name === 'weight' ? (module instanceof Conv2d ? 'conv' : module instanceof Linear ? 'linear' : null) : null;
      yield [path ? `${path}.${name}` : name, v, layout];
    }
  }
}

/** The model's parameters and buffers, named and laid out as PyTorch's `state_dict()`. New tensors: dispose them. */
export function stateDict(model: Module): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, v, layout] of stateWithLayouts(model)) {
    out.set(name, layout ? tf.transpose(v, [...TO_TORCH[layout]]) : tf.clone(v));
  }
  return out;
}

export interface LoadStateDictOptions {
  /** Fail on missing or unexpected names (PyTorch's default). Shape mismatches always fail. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(
    /** What went wrong, in counts and the first few names (the full lists are the fields below). */
    readonly summary: string,
    model: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
  ) {
    super(`loadStateDict (${model}): ${summary}`);
  }
}

/** "3 (first: a, b, c)", or all of them where there are few. */
function some(names: string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.length} (first: ${names.slice(0, 3).join(', ')})`;
}

/**
 * Loads a PyTorch-layout state dict into the model. Checks everything before changing anything, so a
 * failed load leaves the model as it was. Does not take ownership of `tensors`.
 */
export function loadStateDict(
  model: Module,
  tensors: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
  { strict = true }: LoadStateDictOptions = {},
): LoadStateDictResult {
  const given = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const expected = [...stateWithLayouts(model)];
  const names = new Set(expected.map(([name]) => name));
  const missing = expected.map(([name]) => name).filter((name) => !given.has(name));
  // BatchNorm's step counter came in PyTorch 0.4.1: files saved before it (torchvision's first ImageNet weights) lack
  // it, and PyTorch loads them leaving it at 0. So do we; any other missing name is an error.
  const required = missing.filter((name) => !name.endsWith('.num_batches_tracked'));
  const unexpected = [...given.keys()].filter((name) => !names.has(name));
  const mismatched: string[] = [];
  for (const [name, v, layout] of expected) {
    const t = given.get(name);
    if (!t) continue;
    const want = layout ? TO_TORCH[layout].map((axis) => v.shape[axis]!) : v.shape;
    if (t.shape.join() !== want.join())
      mismatched.push(`${name}: expected [${want.join(', ')}], got [${t.shape.join(', ')}]`);
  }
  if (mismatched.length > 0 || (strict && (required.length > 0 || unexpected.length > 0))) {
    const parts = [
      `${expected.length - missing.length} of ${expected.length} names found`,
      missing.length ? `missing: ${some(missing)}` : '',
      unexpected.length ? `unexpected: ${some(unexpected)}` : '',
      mismatched.length ? `shape mismatch: ${some(mismatched)}` : '',
    ].filter(Boolean);
    throw new StateDictError(parts.join('; '), model.typeName, missing, unexpected, mismatched);
  }
  for (const [name, v, layout] of expected) {
    const t = given.get(name);
    if (!t) continue;
    tf.tidy(() => v.assign(tf.cast(layout ? tf.transpose(t, [...FROM_TORCH[layout]]) : t, v.dtype)));
  }
  return { missing, unexpected };
}
