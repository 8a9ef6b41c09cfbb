import * as tf from '@tensorflow/tfjs-core';
import { Module, parameter } from '../module.js';
import { defaultRng } from '../random.js';
import { ShapeError, formatShape, type Shape } from '../shape.js';
import { uniform } from '../init.js';

export interface LinearOptions {
  bias?: boolean;
}

/** y = x W + b over the last axis. W is stored `[in, out]` (PyTorch's is `[out, in]`). */
export class Linear extends Module {
  static readonly typeName: string = 'Linear';

  weight: tf.Variable;
  bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true }: LinearOptions = {},
  ) {
    super();
    if (!(Number.isInteger(inFeatures) && inFeatures > 0 && Number.isInteger(outFeatures) && outFeatures > 0)) {
      throw new RangeError(`Linear(${inFeatures}, ${outFeatures}): feature counts must be positive integers`);
    }
    const bound = 1 / Math.sqrt(inFeatures);
    const rng = defaultRng();
    this.weight = parameter(uniform([inFeatures, outFeatures], bound, rng.nextSeed()));
    this.bias = bias ? parameter(uniform([outFeatures], bound, rng.nextSeed())) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = tf.matMul(x as tf.Tensor2D, this.weight as tf.Tensor as tf.Tensor2D);
    return this.bias ? tf.add(y, this.bias) : y;
  }

  protected override computeShape(input: Shape): Shape {
    if (input.length !== 2 || input[1] !== this.inFeatures) {
      throw new ShapeError(`expects input [N, ${this.inFeatures}], got ${formatShape(input)}`, this, input);
    }
    return [input[0]!, this.outFeatures];
  }

  override flops(): number {
    return 2 * this.inFeatures * this.outFeatures;
  }

  protected override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}
