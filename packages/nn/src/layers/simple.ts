/** Layers without parameters whose shape rules are one line each. */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module.js';
import { Rng, defaultRng } from '../random.js';
import { ShapeError, formatShape, type Shape } from '../shape.js';

export class ReLU extends Module {
  static readonly typeName: string = 'ReLU';

  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }

  protected override computeShape(input: Shape): Shape {
    return input;
  }
}

export class Identity extends Module {
  static readonly typeName: string = 'Identity';

  forward(x: tf.Tensor): tf.Tensor {
    return x;
  }

  protected override computeShape(input: Shape): Shape {
    return input;
  }
}

/**
 * Flattens NHWC to `[N, C*H*W]` in PyTorch's (C, H, W) feature order, so the first Linear after a
 * conv stack has the same weights here as in PyTorch. Costs one small transpose per forward.
 */
export class Flatten extends Module {
  static readonly typeName: string = 'Flatten';

  forward(x: tf.Tensor): tf.Tensor {
    const [n, ...rest] = x.shape;
    if (x.rank === 4 && (x.shape[1] !== 1 || x.shape[2] !== 1)) {
      return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n!, -1]);
    }
    return tf.reshape(x, [n!, rest.reduce((a, b) => a * b, 1)]);
  }

  protected override computeShape(input: Shape): Shape {
    if (input.length < 2) throw new ShapeError(`expects a batch, got ${formatShape(input)}`, this, input);
    return [input[0]!, input.slice(1).reduce((a, b) => a * b, 1)];
  }

  protected override extraRepr(): string {
    return 'start_dim=1, end_dim=-1';
  }
}

export interface DropoutOptions {
  /** Seed of this layer's own generator; drawn from the default generator when omitted. */
  seed?: number;
}

/** Zeroes each element with probability p in train mode (scaling the rest by 1/(1-p)); identity in eval. */
export class Dropout extends Module {
  static readonly typeName: string = 'Dropout';

  /** Its own generator, so the masks are reproducible and the state can be checkpointed. */
  readonly rng: Rng;

  constructor(
    readonly p = 0.5,
    { seed }: DropoutOptions = {},
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
    this.rng = new Rng(seed ?? defaultRng().nextSeed());
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.dropout(x, this.p, undefined, this.rng.nextSeed());
  }

  protected override computeShape(input: Shape): Shape {
    return input;
  }

  protected override extraRepr(): string {
    return `p=${this.p}, inplace=False`;
  }
}
