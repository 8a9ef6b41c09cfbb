/**
 * The two files a training run leaves, as bytes (callers write them: atomically on disk, IndexedDB, downloads).
 * - The training state: everything a resumed run needs in one safetensors file — the model's state under
 *   `model.`, the optimizer's under `optimizer.`, and epoch, history, RNG and the run's settings in the metadata.
 * - The weights: PyTorch's names and layouts (`model.load_state_dict` takes them), with a model card in the
 *   metadata saying how to use them (net, input size, channels, classes, normalisation).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  decodePth,
  decodeSafetensors,
  encodeSafetensors,
  loadStateDict,
  pthFormat,
  stateDict,
  type Module,
} from '@convnets/nn';
import type { TrainingState } from './fit.js';

/** How to use trained weights; the weights file's metadata key `convnets` holds it as JSON. */
export interface ModelCard {
  /** The registry name the net was built with (`createModel(model, ...)`). */
  model: string;
  inputSize: number;
  inChannels: number;
  /** Class names in logit order (their count is the net's numClasses). */
  classes: readonly string[];
  /** Per-channel normalisation of [0, 1] pixels the net was trained with. */
  mean: readonly number[];
  std: readonly number[];
  /**
   * timm's `crop_pct`, for nets trained on crops (ImageNet's 0.875): at inference the image is resized so that
   * inputSize is this fraction of its shorter side, then center-cropped to inputSize. Absent: resized to inputSize.
   */
  cropPct?: number;
  /** Where a fine-tuned net started: the weights file, and the classes that net was trained for. */
  fineTunedFrom?: { weights: string; classes: readonly string[] };
}

/**
 * The base name of a run's files in its folder: `<dataset>_<model>` (`mnist_resnet18.safetensors`,
 * `.train.safetensors`), a registry name's `/` made a `-` (`folder_torchvision-resnet18`). train.py names them alike.
 */
export function runFileBase(dataset: string, model: string): string {
  return `${dataset}_${model.replaceAll('/', '-')}`;
}

/** A run's settings, any JSON; a resumed run compares those it is given with these. */
export type RunSettings = Record<string, unknown>;

/** A decoded training state: fit's `resume`, plus the settings of the run that wrote it. */
export interface SavedTraining extends TrainingState {
  run: RunSettings;
}

/** A training state or weights file that cannot be used, naming it and what was expected. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file} ${detail}`);
  }
}

const TRAINING_KEY = 'convnets.training';
const CARD_KEY = 'convnets';

/** The training state of `model` after an epoch (fit's `onCheckpoint` argument) as safetensors bytes. */
export async function encodeTrainingState(
  model: Module,
  state: TrainingState,
  run: RunSettings = {},
): Promise<Uint8Array> {
  const weights = stateDict(model);
  try {
    const tensors = new Map([
      ...[...weights].map(([k, t]) => [`model.${k}`, t] as const),
      ...[...state.optimizer].map(([k, t]) => [`optimizer.${k}`, t] as const),
    ]);
    const meta = { epoch: state.epoch, history: state.history, rng: state.rng, run };
    return await encodeSafetensors(tensors, { [TRAINING_KEY]: JSON.stringify(meta) });
  } finally {
    tf.dispose([...weights.values()]);
  }
}

/**
 * Loads a training state into `model` and returns the rest for fit's `resume` (fit takes its optimizer tensors;
 * dispose them if it never runs). Settings in `expect` must equal the saved run's; nothing is loaded
 * when they differ or the file is not a training state.
 */
