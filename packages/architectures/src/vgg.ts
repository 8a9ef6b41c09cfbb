import { Flatten, Sequential } from '@convnets/nn';
import { classifier4096, vggBlock } from '@convnets/blocks';
import { type ModelInfo, type ModelOptions, checked, flattenedSize, resolveOptions, linearHead } from './options.js';

/** The notebook's input size for VGG. */
const VGG_INPUT_SIZE = 224;

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
  const opts = resolveOptions(name, options, VGG_INPUT_SIZE);
  let inChannels = opts.inChannels;
  const blocks = convArch.map(([numConvs, outChannels]) => {
    const block = vggBlock(numConvs, inChannels, outChannels);
    inChannels = outChannels;
    return block;
  });
  const flat = flattenedSize(name, blocks, opts);
  return checked(name, new Sequential(...blocks, new Flatten(), ...classifier4096(flat, opts.numClasses)), opts);
}

export const vgg11Info: ModelInfo = {
  name: 'vgg11',
  description: 'VGG-11',
  defaultInputSize: VGG_INPUT_SIZE,
  build: (o) => vgg(VGG11, o, 'vgg11'),
  head: linearHead(5, '12'),
};

export const vgg11SmallInfo: ModelInfo = {
  name: 'vgg11-small',
  description: 'VGG-11 with a quarter of the channels',
  defaultInputSize: VGG_INPUT_SIZE,
  build: (o) => vgg(VGG11_SMALL, o, 'vgg11-small'),
  head: linearHead(5, '12'),
};
