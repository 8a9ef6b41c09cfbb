/**
 * Weight initialisers, after `torch.nn.init`. Each takes a shape in our layout (conv `[kh, kw, in, out]`,
 * linear `[in, out]`) and a seed, and returns a new tensor; `initWeights` applies one to a whole model
 * see `initWeights` for a whole model.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Shape } from './shape.js';

/** fan_in / fan_out as PyTorch computes them (receptive field times channels). */
export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length === 2) return { fanIn: shape[0]!, fanOut: shape[1]! };
  if (shape.length === 4) {
    const receptive = shape[0]! * shape[1]!;
    return { fanIn: shape[2]! * receptive, fanOut: shape[3]! * receptive };
  }
  throw new RangeError(`fans: expects a linear [in, out] or conv [kh, kw, in, out] shape, got [${shape.join(', ')}]`);
}

/** U(-bound, bound). */
export function uniform(shape: Shape, bound: number, seed: number): tf.Tensor {
  return tf.randomUniform(shape as number[], -bound, bound, 'float32', seed);
}

export interface SeedOption {
  seed: number;
}

/** Glorot / Xavier uniform: U(±gain * sqrt(6 / (fanIn + fanOut))). */
export function xavierUniform(shape: Shape, { seed, gain = 1 }: SeedOption & { gain?: number }): tf.Tensor {
  const { fanIn, fanOut } = fans(shape);
  return uniform(shape, gain * Math.sqrt(6 / (fanIn + fanOut)), seed);
}

export type FanMode = 'fanIn' | 'fanOut';

/** He / Kaiming normal for ReLU: N(0, 2 / fan). */
export function kaimingNormal(shape: Shape, { seed, mode = 'fanIn' }: SeedOption & { mode?: FanMode }): tf.Tensor {
  const fan = fans(shape)[mode];
  return tf.randomNormal(shape as number[], 0, Math.sqrt(2 / fan), 'float32', seed);
}

/** Constant initialisers take the same options so any initialiser can be passed where one is expected. */
export function zeros(shape: Shape, _options?: Partial<SeedOption>): tf.Tensor {
  return tf.zeros(shape as number[]);
}

export function ones(shape: Shape, _options?: Partial<SeedOption>): tf.Tensor {
  return tf.ones(shape as number[]);
}

export type Initializer = (shape: Shape, options: SeedOption) => tf.Tensor;

export const initializers = { xavier: xavierUniform, kaiming: kaimingNormal } as const satisfies Record<
  string,
  Initializer
>;
export type InitScheme = keyof typeof initializers;
