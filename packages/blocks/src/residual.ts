import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, Module } from '@convnets/nn';

export interface ResidualOptions {
  /** Project the shortcut with a 1x1 convolution (needed when channels or resolution change). */
  use1x1conv?: boolean;
  strides?: number;
}

/** ResNet's basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). Field names are PyTorch's. */
export class Residual extends Module {
  static readonly typeName: string = 'Residual';

  conv1: Conv2d;
  conv2: Conv2d;
  conv3: Conv2d | null;
  bn1: BatchNorm2d;
  bn2: BatchNorm2d;

  constructor(inputChannels: number, numChannels: number, { use1x1conv = false, strides = 1 }: ResidualOptions = {}) {
    super();
    this.conv1 = new Conv2d(inputChannels, numChannels, 3, { padding: 1, stride: strides });
    this.conv2 = new Conv2d(numChannels, numChannels, 3, { padding: 1 });
    this.conv3 = use1x1conv ? new Conv2d(inputChannels, numChannels, 1, { stride: strides }) : null;
    this.bn1 = new BatchNorm2d(numChannels);
    this.bn2 = new BatchNorm2d(numChannels);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.bn2.forward(this.conv2.forward(tf.relu(this.bn1.forward(this.conv1.forward(x)))));
    const shortcut = this.conv3 ? this.conv3.forward(x) : x;
    return tf.relu(tf.add(y, shortcut));
  }
}
