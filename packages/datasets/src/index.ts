export { DatasetError } from './errors.js';
export { parseIdx, encodeIdx, type IdxArray } from './idx.js';
export { ImageDataset, type Sample } from './dataset.js';
export { loadIdxDataset, urlSource, gunzip, MNIST_CLASSES, FASHION_MNIST_CLASSES, type FileSource, type MnistSplits, type Split } from './mnist.js';
export { compose, toTensor, resize, normalize, randomHorizontalFlip, randomCrop, type Transform, type TransformContext } from './transforms.js';
export { DataLoader, type DataLoaderOptions, type Batch } from './loader.js';
