export { DatasetError } from './errors.js';
export { parseIdx, encodeIdx, type IdxArray } from './idx.js';
export { ImageDataset, SPLITS, type Sample, type DatasetSplits, type Split } from './dataset.js';
export {
  loadIdxDataset,
  urlSource,
  type UrlSourceOptions,
  MNIST_CLASSES,
  FASHION_MNIST_CLASSES,
  type FileSource,
} from './mnist.js';
/** @deprecated the old name of DatasetSplits */
export type { DatasetSplits as MnistSplits } from './dataset.js';
export { gunzip } from './gzip.js';
export {
  CIFAR10_CLASSES,
  CIFAR10_BINARY,
  parseCifarBatch,
  encodeCifarBatch,
  loadCifar10Binary,
  cifar10FromArchive,
} from './cifar.js';
export {
  decodeImage,
  imageFolder,
  isImageFile,
  type DecodedImage,
  type ImageFile,
  type ImageFolderOptions,
} from './images.js';
export { readTar, writeTar, safeEntryPath, type TarEntry } from './tar.js';
export {
  compose,
  toTensor,
  resize,
  centerCrop,
  normalize,
  randomHorizontalFlip,
  randomCrop,
  randomResizedCrop,
  parseAugmentation,
  trainTransform,
  type Augmentation,
  type RandomResizedCropOptions,
  type ResizeOptions,
  type Transform,
  type TransformContext,
} from './transforms.js';
export {
  IMAGENET,
  IMAGENET_CLASSES,
  IMAGENET_MEAN,
  IMAGENET_STD,
  inferenceTransform,
  type InferencePreprocessing,
} from './imagenet.js';
export { DataLoader, sampleAsBatch, type DataLoaderOptions, type Batch } from './loader.js';
export { DATASETS, DATASET_NAMES, getDatasetInfo, type DatasetInfo, type DatasetName } from './registry.js';
export { mnistStyle, type MnistStyleOptions } from './mnist-style.js';