export function restoreTrainingState(
  model: Module,
  bytes: Uint8Array,
  { file = 'training state', expect = {} }: { file?: string; expect?: RunSettings } = {},
): SavedTraining {
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  const part = (prefix: string) =>
    new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  const weights = part('model.');
  const optimizer = part('optimizer.');
  try {
    // Training states written by 0.1 (the CLI's own format then) kept this under `convnets`.
    const saved = metadata[TRAINING_KEY] ?? metadata[CARD_KEY];
    const meta = parseJson(saved) as Omit<SavedTraining, 'optimizer'> | undefined;
    if (typeof meta?.epoch !== 'number' || weights.size === 0)
      throw new CheckpointError(file, 'is not a convnets training state (no training metadata or no model tensors)');
    // A setting the saved run does not mention is one it did not set (null): runs saved before it existed resume.
    const before = (k: string) => JSON.stringify(meta.run[k] ?? null);
    const differs = Object.keys(expect).filter((k) => before(k) !== JSON.stringify(expect[k] ?? null));
    if (differs.length) {
      const what = differs.map((k) => `${k} (${before(k)}, now ${JSON.stringify(expect[k] ?? null)})`);
      throw new CheckpointError(file, `was made with different ${what.join(', ')}`);
    }
    loadStateDict(model, weights);
    tf.dispose([...weights.values()]);
    return { epoch: meta.epoch, history: meta.history, rng: meta.rng, run: meta.run, optimizer };
  } catch (err) {
    tf.dispose([...tensors.values()]);
    throw err;
  }
}

/** `model`'s weights in PyTorch's names and layouts, with its card (and the epoch, when given) in the metadata. */
export async function encodeWeights(
  model: Module,
  { card, epoch }: { card?: ModelCard; epoch?: number } = {},
): Promise<Uint8Array> {
  const weights = stateDict(model);
  try {
    const metadata: Record<string, string> = { format: 'pt' };
    if (epoch !== undefined) metadata.epoch = String(epoch);
    if (card) metadata[CARD_KEY] = JSON.stringify(card);
    return await encodeSafetensors(weights, metadata);
  } finally {
    tf.dispose([...weights.values()]);
  }
}

/**
 * A weights file's tensors (the caller's to dispose) and its card, when it has one (PyTorch's files do not): a
 * safetensors file, or a state dict saved by torch.save (`.pth`, read without running its pickle).
 */
export function decodeWeights(
  bytes: Uint8Array,
  file = 'weights',
): { tensors: Map<string, tf.Tensor>; card?: ModelCard } {
  if (pthFormat(bytes)) return { tensors: decodePth(bytes, file) };
  // A PyTorch name on something else: say what was expected rather than what safetensors' reader found.
  if (/\.(pth?|pt|bin|ckpt)$/i.test(file))
    throw new CheckpointError(
      file,
      'is not a PyTorch state dict: torch.save writes a zip (or before 1.6 a pickle stream)',
    );
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  if (metadata[CARD_KEY] === undefined) return { tensors };
  const card = parseJson(metadata[CARD_KEY]) as ModelCard | undefined;
  const problem = cardProblem(card);
  if (problem) {
    tf.dispose([...tensors.values()]);
    throw new CheckpointError(file, `has a convnets model card that ${problem}`);
  }
  return { tensors, card };
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function cardProblem(card: ModelCard | undefined): string | undefined {
  if (!card || typeof card !== 'object') return 'is not JSON of an object';
  const positive = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
  const numbers = (a: unknown) => Array.isArray(a) && a.length === card.inChannels && a.every(Number.isFinite);
  if (typeof card.model !== 'string') return 'has no model name';
  if (!positive(card.inputSize) || !positive(card.inChannels)) return 'needs positive integer inputSize and inChannels';
  if (!Array.isArray(card.classes) || !card.classes.length || !card.classes.every((c) => typeof c === 'string'))
    return 'needs a non-empty list of class names';
  if (!numbers(card.mean) || !numbers(card.std) || card.std.some((s) => s <= 0))
    return `needs mean and std of ${card.inChannels} numbers each (std > 0)`;
  if (card.cropPct !== undefined && !(typeof card.cropPct === 'number' && card.cropPct > 0 && card.cropPct <= 1))
    return `has cropPct ${JSON.stringify(card.cropPct)}; expected a number in (0, 1]`;
  return undefined;
}
