/** Weights files into models, for every command that loads one. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { getModelInfo, listModels, netFromStateDict } from '@convnets/architectures';
import { cacheDirectory, download } from '@convnets/datasets/node';
import { IMAGENET, compose, normalize, resize, toTensor, type ImageDataset, type Transform } from '@convnets/datasets';
import { type Module, StateDictError } from '@convnets/nn';
import { decodeWeights, type ModelCard } from '@convnets/trainer';
import { writeAtomically } from '@convnets/trainer/node';
import * as tf from '@tensorflow/tfjs-core';
import { loadDataset, type DatasetName, type DatasetSource } from './options.js';

/** A weights file as read: its tensors and its model card (files from PyTorch have none). */
export interface WeightsFile {
  file: string;
  tensors: Map<string, tf.Tensor>;
  card?: ModelCard;
  /** The net whose published weights these are (`--weights torchvision/resnet18`). */
  model?: string;
  /** A card made from timm's `config.json` beside the file (its `model` a guess from the architecture's name). */
  config?: ModelCard;
}

/** What `convnets weights get` keeps beside a downloaded file: where it came from and on what terms. */
export interface PretrainedRecord {
  model: string;
  file: string;
  url: string;
  sha256: string;
  source: string;
  license: string;
}

/** Published weights are kept in the cache, a folder per net: `<cache>/weights/torchvision-resnet18/`. */
const pretrainedFolder = (model: string) => path.join(cacheDirectory(), 'weights', model.replace('/', '-'));
const recordOf = (model: string) => path.join(pretrainedFolder(model), 'weights.json');

/** What `weights get` recorded for `model`, where its file is still in the cache. */
async function cachedRecord(model: string): Promise<PretrainedRecord | undefined> {
  const text = await readFile(recordOf(model), 'utf8').catch(() => undefined);
  const record = text === undefined ? undefined : (JSON.parse(text) as PretrainedRecord);
  return record && existsSync(record.file) ? record : undefined;
}

/** The published weights of `model` (an error naming the nets that have some if it has none). */
function publishedWeights(model: string) {
  const { pretrained } = getModelInfo(model);
  if (!pretrained) {
    const have = listModels().filter((m) => getModelInfo(m).pretrained);
    throw new Error(`${model} has no published weights; these do: ${have.join(', ')}`);
  }
  return pretrained;
}

/**
 * Downloads `model`'s published weights (or `url`: a file named, as torchvision's are, `<name>-<SHA-256 prefix>.<ext>`)
 * into the cache once, checked against the SHA-256 prefix in the file name, and records where they came from.
 */
export async function getPretrained(model: string, { url }: { url?: string } = {}) {
  const published = publishedWeights(model);
  const from = url ?? published.url;
  const name = path.basename(new URL(from).pathname);
  const prefix = /-([0-9a-f]{8,64})\.[a-z]+$/.exec(name)?.[1];
  if (!prefix)
    throw new Error(`--url: ${name} has no SHA-256 prefix in its name (as torchvision's: name-1a2b3c4d.pth)`);
  const record = await cachedRecord(model);
  if (record?.url === from) return { record, downloaded: false };
  const file = await download(from, { sha256: prefix, cacheDir: pretrainedFolder(model) });
  const sha256 = createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
  const fresh: PretrainedRecord = {
    model,
    file,
    url: from,
    sha256,
    source: published.source,
    license: published.license,
  };
  await writeAtomically(recordOf(model), `${JSON.stringify(fresh, null, 2)}\n`);
  return { record: fresh, downloaded: true };
}

/**
 * The file a `--weights` value names: a path, or a net with published weights (`torchvision/resnet18`) that
 * `convnets weights get` has put in the cache. Nothing is downloaded here.
 */
async function weightsPath(value: string, flag: string): Promise<{ file: string; model?: string }> {
  if (existsSync(value) || !listModels().includes(value)) return { file: value };
  publishedWeights(value);
  const record = await cachedRecord(value);
  if (!record)
    throw new Error(
      `${flag} ${value}: its weights are not in the cache (${pretrainedFolder(value)}): run ` +
        `\`convnets weights get ${value}\` first, or give the weights file`,
    );
  return { file: record.file, model: value };
}

