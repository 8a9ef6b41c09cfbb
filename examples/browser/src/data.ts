/** The app's data: MNIST served beside the page, or a user's image folder split into training and validation. */
import {
  ImageDataset,
  DATASETS,
  compose,
  imageFolder,
  loadIdxDataset,
  normalize,
  resize,
  toTensor,
  urlSource,
  type Transform,
} from '@convnets/datasets';

export interface Data {
  train: ImageDataset;
  valid: ImageDataset;
  name: string;
}

export async function loadMnist(): Promise<Data> {
  const { train, test } = await loadIdxDataset(
    urlSource(new URL('mnist/', location.href).href),
    DATASETS.mnist.classes!,
  );
  return { train, valid: test, name: 'mnist' };
}

/** A user's folder: `<class>/<image>` (any depth above); every fifth image is held out for validation. */
export async function loadFolder(files: FileList): Promise<Data> {
  const entries = await Promise.all(
    [...files].map(async (f) => ({
      path: f.webkitRelativePath.split('/').slice(-2).join('/'),
      bytes: new Uint8Array(await f.arrayBuffer()),
    })),
  );
  const all = imageFolder(entries, files[0]?.webkitRelativePath.split('/')[0] ?? 'folder');
  const pick = (keep: (i: number) => boolean) => {
    const idx = [...Array(all.length).keys()].filter(keep);
    const images = new Uint8Array(idx.length * all.pixelsPerImage);
    idx.forEach((i, k) => {
      images.set(all.get(i).image, k * all.pixelsPerImage);
    });
    const labels = Uint8Array.from(idx, (i) => all.labels[i]!);
    return new ImageDataset(images, labels, all.imageShape, all.classes, all.source);
  };
  return { train: pick((i) => i % 5 !== 4), valid: pick((i) => i % 5 === 4), name: all.source };
}

const statistics = new WeakMap<Data, { mean: number[]; std: number[] }>();

/** The training set's per-channel mean and std, computed once per data set (a pass over every pixel). */
export function statsOf(d: Data): { mean: number[]; std: number[] } {
  if (!statistics.has(d)) statistics.set(d, d.train.channelStats());
  return statistics.get(d)!;
}

/** The notebook's transforms, normalised with the training set's statistics. */
export function transformFor(d: Data): Transform {
  const { mean, std } = statsOf(d);
  return compose(toTensor(), resize(d.train.imageShape[0]), normalize(mean, std)); // resize: a no-op at the native size
}
