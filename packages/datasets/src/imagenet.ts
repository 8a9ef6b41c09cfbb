/**
 * ImageNet as its pretrained nets see it: the 1000 class names in logit order, the mean and std their inputs are
 * normalised with, and torchvision's evaluation size (resize the shorter side to 256, center-crop 224: a crop of
 * 0.875, timm's `crop_pct`).
 */
import { IMAGENET_CLASSES } from './imagenet-classes.js';
import { centerCrop, compose, normalize, resize, toTensor, type Transform } from './transforms.js';

export { IMAGENET_CLASSES };

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** What an ImageNet net's input is made with: its preprocessing (`inferenceTransform`) and its classes. */
export const IMAGENET = {
  classes: IMAGENET_CLASSES,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  inputSize: 224,
  cropPct: 0.875,
} as const;

/** How a net's input is made at inference: its size, normalisation and, for nets trained on crops, the crop. */
export interface InferencePreprocessing {
  inputSize: number;
  mean: readonly number[];
  std: readonly number[];
  /**
   * timm's `crop_pct`: resize (antialiased) so that the input is this fraction of the shorter side, then take the
   * central inputSize x inputSize (ImageNet's 0.875: resize 256, crop 224, as torchvision's weights' transforms).
   * Absent: the whole image is resized to inputSize x inputSize.
   */
  cropPct?: number;
}

/** Raw 0..255 pixels of one image (any size) to a net's input, as torchvision and timm prepare it for evaluation. */
export function inferenceTransform({ inputSize, mean, std, cropPct }: InferencePreprocessing): Transform {
  if (cropPct === undefined) return compose(toTensor(), resize([inputSize, inputSize]), normalize(mean, std));
  if (!(cropPct > 0 && cropPct <= 1))
    throw new RangeError(`inferenceTransform: cropPct must be in (0, 1], got ${cropPct}`);
  return compose(
    toTensor(),
    resize(Math.floor(inputSize / cropPct), { antialias: true }),
    centerCrop(inputSize),
    normalize(mean, std),
  );
}