/** Reads a weights file (safetensors, or a PyTorch `.pth` state dict) given by `flag`, or a net's published ones. */
export async function readWeights(value: string, flag: string): Promise<WeightsFile> {
  const { file, model } = await weightsPath(value, flag);
  const bytes = await readFile(file).catch(() => {
    throw new Error(`${flag}: cannot read ${file}`);
  });
  const weights: WeightsFile = { file, model, ...decodeWeights(new Uint8Array(bytes), file) };
  if (weights.card) return weights;
  const config = await configCard(file).catch((err: Error) => {
    tf.dispose([...weights.tensors.values()]);
    throw err;
  });
  return config ? { ...weights, config } : weights;
}

/** The part of a timm / Hugging Face `config.json` a card is made from. */
interface TimmConfig {
  architecture?: string;
  num_classes?: number;
  label_names?: string[];
  pretrained_cfg?: { input_size?: number[]; mean?: number[]; std?: number[]; crop_pct?: number; num_classes?: number };
}

/**
 * The card of a `model.safetensors` from timm or the Hugging Face hub: its `config.json` beside it, whose
 * `pretrained_cfg` gives the input size and channels, mean/std and crop (`crop_pct`), with `label_names` or, for
 * 1000 classes, ImageNet's names. The net is `torchvision/<architecture>` where that is registered (timm's ResNets
 * carry torchvision's module names); otherwise `--model` names it. No config.json: no card.
 */
