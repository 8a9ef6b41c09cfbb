/**
 * The net and its training run: the notebook's recipe (SGD with momentum, one-cycle) through the trainer, Stop and
 * Resume through the trainer's training state (kept as bytes after every epoch), and weights files with their card.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  createModel,
  featurePaths,
  getModelInfo,
  listModels,
  netFromStateDict,
  replaceHead,
} from '@convnets/architectures';
import { findWebgpuAdapter, initBackend, moveTensors, type BackendRequest } from '@convnets/backend';
import {
  DataLoader,
  IMAGENET,
  parseAugmentation,
  sampleAsBatch,
  trainTransform,
  type Transform,
} from '@convnets/datasets';
import { toOnnx } from '@convnets/export';
import { freeze, loadStateDict, StateDictError, unfreeze, type Module } from '@convnets/nn';
import {
  MAIN_JOB_RECIPE,
  decodeWeights,
  encodeTrainingState,
  encodeWeights,
  fit,
  recipeOptimizer,
  restoreTrainingState,
  type ModelCard,
  type RunSettings,
} from '@convnets/trainer';
import { inputOf, statsOf, transformFor, type Data } from './data.js';
import {
  $,
  app,
  form,
  offerLayers,
  params,
  resetCurves,
  setStatus,
  showBackend,
  showConfusion,
  showCurves,
  showGrid,
  showInside,
  showMemory,
  showProgress,
  showSummary,
  webglRenderer,
} from './page.js';

let model: Module | undefined;
let modelKey = '';
/** The card of pretrained weights loaded into the page (what the net takes and names), until the net is rebuilt. */
let pretrained: ModelCard | undefined;
/** The training state after the last completed epoch: what Resume continues from. */
let lastEpoch: { epoch: number; state: Uint8Array } | undefined;
let controller: AbortController | undefined;

export const session = {
  get model() {
    return model;
  },
  get canResume() {
    return lastEpoch !== undefined;
  },
  stop: () => controller?.abort(),
};

/** The WebGPU adapter here (name, software or not), or why there is none. */
export async function webgpuHere(): Promise<{ name: string; software: boolean } | { missing: string }> {
  return findWebgpuAdapter().catch((err: Error) => ({ missing: err.message }));
}

/** Starts `backend` as this app serves it: WebGPU's backend is its own chunk, wasm's binaries are under wasm/. */
export async function initAppBackend(backend: BackendRequest) {
  if (backend === 'webgpu' || backend === 'auto') await import('@tensorflow/tfjs-backend-webgpu');
  return initBackend(backend, { wasmPaths: new URL('wasm/', location.href).href });
}

export async function startBackend() {
  const info = await initAppBackend(form.backend.value as BackendRequest);
  // The net (and its stopped run's state is bytes) follows the user to the new backend, read asynchronously.
  if (model)
    await moveTensors(
      Array.from(model.namedState(), ([, v]) => v),
      info.backend,
    );
  app.backend = info;
  app.renderer = info.backend === 'webgl' ? webglRenderer() : undefined;
  showBackend(info, app.renderer);
}

/**
 * The model for the current form, rebuilt (and any stopped run forgotten) only when the net or the data change. Data
 * to fine-tune on (`d.from`) keeps the page's net, with a new head where its classes differ.
 */
export function currentModel(d: Data): Module {
  const { inputSize: h, inChannels: c } = inputOf(d);
  const key = `${form.model.value}/${d.name}/${h}/${c}/${JSON.stringify(d.train.classes)}`;
  if (model && key === modelKey) return model;
  lastEpoch = undefined;
  pretrained = undefined;
  if (model && d.from) {
    if (d.from.classes.join('\n') !== d.train.classes.join('\n'))
      replaceHead(model, d.train.classes.length, { seed: MAIN_JOB_RECIPE.seed });
  } else {
    model?.dispose();
    model = createModel(form.model.value, {
      inChannels: c,
      numClasses: d.train.classes.length,
      inputSize: h,
      seed: MAIN_JOB_RECIPE.seed,
      init: MAIN_JOB_RECIPE.init,
    });
  }
  modelKey = key;
  showSummary(model, form.model.value, [1, h, h, c]);
  offerLayers(model, [1, h, h, c]);
  return model;
}

/** The form's recipe: what a resumed run must share with the run it continues. */
function runSettings(d: Data): RunSettings {
  return {
    model: form.model.value,
    data: d.name,
    batchSize: Number(form.batch.value) || MAIN_JOB_RECIPE.batchSize,
    lr: Number(form.lr.value) || MAIN_JOB_RECIPE.lr,
    limit: Math.min(Number(form.limit.value) || d.train.length, d.train.length),
    freeze: form.freeze.value,
    augment: form.augment.value,
  };
}

