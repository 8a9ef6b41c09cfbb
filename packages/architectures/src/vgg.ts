import { Dropout, Flatten, Linear, ReLU, Sequential } from '@convnets/nn';
import { vggBlock } from '@convnets/blocks';
import { checked, flattenedSize, resolveOptions, type ModelOptions } from './options.js';

/** A VGG variant as data: one `[numConvs, outChannels]` pair per block. */
export type VggArch = ReadonlyArray<readonly [number, number]>;

export const VGG11: VggArch = [
  [1, 64],
  [1, 128],
  [2, 256],
  [2, 512],
  [2, 512],
];
/** The notebook's smaller VGG-11: every block's channels divided by 4. */
export const VGG11_SMALL: VggArch = VGG11.map(([n, c]) => [n, c / 4] as const);

/** VGG: the blocks of `convArch`, then the 4096-4096 classifier with dropout. */
export function vgg(convArch: VggArch, options: ModelOptions = {}, name = 'vgg'): Sequential {
  const opts = resolveOptions(name, options, 224);
  let inChannels = opts.inChannels;
  const blocks = convArch.map(([numConvs, outChannels]) => {
    const block = vggBlock(numConvs, inChannels, outChannels);
    inChannels = outChannels;
    return block;
  });
  const flat = flattenedSize(name, blocks, opts);
  return checked(
    name,
    new Sequential(
      ...blocks,
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