async function configCard(file: string): Promise<ModelCard | undefined> {
  if (!file.endsWith('.safetensors')) return undefined;
  const where = path.join(path.dirname(file), 'config.json');
  const text = await readFile(where, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let config: TimmConfig;
  try {
    config = JSON.parse(text) as TimmConfig;
  } catch {
    throw new Error(`${where}: is not JSON (expected timm's config.json with a pretrained_cfg)`);
  }
  const cfg = config.pretrained_cfg;
  const size = cfg?.input_size;
  if (!cfg || !Array.isArray(size) || size.length !== 3 || !Array.isArray(cfg.mean) || !Array.isArray(cfg.std))
    throw new Error(`${where}: has no pretrained_cfg with input_size [C, H, W], mean and std (timm's config.json)`);
  const numClasses = config.num_classes ?? cfg.num_classes ?? 0;
  const classes =
    config.label_names ??
    (numClasses === IMAGENET.classes.length
      ? IMAGENET.classes
      : Array.from({ length: numClasses }, (_, i) => String(i)));
  const architecture = config.architecture?.split('.')[0];
  const model = listModels().includes(`torchvision/${architecture}`)
    ? `torchvision/${architecture}`
    : `${architecture}`;
  return {
    model,
    inputSize: size[1]!,
    inChannels: size[0]!,
    classes,
    mean: cfg.mean,
    std: cfg.std,
    cropPct: cfg.crop_pct,
  };
}

/** What the flags say about the net; each unset one comes from the weights' card, else the command's fallback. */
export interface NetFlags {
  model?: string;
  imageSize?: number;
  inChannels?: number;
  numClasses?: number;
}

/**
 * Builds the net a weights file fits and loads it (the tensors are disposed here). A file that does not fit fails
 * naming the file, the model and a summary (how many names matched, the first few that did not).
 */
export function loadNet(
  { file, tensors, card: own, config, model: published }: WeightsFile,
  flags: NetFlags,
  fallback: { inputSize?: number; inChannels: number; numClasses: number },
): { model: Module; name: string; inputSize: number; inChannels: number; numClasses: number } {
  const card = own ?? config;
  const name = flags.model ?? published ?? card?.model;
  if (!name) {
    tf.dispose([...tensors.values()]);
    throw new Error(`--model: ${file} has no model card (e.g. it was saved by PyTorch): name the net with --model`);
  }
  try {
    if (own && flags.model && flags.model !== own.model)
      throw new Error(`--model ${flags.model}: ${file} holds a ${own.model} (its model card says so)`);
    const inputSize = flags.imageSize ?? card?.inputSize ?? fallback.inputSize ?? getModelInfo(name).defaultInputSize;
    const inChannels = flags.inChannels ?? card?.inChannels ?? fallback.inChannels;
    // Without a card, the head's weight says how many classes (torchvision's ImageNet files: 1000).
    const head = tensors.get(`${getModelInfo(name).head.path}.weight`);
    const numClasses = flags.numClasses ?? card?.classes.length ?? head?.shape[0] ?? fallback.numClasses;
    // A file from PyTorch is read as its library's loader reads it (torchvision's DenseNet keys, GoogLeNet's aux).
    const model = netFromStateDict(name, tensors, { inputSize, inChannels, numClasses, fromPytorch: !own });
    return { model, name, inputSize, inChannels, numClasses };
  } catch (err) {
    if (err instanceof StateDictError) throw new Error(`${file} does not fit ${name}: ${err.summary}`);
    throw err;
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/**
 * The card a cardless file of torchvision's ImageNet weights goes with (a torchvision net, 3 channels in, 1000 classes
 * out): ImageNet's classes, mean and std, and its resize-256-crop-224 preprocessing (at the net's input size).
 */
export function imagenetCard(net: { name: string; inChannels: number; numClasses: number }): ModelCard | undefined {
  const fits =
    net.name.startsWith('torchvision/') && net.inChannels === 3 && net.numClasses === IMAGENET.classes.length;
  if (!fits) return undefined;
  const { classes, mean, std, inputSize, cropPct } = IMAGENET;
  return { model: net.name, inputSize, inChannels: 3, classes, mean, std, cropPct };
}

/** A weights file's card: its own, or for a net's published weights without one (torchvision's), ImageNet's. */
export function cardOf({ card, config, model, tensors }: WeightsFile): ModelCard | undefined {
  if (card || config || !model) return card ?? config;
  const head = tensors.get(`${getModelInfo(model).head.path}.weight`);
  return head && imagenetCard({ name: model, inChannels: 3, numClasses: head.shape[0]! });
}

/** What `trainedNetAndTestSet` reads: the weights, the dataset, and any flags that override the card. */
export interface TrainedNetFlags extends NetFlags, DatasetSource {
  checkpoint: string;
  dataset: DatasetName;
}

/**
 * Trained weights with the test split they are judged on, and the transform that feeds it to them. With a model
 * card only the test split is read (its normalisation is in the card); without one (a PyTorch file), the training
 * split's statistics normalise, as in training. A test set with other classes or channels than the card's is refused.
 */
export async function trainedNetAndTestSet(flags: TrainedNetFlags) {
  const weights = await readWeights(flags.checkpoint, '--checkpoint');
  const { card } = weights;
  let test: ImageDataset;
  let stats: { mean: readonly number[]; std: readonly number[] };
  try {
    if (card) {
      // A folder's pictures load at the net's size, so they may have any size (as in training).
      const imageSize = flags.dataset === 'folder' ? (flags.imageSize ?? card.inputSize) : undefined;
      const source = { ...flags, inChannels: flags.inChannels ?? card.inChannels, imageSize };
      ({ test } = await loadDataset(flags.dataset, source, ['test']));
      stats = card;
      if (card.classes.join('\n') !== test.classes.join('\n') || card.inChannels !== test.imageShape[2])
        throw new Error(
          `${flags.checkpoint} was trained on ${card.inChannels}-channel images of ${card.classes.join(', ')}; ` +
            `${flags.dataset} test has ${test.imageShape[2]}-channel images of ${test.classes.join(', ')}`,
        );
    } else {
      const splits = await loadDataset(flags.dataset, flags);
      test = splits.test;
      stats = splits.train.channelStats();
    }
  } catch (err) {
    tf.dispose([...weights.tensors.values()]);
    throw err;
  }
  const [h, , channels] = test.imageShape;
  const net = loadNet(weights, flags, { inputSize: h, inChannels: channels, numClasses: test.classes.length });
  // resize is a no-op at the native size
  const transform: Transform = compose(toTensor(), resize(net.inputSize), normalize(stats.mean, stats.std));
  return { ...net, test, transform };
}
