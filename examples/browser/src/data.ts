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
import type { ModelCard } from '@convnets/trainer';

export interface Data {
  train: ImageDataset;
  valid: ImageDataset;
  name: string;
  /**
   * Fine-tuning: what the page's net was made for (its card), which the data is fed as — resized to its input size,
   * normalised with its statistics — and a new head is made from where the classes differ.
   */
  from?: ModelCard;
}

export async function loadMnist(): Promise<Data> {
  const { train, test } = await loadIdxDataset(
    urlSource(new URL('mnist/', location.href).href),
    DATASETS.mnist.classes!,
  );
  return { train, valid: test, name: 'mnist' };
}

/**
 * A user's folder: `<class>/<image>` (any depth above); every fifth image is held out for validation. `from`: the
 * card of the net to fine-tune on it (the images are read with its channels).
 */
export async function loadFolder(files: FileList, from?: ModelCard): Promise<Data> {
  const entries = await Promise.all(
    [...files].map(async (f) => ({
      path: f.webkitRelativePath.split('/').slice(-2).join('/'),
      bytes: new Uint8Array(await f.arrayBuffer()),
    })),
  );
  const channels = from?.inChannels === 1 ? 1 : 3;
  const all = imageFolder(entries, files[0]?.webkitRelativePath.split('/')[0] ?? 'folder', { channels });
  if (all.classes.length < 2)
    throw new Error(`${all.source} has one class folder (${all.classes[0]}): a classifier needs two or more`);
  const pick = (keep: (i: number) => boolean) => {
    const idx = [...Array(all.length).keys()].filter(keep);
    const images = new Uint8Array(idx.length * all.pixelsPerImage);
    idx.forEach((i, k) => {
      images.set(all.get(i).image, k * all.pixelsPerImage);
    });
    const labels = Uint8Array.from(idx, (i) => all.labels[i]!);
    return new ImageDataset(images, labels, all.imageShape, all.classes, all.source);
  };
  return { train: pick((i) => i % 5 !== 4), valid: pick((i) => i % 5 === 4), name: all.source, from };
}

const statistics = new WeakMap<Data, { mean: number[]; std: number[] }>();

/**
 * The training set's per-channel mean and std, computed once per data set (a pass over every pixel); a fine-tuned
 * net's own.
 */
export function statsOf(d: Data): { mean: number[]; std: number[] } {
  if (d.from) return { mean: [...d.from.mean], std: [...d.from.std] };
  if (!statistics.has(d)) statistics.set(d, d.train.channelStats());
  return statistics.get(d)!;
}

/** The net's input: its size and channels (a fine-tuned net's are its own). */
export function inputOf(d: Data): { inputSize: number; inChannels: number } {
  const [h, , c] = d.train.imageShape;
  return d.from ? { inputSize: d.from.inputSize, inChannels: d.from.inChannels } : { inputSize: h, inChannels: c };
}

/** The notebook's transforms, normalised with the training set's statistics. */
export function transformFor(d: Data): Transform {
  const { mean, std } = statsOf(d);
  return compose(toTensor(), resize(inputOf(d).inputSize), normalize(mean, std)); // resize: a no-op at the native size
}
