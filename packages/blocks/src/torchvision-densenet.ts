/**
 * torchvision's DenseNet blocks (torchvision/models/densenet.py), beside the notebook's `DenseBlock`: each layer a
 * bottleneck (BatchNorm, ReLU, 1x1 convolution to bn_size x growth channels, BatchNorm, ReLU, 3x3 convolution to
 * growth), all bias-free. Module names are torchvision's (`denselayer1.norm1`, `transition1.conv`), so its state
 * dicts load by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AvgPool2d, BatchNorm2d, Conv2d, Module, ReLU, Sequential } from '@convnets/nn';

/** torchvision's `_DenseLayer` (without dropout: drop_rate is 0 in every torchvision DenseNet). */
export function denseLayer(inChannels: number, growthRate: number, bnSize: number): Sequential {
  const width = bnSize * growthRate;
  return Sequential.named({
    norm1: new BatchNorm2d(inChannels),
    relu1: new ReLU(),
    conv1: new Conv2d(inChannels, width, 1, { bias: false }),
    norm2: new BatchNorm2d(width),
    relu2: new ReLU(),
    conv2: new Conv2d(width, growthRate, 3, { padding: 1, bias: false }),
  });
}

/** torchvision's `_DenseBlock`: layers `denselayer1`..., each fed every earlier output, all concatenated. */
export class TorchvisionDenseBlock extends Module {
  static readonly typeName: string = '_DenseBlock';

  constructor(numLayers: number, inChannels: number, bnSize: number, growthRate: number) {
    super();
    for (let i = 0; i < numLayers; i++) {
      const layer = denseLayer(inChannels + i * growthRate, growthRate, bnSize);
      Object.defineProperty(this, `denselayer${i + 1}`, { value: layer, enumerable: true, configurable: true });
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.children().reduce((features, layer) => tf.concat([features, layer.forward(features)], 3), x);
  }
}

/** torchvision's `_Transition`: BatchNorm, ReLU, a bias-free 1x1 convolution, a 2x2 average pool. */
export function denseTransition(inChannels: number, outChannels: number): Sequential {
  return Sequential.named({
    norm: new BatchNorm2d(inChannels),
    relu: new ReLU(),
    conv: new Conv2d(inChannels, outChannels, 1, { bias: false }),
    pool: new AvgPool2d(2, { stride: 2 }),
  });
}
