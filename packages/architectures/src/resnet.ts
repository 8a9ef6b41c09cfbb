import { AdaptiveAvgPool2d, Flatten, Linear, Sequential } from '@convnets/nn';
import { Residual, stem } from '@convnets/blocks';
import { type ModelInfo, type ModelOptions, checked, resolveOptions, linearHead } from './options.js';

/** A ResNet variant as data: residual blocks per stage and each stage's channels. */
export interface ResnetArch {
  blocks: readonly number[];
  channels: readonly number[];
}

/** The notebook's ResNet-18. */
export const RESNET18: ResnetArch = { blocks: [2, 2, 2, 2], channels: [64, 128, 256, 512] };

/**
 * One stage: the first block of every stage but the first halves the resolution and projects the
 * shortcut with a 1x1 conv; the rest keep the shape.
 */
function stage(inChannels: number, channels: number, numBlocks: number, first: boolean): Sequential {
  return new Sequential(
    ...Array.from({ length: numBlocks }, (_, i) =>
      i === 0 && !first
        ? new Residual(inChannels, channels, { use1x1conv: true, strides: 2 })
        : new Residual(channels, channels),
    ),
  );
}

export function resnet(arch: ResnetArch, options: ModelOptions = {}, name = 'resnet'): Sequential {
  const opts = resolveOptions(name, options, resnet18Info.defaultInputSize);
  const b1 = stem(opts.inChannels, arch.channels[0]!);
  const stages = arch.channels.map((channels, i) =>
    stage(i === 0 ? arch.channels[0]! : arch.channels[i - 1]!, channels, arch.blocks[i]!, i === 0),
  );
  const last = arch.channels[arch.channels.length - 1]!;
  return checked(
    name,
    new Sequential(b1, ...stages, new AdaptiveAvgPool2d(1), new Flatten(), new Linear(last, opts.numClasses)),
    opts,
  );
}

export function resnet18(options: ModelOptions = {}): Sequential {
  return resnet(RESNET18, options, 'resnet18');
}

export const resnet18Info: ModelInfo = {
  name: 'resnet18',
  description: 'ResNet-18 (notebook variant)',
  defaultInputSize: 224,
  build: (o) => resnet18(o),
  head: linearHead(5, '7'),
};
