import { AdaptiveAvgPool2d, BatchNorm2d, Flatten, Linear, ReLU, Sequential, type Module } from '@convnets/nn';
import { DenseBlock, stem, transitionBlock } from '@convnets/blocks';
import { type ModelInfo, type ModelOptions, checked, resolveOptions, linearHead } from './options.js';

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

export function densenet(arch: DensenetArch = DENSENET, options: ModelOptions = {}, name = 'densenet'): Sequential {
  const opts = resolveOptions(name, options, densenetInfo.defaultInputSize);
  const b1 = stem(opts.inChannels, arch.stemChannels);
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

export const densenetInfo: ModelInfo = {
  name: 'densenet',
  description: 'DenseNet, growth 32, blocks [4, 4, 4, 4]',
  defaultInputSize: 224,
  build: (o) => densenet(DENSENET, o),
  head: linearHead(10, '12'),
};
