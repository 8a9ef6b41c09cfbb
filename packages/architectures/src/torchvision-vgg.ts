/**
 * torchvision's VGGs (torchvision/models/vgg.py), registered as `torchvision/vgg11|vgg11_bn|vgg16`: its
 * configurations as data, BatchNorm after each convolution in the `_bn` variants, an adaptive 7x7 average pool, and
 * its module names (`features.*`, `classifier.*`), so that its state dicts — ImageNet's weights — load by name.
 */
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  MaxPool2d,
  type Module,
  ReLU,
  Sequential,
} from '@convnets/nn';
import { TORCHVISION_WEIGHTS } from './torchvision-weights.js';
import { type ModelInfo, type ModelOptions, checked, linearHead, resolveOptions } from './options.js';

/** A torchvision VGG configuration: a 3x3 convolution's channels, or 'M' for a 2x2 max-pool. */
export type TorchvisionVggConfig = ReadonlyArray<number | 'M'>;

const A: TorchvisionVggConfig = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'];
const D: TorchvisionVggConfig = [
  64,
  64,
  'M',
  128,
  128,
  'M',
  256,
  256,
  256,
  'M',
  512,
  512,
  512,
  'M',
  512,
  512,
  512,
  'M',
];

export const TORCHVISION_VGGS = {
  vgg11: { config: A, batchNorm: false },
  vgg11_bn: { config: A, batchNorm: true },
  vgg16: { config: D, batchNorm: false },
} as const satisfies Record<string, { config: TorchvisionVggConfig; batchNorm: boolean }>;

/** torchvision's `make_layers`: one flat Sequential, so the layer indices are its. */
function features(config: TorchvisionVggConfig, inChannels: number, batchNorm: boolean): Sequential {
  const layers: Module[] = [];
  let channels = inChannels;
  for (const v of config) {
    if (v === 'M') {
      layers.push(new MaxPool2d(2, { stride: 2 }));
      continue;
    }
    layers.push(new Conv2d(channels, v, 3, { padding: 1 }));
    if (batchNorm) layers.push(new BatchNorm2d(v));
    layers.push(new ReLU());
    channels = v;
  }
  return new Sequential(...layers);
}

/** ImageNet's 1000 classes unless told otherwise. */
export function torchvisionVgg(name: string, variant: keyof typeof TORCHVISION_VGGS, options: ModelOptions = {}) {
  const opts = resolveOptions(name, options, 224, 1000);
  const { config, batchNorm } = TORCHVISION_VGGS[variant];
  const classifier = new Sequential(
    new Linear(512 * 7 * 7, 4096),
    new ReLU(),
    new Dropout(0.5),
    new Linear(4096, 4096),
    new ReLU(),
    new Dropout(0.5),
    new Linear(4096, opts.numClasses),
  );
  const net = Sequential.named({
    features: features(config, opts.inChannels, batchNorm),
    avgpool: new AdaptiveAvgPool2d(7),
    flatten: new Flatten(), // torch.flatten in torchvision's forward: no parameters, no state-dict key
    classifier,
  });
  return checked(name, net, opts);
}

export const torchvisionVggInfos: ModelInfo[] = (
  Object.keys(TORCHVISION_VGGS) as (keyof typeof TORCHVISION_VGGS)[]
).map((variant) => ({
  name: `torchvision/${variant}`,
  description: `torchvision's ${variant.replace('vgg', 'VGG-').replace('_bn', ' with BatchNorm')} (ImageNet layout and module names)`,
  defaultInputSize: 224,
  build: (o) => torchvisionVgg(`torchvision/${variant}`, variant, o),
  pretrained: TORCHVISION_WEIGHTS[variant],
  head: linearHead(1, 'classifier.6'), // avgpool, flatten and the classifier
}));
