import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  type Module,
} from '@convnets/nn';
import { DenseBlock, transitionBlock } from '@convnets/blocks';
import { checked, resolveOptions, type ModelOptions } from './options.js';

/** A DenseNet variant as data. */
export interface DensenetArch {
  /** Channels of the stem convolution. */
  stemChannels: number;
  growthRate: number;
  /** Conv blocks in each dense block; a transition halving channels and resolution follows all but the last. */
  blocks: readonly number[];
}

/** The notebook's DenseNet: growth 32, four dense blocks of four. */
export const DENSENET: DensenetArch = { stemChannels: 64, growthRate: 32, blocks: [4, 4, 4, 4] };

export function densenet(options: ModelOptions = {}, arch: DensenetArch = DENSENET, name = 'densenet'): Sequential {
  const opts = resolveOptions(name, options, 224);
  const b1 = new Sequential(
    new Conv2d(opts.inChannels, arch.stemChannels, 7, { stride: 2, padding: 3 }),
    new BatchNorm2d(arch.stemChannels),
    new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  let channels = arch.stemChannels;
  const body: Module[] = [];
  arch.blocks.forEach((numConvs, i) => {
    body.push(new DenseBlock(numConvs, channels, arch.growthRate));
    channels += numConvs * arch.growthRate;
    if (i !== arch.blocks.length - 1) {
      body.push(transitionBlock(channels, Math.floor(channels / 2)));
      channels = Math.floor(channels / 2);
    }
  });
  return checked(
    name,
    new Sequential(
      b1,
      ...body,
      new BatchNorm2d(channels),
      new ReLU(),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
      new Linear(channels, opts.numClasses),
    ),
    opts,
  );
}
