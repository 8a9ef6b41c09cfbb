/**
 * A net with a block that exists only here, in the tests: nothing in convnets knows it, so ONNX and model.py can only
 * come from tracing its forward. Two branches (one with a ReLU), a concat, a 1x1 convolution back to the input's
 * channels, an add of the input scaled by a parameter of the block's own, and a ReLU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdaptiveAvgPool2d, Conv2d, Flatten, Linear, Module, Sequential, parameter } from '@convnets/nn';

export class TwoBranch extends Module {
  wide: Conv2d;
  narrow: Conv2d;
  merge: Conv2d;
  gate: tf.Variable;

  constructor(channels: number) {
    super();
    this.wide = new Conv2d(channels, 6, 3, { padding: 1 });
    this.narrow = new Conv2d(channels, 2, 1);
    this.merge = new Conv2d(8, channels, 1);
    this.gate = parameter(tf.linspace(0.5, 1.5, channels));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const joined = tf.concat([tf.relu(this.wide.forward(x)), this.narrow.forward(x)], 3);
    return tf.relu(tf.add(this.merge.forward(joined), tf.mul(x, this.gate)));
  }
}

/** Seeded convnets layers around two TwoBranch blocks, at `channels` in and 10 logits out. */
export function twoBranchNet(channels: number): Sequential {
  return new Sequential(
    new Conv2d(channels, 4, 3),
    new TwoBranch(4),
    new TwoBranch(4),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(4, 10),
  );
}
