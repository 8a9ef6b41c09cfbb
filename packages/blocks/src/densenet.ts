import * as tf from '@tensorflow/tfjs-core';
import { AvgPool2d, BatchNorm2d, Conv2d, Module, ReLU, Sequential } from '@convnets/nn';

/** DenseNet's pre-activation unit: BatchNorm, ReLU, then a 3x3 convolution. */
export function convBlock(inputChannels: number, numChannels: number): Sequential {
  return new Sequential(
    new BatchNorm2d(inputChannels),
    new ReLU(),
    new Conv2d(inputChannels, numChannels, 3, { padding: 1 }),
  );
}

/** `numConvs` conv blocks, each fed the concatenation of the input and every earlier block's output. */
export class DenseBlock extends Module {
  static readonly typeName: string = 'DenseBlock';

  net: Sequential;

  constructor(numConvs: number, inputChannels: number, numChannels: number) {
    super();
    const blocks = Array.from({ length: numConvs }, (_, i) => convBlock(numChannels * i + inputChannels, numChannels));
    this.net = new Sequential(...blocks);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.net.layers.reduce((h, blk) => tf.concat([h, blk.forward(h)], 3), x);
  }
}

/** Halves height and width and sets the channel count: BatchNorm, ReLU, 1x1 conv, 2x2 average pool. */
export function transitionBlock(inputChannels: number, numChannels: number): Sequential {
  return new Sequential(
    new BatchNorm2d(inputChannels),
    new ReLU(),
    new Conv2d(inputChannels, numChannels, 1),
    new AvgPool2d(2, { stride: 2 }),
  );
}
