/**
 * CIFAR-10's official binary release: `data_batch_1..5.bin` and `test_batch.bin`, each a run of 3073-byte
 * records (1 label byte, then 1024 R, 1024 G, 1024 B bytes, row-major). Pixels are reordered to HWC once here.
 */
import { ImageDataset, loadSplits, type DatasetSplits, type Split } from './dataset.js';
import { DatasetError } from './errors.js';
import type { FileSource } from './mnist.js';
import { gunzip } from './gzip.js';
import { readTar } from './tar.js';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** The official archive and its published MD5. */
export const CIFAR10_BINARY = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
  folder: 'cifar-10-batches-bin',
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** Parses one batch file into HWC pixels and labels. */
export function parseCifarBatch(bytes: Uint8Array, file: string): { images: Uint8Array; labels: Uint8Array } {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new DatasetError(
      file,
      `is ${bytes.length} bytes, expected a whole number of ${RECORD}-byte records (1 label + 32x32x3 pixels)`,
    );
  }
  const count = bytes.length / RECORD;
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const record = n * RECORD;
    const label = bytes[record]!;
    if (label >= CIFAR10_CLASSES.length)
      throw new DatasetError(file, `record ${n} has label ${label}, expected 0..9`, record);
    labels[n] = label;
    const out = n * 3 * PLANE;
    for (let c = 0; c < 3; c++) {
      const plane = record + 1 + c * PLANE;
      for (let p = 0; p < PLANE; p++) images[out + p * 3 + c] = bytes[plane + p]!;
    }
  }
  return { images, labels };
}

/** Encodes HWC pixels and labels as a CIFAR-10 batch file (for tests and for users' own data). */
export function encodeCifarBatch(images: Uint8Array, labels: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length * RECORD);
  labels.forEach((label, n) => {
    out[n * RECORD] = label;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < PLANE; p++) out[n * RECORD + 1 + c * PLANE + p] = images[n * 3 * PLANE + p * 3 + c]!;
  });
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function readBatches(source: FileSource, names: readonly string[], split: string): Promise<ImageDataset> {
  const parts = await Promise.all(
    names.map(async (name) => {
      const bytes = (await source.read(name)) ?? (await source.read(`${CIFAR10_BINARY.folder}/${name}`));
      if (!bytes)
        throw new DatasetError(
          `${source.describe}/${name}`,
          `not found (nor in ${CIFAR10_BINARY.folder}/): expected the CIFAR-10 binary release`,
        );
      return parseCifarBatch(bytes, `${source.describe}/${name}`);
    }),
  );
  return new ImageDataset(
    concat(parts.map((p) => p.images)),
    concat(parts.map((p) => p.labels)),
    [SIDE, SIDE, 3],
    CIFAR10_CLASSES,
    `${source.describe} (${split})`,
  );
}

/** The splits (default: both) from the batch files, found directly in `source` or in its `cifar-10-batches-bin/`. */
export function loadCifar10Binary<S extends Split = Split>(
  source: FileSource,
  splits?: readonly S[],
): Promise<Pick<DatasetSplits, S>> {
  return loadSplits(splits, (split) => readBatches(source, CIFAR10_BINARY[split], split));
}

/** Both splits from the bytes of `cifar-10-binary.tar.gz`, in memory (the browser path). */
export async function cifar10FromArchive(
  archive: Uint8Array,
  name = CIFAR10_BINARY.url.split('/').pop()!,
): Promise<DatasetSplits> {
  const files = new Map(readTar(await gunzip(archive, name), name).map((e) => [e.path, e.data]));
  return loadCifar10Binary({ describe: name, read: async (file) => files.get(file) ?? null });
}
