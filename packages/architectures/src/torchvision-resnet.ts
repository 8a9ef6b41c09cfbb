/**
 * torchvision's ResNets (torchvision/models/resnet.py), registered as `torchvision/resnet18|34|50`: its stem, its
 * blocks (bias-free, a BatchNorm'd shortcut) and its module names, so that its state dicts — ImageNet's weights —
 * load by name. Variants are data; one builder makes every stage.
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@convnets/nn';
import { BasicBlock, Bottleneck } from '@convnets/blocks';
import { TORCHVISION_WEIGHTS } from './torchvision-weights.js';
import { type ModelInfo, type ModelOptions, checked, linearHead, resolveOptions } from './options.js';

type Block = typeof BasicBlock | typeof Bottleneck;

/** A torchvision ResNet as data: its block and the blocks per stage. */
export interface TorchvisionResnetArch {
  block: Block;
  layers: readonly [number, number, number, number];
}

export const TORCHVISION_RESNETS = {
  resnet18: { block: BasicBlock, layers: [2, 2, 2, 2] },
  resnet34: { block: BasicBlock, layers: [3, 4, 6, 3] },
  resnet50: { block: Bottleneck, layers: [3, 4, 6, 3] },
} as const satisfies Record<string, TorchvisionResnetArch>;

/** Stage `i` (torchvision's `layer{i+1}`): `planes` wide, the first block carrying the stride. */
function stage(block: Block, inChannels: number, planes: number, blocks: number, stride: number): Sequential {
  const out = planes * block.expansion;
  return new Sequential(
    ...Array.from({ length: blocks }, (_, i) => new block(i === 0 ? inChannels : out, planes, i === 0 ? stride : 1)),
  );
}

/** ImageNet's 1000 classes unless told otherwise. */
export function torchvisionResnet(name: string, arch: TorchvisionResnetArch, options: ModelOptions = {}): Sequential {
  const opts = resolveOptions(name, options, 224, 1000);
  const { block, layers } = arch;
  const planes = [64, 128, 256, 512];
  const stages = Object.fromEntries(
    planes.map((p, i) => [
      `layer${i + 1}`,
      stage(block, i === 0 ? 64 : planes[i - 1]! * block.expansion, p, layers[i]!, i === 0 ? 1 : 2),
    ]),
  );
  const net = Sequential.named({
    conv1: new Conv2d(opts.inChannels, 64, 7, { stride: 2, padding: 3, bias: false }),
    bn1: new BatchNorm2d(64),
    relu: new ReLU(),
    maxpool: new MaxPool2d(3, { stride: 2, padding: 1 }),
    ...stages,
    avgpool: new AdaptiveAvgPool2d(1),
    flatten: new Flatten(), // torch.flatten in torchvision's forward: no parameters, no state-dict key
    fc: new Linear(512 * block.expansion, opts.numClasses),
  });
  return checked(name, net, opts);
}

export const torchvisionResnetInfos: ModelInfo[] = Object.entries(TORCHVISION_RESNETS).map(([variant, arch]) => ({
  name: `torchvision/${variant}`,
  description: `torchvision's ${variant.replace('resnet', 'ResNet-')} (ImageNet layout and module names)`,
  defaultInputSize: 224,
  build: (o) => torchvisionResnet(`torchvision/${variant}`, arch, o),
  pretrained: TORCHVISION_WEIGHTS[variant],
  head: linearHead(8, 'fc'), // avgpool, flatten and fc
}));