export async function train(d: Data, resume: boolean) {
  await startBackend();
  const net = currentModel(d);
  // The form's freeze choice, applied afresh to each run (a fine-tuned net's frozen BatchNorm keeps its statistics).
  unfreeze(net);
  if (form.freeze.value === 'features') freeze(net, featurePaths(net), { freezeBatchNorm: true });
  const run = runSettings(d);
  app.run = run;
  // Resume from exactly where the last completed epoch ended: a stop mid-epoch leaves half-updated weights.
  const saved =
    resume && lastEpoch
      ? restoreTrainingState(net, lastEpoch.state, { file: 'the stopped run', expect: run })
      : undefined;
  if (!resume) {
    lastEpoch = undefined;
    app.batchLosses = [];
    app.tensorsAfterEpoch = [];
    await resetCurves();
  }
  const epochs = Number(form.epochs.value) || 1;
  // Class-balanced subsets (seed 0), so a small limit still holds every class.
  const trainSet = d.train.sample(run.limit as number, 0);
  const validSet = d.valid.sample(Number(params.get('valid')) || 1000, 0);
  const transform = transformFor(d);
  const batchSize = run.batchSize as number;
  // Augmentations draw from the loader's generator: seeded per epoch, so a resumed run augments alike.
  const { mean, std } = statsOf(d);
  const augmented = run.augment
    ? trainTransform(inputOf(d).inputSize, parseAugmentation(run.augment as string), mean, std)
    : transform;
  const trainLoader = new DataLoader(trainSet, { batchSize, shuffle: true, seed: 0, transform: augmented });
  const validLoader = new DataLoader(validSet, { batchSize: 250, transform });
  const recipe = { ...MAIN_JOB_RECIPE, lr: run.lr as number };
  const { optimizer, schedule } = recipeOptimizer(recipe, trainLoader.length * epochs);
  controller = new AbortController();
  const frozen = net.numParameters('frozen');
  const what = frozen
    ? `, ${net.numParameters('trainable').toLocaleString()} parameters trainable, ${frozen.toLocaleString()} frozen`
    : '';
  setStatus(
    `Training ${form.model.value} on ${d.name} (${trainSet.length} images, ${epochs} epoch(s)${what}` +
      `${run.augment ? `, augmented: ${run.augment}` : ''})…`,
    'training',
  );
  try {
    const { history, evaluation } = await fit(net, {
      train: trainLoader,
      valid: validLoader,
      epochs,
      optimizer,
      schedule,
      resume: saved,
      signal: controller.signal,
      onBatch: async (e) => {
        app.batchLosses.push(e.loss);
        const batches = e.batches ?? trainLoader.length;
        const text =
          `epoch ${e.epoch}/${epochs}, batch ${e.batch}/${batches} — ` +
          `loss ${e.loss.toFixed(4)} — ${e.imagesPerSec.toFixed(1)} images/s`;
        showProgress(e.epoch, epochs, e.batch, batches, text);
        showMemory();
        await tf.nextFrame(); // keep the page responsive between batches
      },
      onCheckpoint: async (state) => {
        lastEpoch = { epoch: state.epoch, state: await encodeTrainingState(net, state, run) };
        await refreshInside(d); // before the count: what it computes must all be disposed
        app.tensorsAfterEpoch.push(tf.memory().numTensors);
        await showCurves(state.history);
      },
    });
    app.history = history;
    await showConfusion(evaluation!, d.valid.classes);
    await showGrid(d.valid, await predictions(net, d, transform));
    // After a few dozen steps BatchNorm's running statistics (what eval mode uses) have not settled: validation
    // figures are far worse than training ones, in PyTorch too. Say so rather than look broken.
    const short = trainLoader.length * epochs < 100 ? ' — a short run: BatchNorm statistics are not settled yet' : '';
    setStatus(
      `Done: validation accuracy ${(evaluation!.accuracy * 100).toFixed(2)}%, ` +
        `loss ${evaluation!.loss.toFixed(4)}${short}`,
      'done',
    );
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    setStatus(`Stopped. Resume continues after epoch ${lastEpoch?.epoch ?? 0}.`, 'stopped');
  } finally {
    optimizer.dispose();
  }
}

async function predictions(net: Module, d: Data, transform: Transform): Promise<Int32Array> {
  const set = d.valid.head(30);
  const loader = new DataLoader(set, { batchSize: set.length, transform });
  net.eval();
  for await (const { x, y } of loader) {
    const classes = tf.tidy(() => tf.argMax(net.forward(x), 1));
    const out = (await classes.data()) as Int32Array;
    tf.dispose([x, y, classes]);
    return out;
  }
  return new Int32Array(0);
}

/** How to use the page's net: net, input size, classes, normalisation (and what it was fine-tuned from). */
export function cardOf(d: Data): ModelCard {
  const { mean, std } = statsOf(d);
  const from = d.from ? { fineTunedFrom: { weights: `the page's ${d.from.model}`, classes: d.from.classes } } : {};
  return { model: form.model.value, ...inputOf(d), classes: d.train.classes, mean, std, ...from };
}

/** The weights as a file PyTorch loads, with their card (net, input size, classes, normalisation). */
export function weightsFile(d: Data): Promise<Uint8Array> {
  return encodeWeights(currentModel(d), { card: cardOf(d) });
}

