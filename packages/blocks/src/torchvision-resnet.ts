/**
 * torchvision's ResNet blocks (torchvision/models/resnet.py), beside the notebook's `Residual`: bias-free
 * convolutions, and a BatchNorm after the shortcut's 1x1 projection (`downsample`). Field names are torchvision's, so
 * its state dicts (and ImageNet weights) load by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, Module, Sequential } from '@convnets/nn';

/** The shortcut's projection where the block changes channels or resolution: conv1x1 then BatchNorm. */
function downsample(inChannels: number, outChannels: number, stride: number): Sequential | null {
  if (stride === 1 && inChannels === outChannels) return null;
  return new Sequential(new Conv2d(inChannels, outChannels, 1, { stride, bias: false }), new BatchNorm2d(outChannels));
}

/** ResNet-18/34's block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3x3 convolutions. */
export class BasicBlock extends Module {
  static readonly typeName: string = 'BasicBlock';
  static readonly expansion = 1;

  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: Sequential | null;

  constructor(inChannels: number, planes: number, stride = 1) {
    super();
    this.conv1 = new Conv2d(inChannels, planes, 3, { stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.downsample = downsample(inChannels, planes, stride);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.bn2.forward(this.conv2.forward(tf.relu(this.bn1.forward(this.conv1.forward(x)))));
    return tf.relu(tf.add(y, this.downsample ? this.downsample.forward(x) : x));
  }
}

/**
 * ResNet-50's block: 1x1 down to `planes`, 3x3 (carrying the stride, as torchvision's "ResNet V1.5"), 1x1 up to
 * 4 * planes, plus the shortcut.
 */
export class Bottleneck extends Module {
  static readonly typeName: string = 'Bottleneck';
  static readonly expansion = 4;

  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  downsample: Sequential | null;

  constructor(inChannels: number, planes: number, stride = 1) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = new Conv2d(inChannels, planes, 1, { bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv3 = new Conv2d(planes, out, 1, { bias: false });
    this.bn3 = new BatchNorm2d(out);
    this.downsample = downsample(inChannels, out, stride);
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y = tf.relu(this.bn1.forward(this.conv1.forward(x)));
    y = tf.relu(this.bn2.forward(this.conv2.forward(y)));
    y = this.bn3.forward(this.conv3.forward(y));
    return tf.relu(tf.add(y, this.downsample ? this.downsample.forward(x) : x));
  }
}
