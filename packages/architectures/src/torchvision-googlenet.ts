/**
 * torchvision's GoogLeNet (torchvision/models/googlenet.py), registered as `torchvision/googlenet`: BatchNorm'd
 * convolutions, 3x3 where the paper's third path has 5x5, ceil-mode pools, and its module names, so that its state
 * dicts — ImageNet's weights — load by name. Built as torchvision builds it for those weights: `transform_input` on
 * (the input, normalised with ImageNet's mean and std, is re-normalised to (x - 0.5) / 0.5, the weights' own
 * convention) and no auxiliary classifiers (torchvision drops them after loading; so does `adaptStateDict`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdaptiveAvgPool2d, Dropout, Flatten, Linear, MaxPool2d, Module, Sequential } from '@convnets/nn';
import { BasicConv2d, TorchvisionInception } from '@convnets/blocks';
import { TORCHVISION_WEIGHTS } from './torchvision-weights.js';
import { type ModelInfo, type ModelOptions, checked, linearHead, resolveOptions } from './options.js';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** torchvision's `_transform_input`: x * (std / 0.5) + (mean - 0.5) / 0.5, channel by channel. */
export class TransformInput extends Module {
  static readonly typeName: string = 'TransformInput';

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      tf.add(
        tf.mul(x, tf.tensor1d(IMAGENET_STD.map((s) => s / 0.5))),
        tf.tensor1d(IMAGENET_MEAN.map((m) => (m - 0.5) / 0.5)),
      ),
    );
  }
}

/** Each Inception's (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj), in torchvision's order. */
const INCEPTIONS = {
  inception3a: [192, 64, 96, 128, 16, 32, 32],
  inception3b: [256, 128, 128, 192, 32, 96, 64],
  inception4a: [480, 192, 96, 208, 16, 48, 64],
  inception4b: [512, 160, 112, 224, 24, 64, 64],
  inception4c: [512, 128, 128, 256, 24, 64, 64],
  inception4d: [512, 112, 144, 288, 32, 64, 64],
  inception4e: [528, 256, 160, 320, 32, 128, 128],
  inception5a: [832, 256, 160, 320, 32, 128, 128],
  inception5b: [832, 384, 192, 384, 48, 128, 128],
} as const;

function inception(name: keyof typeof INCEPTIONS): TorchvisionInception {
  const [inChannels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj] = INCEPTIONS[name];
  return new TorchvisionInception(inChannels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj);
}
const pool = (kernel: number) => new MaxPool2d(kernel, { stride: 2, ceilMode: true });

/** ImageNet's 1000 classes unless told otherwise; RGB only (the input transform is ImageNet's). */
export function torchvisionGooglenet(options: ModelOptions = {}): Sequential {
  const opts = resolveOptions('torchvision/googlenet', options, 224, 1000);
  if (opts.inChannels !== 3)
    throw new RangeError(
      `torchvision/googlenet: option inChannels must be 3 (its input transform is ImageNet's RGB), got ${opts.inChannels}`,
    );
  const net = Sequential.named({
    transform_input: new TransformInput(),
    conv1: new BasicConv2d(opts.inChannels, 64, 7, { stride: 2, padding: 3 }),
    maxpool1: pool(3),
    conv2: new BasicConv2d(64, 64, 1),
    conv3: new BasicConv2d(64, 192, 3, { padding: 1 }),
    maxpool2: pool(3),
    inception3a: inception('inception3a'),
    inception3b: inception('inception3b'),
    maxpool3: pool(3),
    inception4a: inception('inception4a'),
    inception4b: inception('inception4b'),
    inception4c: inception('inception4c'),
    inception4d: inception('inception4d'),
    inception4e: inception('inception4e'),
    maxpool4: pool(2),
    inception5a: inception('inception5a'),
    inception5b: inception('inception5b'),
    avgpool: new AdaptiveAvgPool2d(1),
    flatten: new Flatten(), // torch.flatten in torchvision's forward: no parameters, no state-dict key
    dropout: new Dropout(0.2),
    fc: new Linear(1024, opts.numClasses),
  });
  return checked('torchvision/googlenet', net, opts);
}

export const torchvisionGooglenetInfo: ModelInfo = {
  name: 'torchvision/googlenet',
  description: "torchvision's GoogLeNet (ImageNet layout and module names)",
  defaultInputSize: 224,
  build: (o) => torchvisionGooglenet(o),
  pretrained: TORCHVISION_WEIGHTS.googlenet,
  head: linearHead(17, 'fc'), // avgpool, flatten, dropout and fc
  // torchvision's file holds the auxiliary classifiers its training used; torchvision drops them after loading.
  adaptStateDict: (key) => (/^aux[12]\./.test(key) ? undefined : key),
};
