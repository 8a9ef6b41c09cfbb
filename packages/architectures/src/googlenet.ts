import { AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@convnets/nn';
import { Inception } from '@convnets/blocks';
import { type ModelInfo, type ModelOptions, checked, resolveOptions, linearHead } from './options.js';

/** Inception arguments `[c1, [c2a, c2b], [c3a, c3b], c4]`; a stage's input channels follow from the previous. */
type InceptionArgs = readonly [number, readonly [number, number], readonly [number, number], number];

/** GoogLeNet's inception stages as data: b3, b4, b5. b3 and b4 end with a max-pool, b5 with global pooling. */
const STAGES: ReadonlyArray<ReadonlyArray<InceptionArgs>> = [
  [
    [64, [96, 128], [16, 32], 32],
    [128, [128, 192], [32, 96], 64],
  ],
  [
    [192, [96, 208], [16, 48], 64],
    [160, [112, 224], [24, 64], 64],
    [128, [128, 256], [24, 64], 64],
    [112, [144, 288], [32, 64], 64],
    [256, [160, 320], [32, 128], 128],
  ],
  [
    [256, [160, 320], [32, 128], 128],
    [384, [192, 384], [48, 128], 128],
  ],
];

const outChannels = ([c1, c2, c3, c4]: InceptionArgs) => c1 + c2[1] + c3[1] + c4;

/** GoogLeNet as in the notebook (trained there at 96x96). */
export function googlenet(options: ModelOptions = {}): Sequential {
  const opts = resolveOptions('googlenet', options, googlenetInfo.defaultInputSize);
  const b1 = new Sequential(
    new Conv2d(opts.inChannels, 64, 7, { stride: 2, padding: 3 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const b2 = new Sequential(
    new Conv2d(64, 64, 1),
    new ReLU(),
    new Conv2d(64, 192, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  let channels = 192;
  const stages = STAGES.map((stage, i) => {
    const blocks = stage.map((args) => {
      const block = new Inception(channels, ...args);
      channels = outChannels(args);
      return block;
    });
    const last =
      i < STAGES.length - 1 ? new MaxPool2d(3, { stride: 2, padding: 1 }) : [new AdaptiveAvgPool2d(1), new Flatten()];
    return new Sequential(...blocks, ...[last].flat());
  });
  return checked('googlenet', new Sequential(b1, b2, ...stages, new Linear(channels, opts.numClasses)), opts);
}

export const googlenetInfo: ModelInfo = {
  name: 'googlenet',
  description: 'GoogLeNet (Inception v1)',
  defaultInputSize: 96,
  build: (o) => googlenet(o),
  head: linearHead(5, '5'),
};
