import { Conv2d, ReLU, Sequential, type Pair } from '@convnets/nn';

/** One spatial convolution followed by two 1x1 convolutions ("MLP over channels"), each with ReLU. */
export function ninBlock(
  inChannels: number,
  outChannels: number,
  kernelSize: Pair,
  strides: Pair,
  padding: Pair,
): Sequential {
  return new Sequential(
    new Conv2d(inChannels, outChannels, kernelSize, { stride: strides, padding }),
    new ReLU(),
    new Conv2d(outChannels, outChannels, 1),
    new ReLU(),
    new Conv2d(outChannels, outChannels, 1),
    new ReLU(),
  );
}
