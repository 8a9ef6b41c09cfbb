import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@convnets/nn';
import { checked, flattenedSize, resolveOptions, type ModelOptions } from './options.js';

/** AlexNet as in the notebook (one tower, 96-256-384-384-256 channels, two 4096-wide hidden layers). */
export function alexnet(options: ModelOptions = {}): Sequential {
  const opts = resolveOptions('alexnet', options, 224);
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
  return checked(
    'alexnet',
    new Sequential(
      ...features,
      new Flatten(),
      new Linear(flat, 4096),
      new ReLU(),
      new Dropout(0.5),
      new Linear(4096, 4096),
      new ReLU(),
      new Dropout(0.5),
      new Linear(4096, opts.numClasses),
    ),
    opts,
  );
}
