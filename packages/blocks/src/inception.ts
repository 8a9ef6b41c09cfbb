import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, MaxPool2d, Module } from '@convnets/nn';

/**
 * GoogLeNet's four parallel paths — 1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max-pool then 1x1 —
 * concatenated along channels. Output channels: c1 + c2[1] + c3[1] + c4. Field names are PyTorch's.
 */
export class Inception extends Module {
  static readonly typeName: string = 'Inception';

  p1_1: Conv2d;
  p2_1: Conv2d;
  p2_2: Conv2d;
  p3_1: Conv2d;
  p3_2: Conv2d;
  p4_1: MaxPool2d;
  p4_2: Conv2d;

  constructor(
    inChannels: number,
    c1: number,
    c2: readonly [number, number],
    c3: readonly [number, number],
    c4: number,
  ) {
    super();
    this.p1_1 = new Conv2d(inChannels, c1, 1);
    this.p2_1 = new Conv2d(inChannels, c2[0], 1);
    this.p2_2 = new Conv2d(c2[0], c2[1], 3, { padding: 1 });
    this.p3_1 = new Conv2d(inChannels, c3[0], 1);
    this.p3_2 = new Conv2d(c3[0], c3[1], 5, { padding: 2 });
    this.p4_1 = new MaxPool2d(3, { stride: 1, padding: 1 });
    this.p4_2 = new Conv2d(inChannels, c4, 1);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const p1 = tf.relu(this.p1_1.forward(x));
    const p2 = tf.relu(this.p2_2.forward(tf.relu(this.p2_1.forward(x))));
    const p3 = tf.relu(this.p3_2.forward(tf.relu(this.p3_1.forward(x))));
    const p4 = tf.relu(this.p4_2.forward(this.p4_1.forward(x)));
    return tf.concat([p1, p2, p3, p4], 3);
  }
}
