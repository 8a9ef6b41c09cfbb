import { AdaptiveAvgPool2d, Dropout, Flatten, MaxPool2d, Sequential } from '@convnets/nn';
import { ninBlock } from '@convnets/blocks';
import { type ModelInfo, type ModelOptions, checked, resolveOptions } from './options.js';

/** Network in Network: NiN blocks and max-pools, the last block producing one channel per class, averaged. */
export function nin(options: ModelOptions = {}): Sequential {
  const opts = resolveOptions('nin', options, ninInfo.defaultInputSize);
  return checked(
    'nin',
    new Sequential(
      ninBlock(opts.inChannels, 96, 11, 4, 0),
      new MaxPool2d(3, { stride: 2 }),
      ninBlock(96, 256, 5, 1, 2),
      new MaxPool2d(3, { stride: 2 }),
      ninBlock(256, 384, 3, 1, 1),
      new MaxPool2d(3, { stride: 2 }),
      new Dropout(0.5),
      ninBlock(384, opts.numClasses, 3, 1, 1),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
    ),
    opts,
  );
}

export const ninInfo: ModelInfo = {
  name: 'nin',
  description: 'Network in Network',
  defaultInputSize: 224,
  build: (o) => nin(o),
  // The last NiN block gives one channel per class: a new one has the old one's input channels.
  head: {
    classifierStart: 7,
    path: '7',
    make: (old, numClasses) => ninBlock((old as Sequential)[0]!.parameters()[0]!.shape[2]!, numClasses, 3, 1, 1),
  },
};