/** The net as an ONNX model for onnxruntime (web, node, mobile) taking raw [0, 1] pixels: the normalisation is in it. */
export function onnxFile(d: Data): Promise<Uint8Array> {
  return toOnnx(currentModel(d), { card: cardOf(d), normalize: true, source: 'the convnets browser app' });
}

/** The page's net in eval mode on raw [0, 1] NHWC pixels, normalised as training does: its logits. */
export async function logitsOf(d: Data, pixels: number[], shape: [number, number, number, number]) {
  const model = currentModel(d);
  const { mean, std } = statsOf(d);
  const wasTraining = model.training;
  model.eval();
  const logits = tf.tidy(() => model.forward(tf.div(tf.sub(tf.tensor4d(pixels, shape), mean), std)));
  model.train(wasTraining);
  const values = [...(await logits.data())];
  logits.dispose();
  return values;
}

/**
 * The page's net and its card: pretrained weights as loaded, else the net for `d` (the data's net, or the fine-tuned
 * one). What "Try it" runs and what Teach starts from.
 */
export function pageNet(d: Data | undefined): { model: Module; card: ModelCard } | undefined {
  if (model && pretrained) return { model, card: pretrained };
  return d ? { model: currentModel(d), card: cardOf(d) } : undefined;
}

/**
 * Loads pretrained weights (torchvision's `.pth`, a timm / convnets `.safetensors`) as the page's net: the file's card
 * names the net where it has one; otherwise `choice`, a registered net whose keys the file carries (torchvision's
 * ImageNet weights: 1000 classes, ImageNet's names and preprocessing). Returns the card.
 */
export function loadPretrained(bytes: Uint8Array, file: string, choice: string): ModelCard {
  const { tensors, card: own } = decodeWeights(bytes, file);
  const name = own?.model ?? choice;
  let net: Module;
  let numClasses: number;
  let inputSize: number;
  try {
    const info = getModelInfo(name);
    numClasses = own?.classes.length ?? tensors.get(`${info.head.path}.weight`)?.shape[0] ?? 0;
    inputSize = own?.inputSize ?? (numClasses === IMAGENET.classes.length ? IMAGENET.inputSize : info.defaultInputSize);
    const sizes = { inputSize, inChannels: own?.inChannels ?? 3, numClasses: numClasses || undefined };
    net = netFromStateDict(name, tensors, { ...sizes, fromPytorch: !own });
  } catch (err) {
    if (err instanceof StateDictError) throw new Error(`${file} does not fit ${name}: ${err.summary}`);
    throw err;
  } finally {
    tf.dispose([...tensors.values()]);
  }
  const imagenet = !own && numClasses === IMAGENET.classes.length;
  const card: ModelCard = own ?? {
    model: name,
    inputSize,
    inChannels: 3,
    classes: imagenet ? IMAGENET.classes : Array.from({ length: numClasses }, (_, i) => String(i)),
    mean: imagenet ? IMAGENET.mean : [0.5, 0.5, 0.5],
    std: imagenet ? IMAGENET.std : [0.5, 0.5, 0.5],
    ...(imagenet ? { cropPct: IMAGENET.cropPct } : {}),
  };
  model?.dispose();
  model = net;
  modelKey = `pretrained ${file}`;
  pretrained = card;
  lastEpoch = undefined;
  if (listModels().includes(name)) form.model.value = name;
  showSummary(net, name, [1, card.inputSize, card.inputSize, card.inChannels]);
  offerLayers(net, [1, card.inputSize, card.inputSize, card.inChannels]);
  const where = getModelInfo(name).pretrained;
  setStatus(
    `Loaded ${file} into ${name} (${card.classes.length} classes, ${card.inputSize} px)` +
      (where && !own ? `: ${where.source}. License: ${where.license}` : '.'),
    'ready',
  );
  return card;
}

/** Loads a weights file; one with a card for another of our nets switches the form to that net first. */
export function loadWeights(d: Data, bytes: Uint8Array, name: string) {
  const { tensors, card } = decodeWeights(bytes, name);
  try {
    if (card && card.model !== form.model.value && listModels().includes(card.model)) form.model.value = card.model;
    loadStateDict(currentModel(d), tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
  setStatus(`Loaded ${name} into ${form.model.value}.`, 'ready');
}

/** The "inside the net" panel for the chosen validation image, with the net as it is now. */
export async function refreshInside(d: Data) {
  if (!model) return;
  const k = Math.min(
    Math.max(0, Math.floor(Number($<HTMLInputElement>('inside-image').value) || 0)),
    d.valid.length - 1,
  );
  const { image, label } = d.valid.get(k);
  const x = sampleAsBatch(d.valid, k, transformFor(d));
  try {
    await showInside(model, { data: image, shape: [...d.valid.imageShape] }, x, label, d.valid.classes);
  } finally {
    x.dispose();
  }
}
