/**
 * torchvision's DenseNet-121 (torchvision/models/densenet.py), registered as `torchvision/densenet121`: growth 32,
 * blocks of (6, 12, 24, 16) bottleneck layers, transitions halving the channels, and its module names
 * (`features.denseblock1.denselayer1.norm1`...), so that its state dicts — ImageNet's weights — load by name.
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@convnets/nn';
import { denseTransition, TorchvisionDenseBlock } from '@convnets/blocks';
import { TORCHVISION_WEIGHTS } from './torchvision-weights.js';
import { type ModelInfo, type ModelOptions, checked, linearHead, resolveOptions } from './options.js';

/** A torchvision DenseNet as data. */
export interface TorchvisionDensenetArch {
  growthRate: number;
  blockConfig: readonly number[];
  numInitFeatures: number;
  bnSize: number;
}

export const TORCHVISION_DENSENETS = {
  densenet121: { growthRate: 32, blockConfig: [6, 12, 24, 16], numInitFeatures: 64, bnSize: 4 },
} as const satisfies Record<string, TorchvisionDensenetArch>;

/** ImageNet's 1000 classes unless told otherwise. */
export function torchvisionDensenet(name: string, arch: TorchvisionDensenetArch, options: ModelOptions = {}) {
  const opts = resolveOptions(name, options, 224, 1000);
  const { growthRate, blockConfig, numInitFeatures, bnSize } = arch;
  const features: Record<string, ConstructorParameters<typeof Sequential>[number]> = {
    conv0: new Conv2d(opts.inChannels, numInitFeatures, 7, { stride: 2, padding: 3, bias: false }),
    norm0: new BatchNorm2d(numInitFeatures),
    relu0: new ReLU(),
    pool0: new MaxPool2d(3, { stride: 2, padding: 1 }),
  };
  let channels = numInitFeatures;
  blockConfig.forEach((layers, i) => {
    features[`denseblock${i + 1}`] = new TorchvisionDenseBlock(layers, channels, bnSize, growthRate);
    channels += layers * growthRate;
    if (i < blockConfig.length - 1) {
      features[`transition${i + 1}`] = denseTransition(channels, Math.floor(channels / 2));
      channels = Math.floor(channels / 2);
    }
  });
  features.norm5 = new BatchNorm2d(channels);
  const net = Sequential.named({
    features: Sequential.named(features),
    relu: new ReLU(), // F.relu in torchvision's forward
    avgpool: new AdaptiveAvgPool2d(1),
    flatten: new Flatten(),
    classifier: new Linear(channels, opts.numClasses),
  });
  return checked(name, net, opts);
}

/** torchvision's own fix for its DenseNet files, which name `norm.1` what the net calls `norm1` (and so on). */
const OLD_LAYER_KEY = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

export const torchvisionDensenetInfos: ModelInfo[] = Object.entries(TORCHVISION_DENSENETS).map(([variant, arch]) => ({
  name: `torchvision/${variant}`,
  description: `torchvision's ${variant.replace('densenet', 'DenseNet-')} (ImageNet layout and module names)`,
  defaultInputSize: 224,
  build: (o) => torchvisionDensenet(`torchvision/${variant}`, arch, o),
  pretrained: TORCHVISION_WEIGHTS[variant],
  head: linearHead(1, 'classifier'), // relu, avgpool, flatten and the classifier
  adaptStateDict: (key) => key.replace(OLD_LAYER_KEY, '$1$2'),
}));
