import { Conv2d, Flatten, MaxPool2d, ReLU, Sequential } from '@convnets/nn';
import { classifier4096 } from '@convnets/blocks';
import { type ModelInfo, type ModelOptions, checked, flattenedSize, resolveOptions, linearHead } from './options.js';

/** AlexNet as in the notebook (one tower, 96-256-384-384-256 channels, two 4096-wide hidden layers). */
export function alexnet(options: ModelOptions = {}): Sequential {
  const opts = resolveOptions('alexnet', options, alexnetInfo.defaultInputSize);
  const features = [
    new Conv2d(opts.inChannels, 96, 11, { stride: 4, padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(96, 256, 5, { padding: 2 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(256, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 256, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
  ];
  const flat = flattenedSize('alexnet', features, opts);
  return checked('alexnet', new Sequential(...features, new Flatten(), ...classifier4096(flat, opts.numClasses)), opts);
}

export const alexnetInfo: ModelInfo = {
  name: 'alexnet',
  description: 'AlexNet (notebook variant)',
  defaultInputSize: 224,
  build: (o) => alexnet(o),
  head: linearHead(13, '20'),
};
