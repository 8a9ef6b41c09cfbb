/**
 * Where torchvision's ImageNet weights for its nets are published (torchvision 0.14's `IMAGENET1K_V1` of each), and
 * on what terms. File names end in the first 8 hex digits of the file's SHA-256, which a download is checked against.
 */

/** A published weights file for a registered net. */
export interface PretrainedWeights {
  url: string;
  /** Who trained them, how, and where that is written down. */
  source: string;
  license: string;
  /** ImageNet-1k validation top-1 accuracy as published (224 px, resize 256, center crop). */
  top1: number;
}

const LICENSE =
  'BSD-3-Clause (torchvision). torchvision adds: pretrained weights may carry terms from the data they were trained on ' +
  '(ImageNet); it is your responsibility to determine whether you may use them for your use case.';

const torchvision = (file: string, top1: number, recipe: string): PretrainedWeights => ({
  url: `https://download.pytorch.org/models/${file}`,
  source: `torchvision's IMAGENET1K_V1 weights (ImageNet-1k), trained by the torchvision team: ${recipe}`,
  license: LICENSE,
  top1,
});

const RESNET_RECIPE = 'https://github.com/pytorch/vision/tree/main/references/classification#resnet';

/** By torchvision's function name. */
export const TORCHVISION_WEIGHTS: Record<string, PretrainedWeights> = {
  alexnet: torchvision(
    'alexnet-owt-7be5be79.pth',
    56.522,
    'https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg',
  ),
  vgg11: torchvision(
    'vgg11-8a719046.pth',
    69.02,
    'https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg',
  ),
  vgg11_bn: torchvision(
    'vgg11_bn-6002323d.pth',
    70.37,
    'https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg',
  ),
  vgg16: torchvision(
    'vgg16-397923af.pth',
    71.592,
    'https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg',
  ),
  googlenet: torchvision(
    'googlenet-1378be20.pth',
    69.778,
    'https://github.com/pytorch/vision/tree/main/references/classification#googlenet',
  ),
  resnet18: torchvision('resnet18-f37072fd.pth', 69.758, RESNET_RECIPE),
  resnet34: torchvision('resnet34-b627a593.pth', 73.314, RESNET_RECIPE),
  resnet50: torchvision('resnet50-0676ba61.pth', 76.13, RESNET_RECIPE),
  densenet121: torchvision('densenet121-a639ec97.pth', 74.434, 'https://github.com/pytorch/vision/pull/116'),
};
