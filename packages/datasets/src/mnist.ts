/**
 * MNIST and Fashion-MNIST from their four IDX files, read through a `FileSource` (a directory in Node, a
 * base URL in the browser). `.gz` files are decompressed.
 */
import { ImageDataset, loadSplits, type DatasetSplits, type Split } from './dataset.js';
import { DatasetError } from './errors.js';
import { gunzip } from './gzip.js';
import { parseIdx, type IdxArray } from './idx.js';

/** Returns a file's bytes by name, or null when it does not exist. */
export type FileSource = {
  describe: string;
  read(name: string): Promise<Uint8Array | null>;
};

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

/** The IDX file `name` (or `name.gz`) and where it was read from, for errors about its contents. */
async function readIdx(source: FileSource, name: string): Promise<IdxArray & { file: string }> {
  const plain = await source.read(name);
  const file = `${source.describe}/${name}`;
  if (plain) return { ...parseIdx(plain, file), file };
  const gz = await source.read(`${name}.gz`);
  if (gz) return { ...parseIdx(await gunzip(gz, `${file}.gz`), `${file}.gz`), file: `${file}.gz` };
  throw new DatasetError(`${source.describe}/${name}`, `not found (nor ${name}.gz)`);
}

async function readSplit(source: FileSource, split: Split, classes: readonly string[]): Promise<ImageDataset> {
  const { images: imagesName, labels: labelsName } = FILES[split];
  // Both files at once; when both fail, the images file's error is reported (the same one every run).
  const read = await Promise.allSettled([readIdx(source, imagesName), readIdx(source, labelsName)]);
  const [images, labels] = read.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  }) as [IdxArray & { file: string }, IdxArray & { file: string }];
  const where = `${source.describe}/${imagesName}`;
  if (images.shape.length !== 3)
    throw new DatasetError(where, `has ${images.shape.length} dimensions, expected 3 (count, rows, columns)`);
  if (labels.shape.length !== 1)
    throw new DatasetError(labels.file, `has ${labels.shape.length} dimensions, expected 1`);
  if (images.shape[0] !== labels.shape[0]) {
    throw new DatasetError(where, `${images.shape[0]} images but ${labelsName} has ${labels.shape[0]} labels`);
  }
  const bad = labels.data.findIndex((label) => label >= classes.length);
  if (bad >= 0) {
    const expected = `expected 0..${classes.length - 1}`;
    throw new DatasetError(labels.file, `label ${labels.data[bad]} (entry ${bad}) is out of range: ${expected}`);
  }
  const [, rows, cols] = images.shape as [number, number, number];
  return new ImageDataset(images.data, labels.data, [rows, cols, 1], classes, `${source.describe} (${split})`);
}

/** The splits (default: both) of an MNIST-format set from `source`; a split's files are read only when asked for. */
export function loadIdxDataset<S extends Split = Split>(
  source: FileSource,
  classes: readonly string[],
  splits?: readonly S[],
): Promise<Pick<DatasetSplits, S>> {
  return loadSplits(splits, (split) => readSplit(source, split, classes));
}

export interface UrlSourceOptions {
  /** SHA-256 (hex) of files by name: a file that does not match is rejected, never used. */
  sha256?: Record<string, string>;
  fetchImpl?: typeof fetch;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A FileSource over HTTP(S): `${baseUrl}/${name}`; a 404 means "no such file". Works in browsers and Node. */
export function urlSource(baseUrl: string, { sha256 = {}, fetchImpl = fetch }: UrlSourceOptions = {}): FileSource {
  const base = baseUrl.replace(/\/$/, '');
  return {
    describe: base,
    async read(name) {
      const url = `${base}/${name}`;
      const response = await fetchImpl(url);
      if (response.status === 404) return null;
      if (!response.ok) throw new DatasetError(url, `HTTP ${response.status} ${response.statusText}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      const expected = sha256[name]?.toLowerCase();
      if (expected) {
        const actual = await sha256Hex(bytes);
        if (actual !== expected)
          throw new DatasetError(url, `SHA-256 is ${actual}, expected ${expected}: corrupt or wrong file, not used`);
      }
      return bytes;
    },
  };
}
