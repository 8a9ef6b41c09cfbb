import { Conv2d, MaxPool2d, ReLU, Sequential, type Module } from '@convnets/nn';

/** `numConvs` 3x3 convolutions (padding 1) with ReLU, then a 2x2 max-pool that halves height and width. */
export function vggBlock(numConvs: number, inChannels: number, outChannels: number): Sequential {
  const layers: Module[] = [];
  for (let i = 0; i < numConvs; i++) {
    layers.push(new Conv2d(i === 0 ? inChannels : outChannels, outChannels, 3, { padding: 1 }), new ReLU());
  }
  layers.push(new MaxPool2d(2, { stride: 2 }));
  return new Sequential(...layers);
}
