/**
 * torchvision's GoogLeNet blocks (torchvision/models/googlenet.py), beside the notebook's `Inception`: every
 * convolution bias-free and BatchNorm'd (`BasicConv2d`), and the third path's second convolution 3x3 where the
 * paper (and the notebook) has 5x5 — torchvision's known deviation, which its ImageNet weights were trained with.
 * Field names are torchvision's, so its state dicts load by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, type Conv2dOptions, MaxPool2d, Module, Sequential } from '@convnets/nn';

/** relu(bn(conv(x))): a bias-free convolution and a BatchNorm with eps 0.001 (the ReLU is functional, as there). */
export class BasicConv2d extends Module {
  static readonly typeName: string = 'BasicConv2d';

  conv: Conv2d;
  bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Omit<Conv2dOptions, 'bias'> = {}) {
    super();
    this.conv = new Conv2d(inChannels, outChannels, kernelSize, { ...options, bias: false });
    this.bn = new BatchNorm2d(outChannels, { eps: 0.001 });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(this.bn.forward(this.conv.forward(x)));
  }
}

/**
 * Four paths concatenated along channels — 1x1; 1x1 then 3x3; 1x1 then 3x3; a 3x3 max-pool then 1x1 — with
 * torchvision's constructor arguments (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj).
 */
export class TorchvisionInception extends Module {
  static readonly typeName: string = 'Inception';

  branch1: BasicConv2d;
  branch2: Sequential;
  branch3: Sequential;
  branch4: Sequential;

  constructor(
    inChannels: number,
    ch1x1: number,
    ch3x3red: number,
    ch3x3: number,
    ch5x5red: number,
    ch5x5: number,
    poolProj: number,
  ) {
    super();
    this.branch1 = new BasicConv2d(inChannels, ch1x1, 1);
    this.branch2 = new Sequential(
      new BasicConv2d(inChannels, ch3x3red, 1),
      new BasicConv2d(ch3x3red, ch3x3, 3, { padding: 1 }),
    );
    this.branch3 = new Sequential(
      new BasicConv2d(inChannels, ch5x5red, 1),
      new BasicConv2d(ch5x5red, ch5x5, 3, { padding: 1 }),
    );
    this.branch4 = new Sequential(
      new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true }),
      new BasicConv2d(inChannels, poolProj, 1),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    const paths = [this.branch1, this.branch2, this.branch3, this.branch4].map((branch) => branch.forward(x));
    return tf.concat(paths, 3);
  }
}
