/** Weights files into models, for every command that loads one. */
import { readFile } from 'node:fs/promises';
import { adaptStateDict, createModel, getModelInfo } from '@convnets/architectures';
import { compose, normalize, resize, toTensor, type ImageDataset, type Transform } from '@convnets/datasets';
import { loadStateDict, type Module, StateDictError } from '@convnets/nn';
import { decodeWeights, type ModelCard } from '@convnets/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { loadDataset, type DatasetName, type DatasetSource } from './options.js';

/** A weights file as read: its tensors and its model card (files from PyTorch have none). */
export interface WeightsFile {
  file: string;
  tensors: Map<string, tf.Tensor>;
  card?: ModelCard;
}

/** Reads a weights file (safetensors, or a PyTorch `.pth` state dict) given by `flag`. */
export async function readWeights(file: string, flag: string): Promise<WeightsFile> {
  const bytes = await readFile(file).catch(() => {
    throw new Error(`${flag}: cannot read ${file}`);
  });
  return { file, ...decodeWeights(new Uint8Array(bytes), file) };
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
  { file, tensors, card }: WeightsFile,
  flags: NetFlags,
  fallback: { inputSize?: number; inChannels: number; numClasses: number },
): { model: Module; name: string; inputSize: number; inChannels: number } {
  const name = flags.model ?? card?.model;
  if (!name) {
    tf.dispose([...tensors.values()]);
    throw new Error(`--model: ${file} has no model card (e.g. it was saved by PyTorch): name the net with --model`);
  }
  let model: Module | undefined;
  try {
    if (card && flags.model && flags.model !== card.model)
      throw new Error(`--model ${flags.model}: ${file} holds a ${card.model} (its model card says so)`);
    const inputSize = flags.imageSize ?? card?.inputSize ?? fallback.inputSize ?? getModelInfo(name).defaultInputSize;
    const inChannels = flags.inChannels ?? card?.inChannels ?? fallback.inChannels;
    // Without a card, the head's weight says how many classes (torchvision's ImageNet files: 1000).
    const head = tensors.get(`${getModelInfo(name).head.path}.weight`);
    const numClasses = flags.numClasses ?? card?.classes.length ?? head?.shape[0] ?? fallback.numClasses;
    model = createModel(name, { inputSize, inChannels, numClasses });
    // A file from PyTorch is read as its library's loader reads it (torchvision's DenseNet keys, GoogLeNet's aux).
    loadStateDict(model, card ? tensors : adaptStateDict(name, tensors));
    return { model, name, inputSize, inChannels };
  } catch (err) {
    model?.dispose();
    if (err instanceof StateDictError) throw new Error(`${file} does not fit ${name}: ${err.summary}`);
    throw err;
  } finally {
    tf.dispose([...tensors.values()]);
  }
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
      ({ test } = await loadDataset(flags.dataset, { ...flags, inChannels: flags.inChannels ?? card.inChannels }, [
        'test',
      ]));
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
