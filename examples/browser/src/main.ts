/**
 * The browser app: pick a net, data and backend; train with live curves; look at predictions, the confusion
 * matrix and the summary; stop, resume, save and load weights. Query parameters preset the form
 * (`?model=resnet18&backend=webgl&epochs=1&batch=32&limit=256&valid=128&autostart=1`), which the end-to-end
 * test uses; `window.convnets` exposes the run's state for it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // the reference the logits check compares against
import { createModel, listModels } from '@convnets/architectures';
import { initBackend, type BackendInfo, type BackendRequest } from '@convnets/backend';
import {
  DataLoader,
  ImageDataset,
  MNIST_CLASSES,
  compose,
  imageFolder,
  loadIdxDataset,
  normalize,
  resize,
  toTensor,
  urlSource,
  type Transform,
} from '@convnets/datasets';
import { decodeSafetensors, encodeSafetensors, loadStateDict, stateDict, summary, type Module } from '@convnets/nn';
import {
  confusionMatrixChart,
  curveChart,
  imageGridChart,
  mountChart,
  updateCurves,
  type MountedChart,
} from '@convnets/plots';
import { Sgd, evaluate, fit, scheduleByName, type History, type TrainingState } from '@convnets/trainer';
import { download, loadBytes, saveBytes } from './storage.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const form = {
  model: $<HTMLSelectElement>('model'),
  dataset: $<HTMLSelectElement>('dataset'),
  backend: $<HTMLSelectElement>('backend'),
  epochs: $<HTMLInputElement>('epochs'),
  batch: $<HTMLInputElement>('batch'),
  limit: $<HTMLInputElement>('limit'),
  lr: $<HTMLInputElement>('lr'),
};
const buttons = {
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  resume: $<HTMLButtonElement>('resume'),
  saveIdb: $<HTMLButtonElement>('save-idb'),
  loadIdb: $<HTMLButtonElement>('load-idb'),
  download: $<HTMLButtonElement>('download'),
};

/** What the page exposes to its end-to-end test (and to curious users in the console). */
interface AppState {
  status: 'loading' | 'ready' | 'training' | 'stopped' | 'done' | 'error';
  backend?: BackendInfo;
  renderer?: string;
  /** Training loss of every batch, in order. */
  batchLosses: number[];
  /** `tf.memory().numTensors` after each epoch's checkpoint: flat when nothing leaks. */
  tensorsAfterEpoch: number[];
  history?: History;
  error?: string;
  /** Max |logits(current backend) - logits(cpu)| for a fixed input, the same weights. */
  compareWithCpu(): Promise<number>;
}
const app: AppState = { status: 'loading', batchLosses: [], tensorsAfterEpoch: [], compareWithCpu };
(window as unknown as { convnets: AppState }).convnets = app;

interface Data {
  train: ImageDataset;
  valid: ImageDataset;
  name: string;
}

let data: Data | undefined;
let model: Module | undefined;
let modelKey = '';
/** The last completed epoch: optimizer state and history, plus a copy of the weights to go back to on Resume. */
let lastState: (TrainingState & { weights: Map<string, tf.Tensor> }) | undefined;
let controller: AbortController | undefined;
let curves: { accuracy: MountedChart; loss: MountedChart } | undefined;

function setStatus(text: string, state?: AppState['status']) {
  $('status').textContent = text;
  $('status').classList.toggle('error', state === 'error');
  if (state) app.status = state;
}

function fail(err: unknown) {
  const message = err instanceof Error ? err.message : String(err);
  app.error = message;
  setStatus(`Error: ${message}`, 'error');
  console.warn(err); // a warning, not an error: a user's mistake (a bad file) is not a page failure
  setRunning(false);
}

function setRunning(running: boolean) {
  buttons.train.disabled = running;
  buttons.stop.disabled = !running;
  buttons.resume.disabled = running || !lastState;
  buttons.saveIdb.disabled = running || !model;
  buttons.download.disabled = running || !model;
  for (const input of Object.values(form)) input.disabled = running;
}

function showMemory() {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  const gpu = m.numBytesInGPU === undefined ? '' : `, ${(m.numBytesInGPU / 2 ** 20).toFixed(1)} MiB in GPU textures`;
  $('memory').textContent = `tf.memory(): ${m.numTensors} tensors, ${(m.numBytes / 2 ** 20).toFixed(1)} MiB${gpu}`;
}

function webglRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'no WebGL2';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

async function startBackend() {
  const info = await initBackend(form.backend.value as BackendRequest, {
    wasmPaths: new URL('wasm/', location.href).href,
  });
  app.backend = info;
  app.renderer = info.backend === 'webgl' ? webglRenderer() : undefined;
  const skipped = info.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
  $('backend-info').textContent =
    `Backend: ${info.label}${app.renderer ? ` (renderer: ${app.renderer})` : ''}${skipped ? ` — skipped ${skipped}` : ''}`;
}

async function loadMnist(): Promise<Data> {
  setStatus('Loading MNIST…');
  const { train, test } = await loadIdxDataset(urlSource(new URL('mnist/', location.href).href), MNIST_CLASSES);
  return { train, valid: test, name: 'mnist' };
}

/** A user's folder: `<class>/<image>` (any depth above); every fifth image is held out for validation. */
async function loadFolder(files: FileList): Promise<Data> {
  setStatus(`Decoding ${files.length} files…`);
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
    return new ImageDataset(
      images,
      Uint8Array.from(idx, (i) => all.labels[i]!),
      all.imageShape,
      all.classes,
      all.source,
    );
  };
  return { train: pick((i) => i % 5 !== 4), valid: pick((i) => i % 5 === 4), name: all.source };
}

/** The notebook's transforms, normalised with the training set's statistics. */
function transformFor(set: ImageDataset, size: number): Transform {
  const { mean, std } = set.channelStats();
  return compose(toTensor(), resize(size), normalize(mean, std)); // resize is a no-op at the native size
}

/** The model for the current form, rebuilt only when the net or the data's shape changes. */
function currentModel(d: Data): Module {
  const [h, , c] = d.train.imageShape;
  const key = `${form.model.value}/${h}/${c}/${d.train.classes.length}`;
  if (model && key === modelKey) return model;
  model?.dispose();
  forgetState();
  model = createModel(form.model.value, {
    inChannels: c,
    numClasses: d.train.classes.length,
    inputSize: h,
    seed: 0,
    init: 'xavier',
  });
  modelKey = key;
  showSummary(model, [1, h, h, c]);
  return model;
}

function showSummary(net: Module, input: number[]) {
  const s = summary(net, input);
  $('summary-caption').textContent =
    `${form.model.value}, input [${input.join(', ')}] (NHWC): ${s.params.toLocaleString()} ` +
    `parameters, ${(s.flops / 1e6).toFixed(1)} MFLOPs per image`;
  const rows = s.layers.map(
    (l) =>
      `<tr><td>${l.path}</td><td>${l.type}</td><td>[${l.outputShape.join(', ')}]</td>` +
      `<td>${l.params.toLocaleString()}</td><td>${(l.flops / 1e6).toFixed(2)} M</td></tr>`,
  );
  $('summary').innerHTML =
    `<tr><th>Layer</th><th>Type</th><th>Output shape</th><th>Params</th><th>FLOPs</th></tr>${rows.join('')}`;
}

async function showGrid(d: Data, predictions?: Int32Array) {
  const shown = d.valid.head(30);
  const titles = Array.from(shown.labels, (label, i) => {
    const truth = d.valid.classes[label]!;
    return predictions ? `${truth} → ${d.valid.classes[predictions[i]!]}` : truth;
  });
  $('grid-caption').textContent = predictions
    ? 'true → predicted (validation images)'
    : 'true labels (validation images)';
  $('grid-chart').replaceChildren();
  await mountChart($('grid-chart'), imageGridChart(shown, { columns: 10, titles, cellSize: 48 }));
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

async function resetCurves() {
  $('accuracy-chart').replaceChildren();
  $('loss-chart').replaceChildren();
  curves?.accuracy.finalize();
  curves?.loss.finalize();
  curves = {
    accuracy: await mountChart($('accuracy-chart'), curveChart('accuracy')),
    loss: await mountChart($('loss-chart'), curveChart('loss')),
  };
}

function forgetState() {
  if (lastState) tf.dispose([...lastState.optimizer.values(), ...lastState.weights.values()]);
  lastState = undefined;
}

function keepState(state: TrainingState, net: Module) {
  // The optimizer's tensors are live: keep copies for a later resume, with the weights they belong to.
  forgetState();
  const weights = stateDict(net);
  weights.forEach((t) => {
    tf.keep(t);
  });
  lastState = { ...state, weights, optimizer: new Map([...state.optimizer].map(([k, t]) => [k, tf.keep(t.clone())])) };
}

async function train(resume: boolean) {
  if (!data) return;
  const d = data;
  setRunning(true);
  try {
    await startBackend();
    const net = currentModel(d);
    // Resume from exactly where the last completed epoch ended: a stop mid-epoch leaves half-updated weights.
    if (resume && lastState) loadStateDict(net, lastState.weights);
    if (!resume) {
      forgetState();
      app.batchLosses = [];
      app.tensorsAfterEpoch = [];
      await resetCurves();
    }
    const size = d.train.imageShape[0];
    const limit = Math.min(Number(form.limit.value) || d.train.length, d.train.length);
    // Class-balanced subsets (seed 0), so a small limit still holds every class.
    const trainSet = d.train.sample(limit, 0);
    const validSet = d.valid.sample(Number(params.get('valid')) || 1000, 0);
    const batchSize = Number(form.batch.value) || 64;
    const epochs = Number(form.epochs.value) || 1;
    const transform = transformFor(d.train, size);
    const trainLoader = new DataLoader(trainSet, { batchSize, shuffle: true, seed: 0, transform });
    const validLoader = new DataLoader(validSet, { batchSize: 250, transform });
    const optimizer = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
    controller = new AbortController();
    setStatus(`Training ${form.model.value} on ${d.name} (${trainSet.length} images, ${epochs} epoch(s))…`, 'training');
    try {
      app.history = await fit(net, {
        train: trainLoader,
        valid: validLoader,
        epochs,
        optimizer,
        schedule: scheduleByName('onecycle', Number(form.lr.value) || 0.05, trainLoader.length * epochs),
        resume: resume ? lastState : undefined,
        signal: controller.signal,
        onBatch: async (e) => {
          app.batchLosses.push(e.loss);
          const batches = e.batches ?? trainLoader.length;
          ($('progress') as HTMLProgressElement).value = ((e.epoch - 1) * batches + e.batch) / (batches * epochs);
          $('progress-text').textContent =
            `epoch ${e.epoch}/${epochs}, batch ${e.batch}/${batches} — ` +
            `loss ${e.loss.toFixed(4)} — ${e.imagesPerSec.toFixed(1)} images/s`;
          showMemory();
          await tf.nextFrame(); // keep the page responsive between batches
        },
        onCheckpoint: async (state) => {
          keepState(state, net);
          app.tensorsAfterEpoch.push(tf.memory().numTensors);
          await updateCurves(curves!.accuracy, 'accuracy', state.history);
          await updateCurves(curves!.loss, 'loss', state.history);
        },
      });
    } finally {
      optimizer.dispose();
    }
    setStatus('Evaluating…');
    const result = await evaluate(net, validLoader);
    $('confusion-chart').replaceChildren();
    await mountChart(
      $('confusion-chart'),
      confusionMatrixChart(
        result.confusion,
        d.valid.classes,
        `validation accuracy ${(result.accuracy * 100).toFixed(2)}%`,
      ),
    );
    await showGrid(d, await predictions(net, d, transform));
    showMemory();
    setStatus(
      `Done: validation accuracy ${(result.accuracy * 100).toFixed(2)}%, loss ${result.loss.toFixed(4)}`,
      'done',
    );
  } catch (err) {
    if (controller?.signal.aborted) {
      setStatus(`Stopped. Resume continues after epoch ${lastState?.epoch ?? 0}.`, 'stopped');
    } else {
      fail(err);
    }
  } finally {
    showMemory();
    setRunning(false);
  }
}

async function compareWithCpu(): Promise<number> {
  if (!model || !data) throw new Error('no model yet');
  const [h, , c] = data.train.imageShape;
  const current = tf.getBackend();
  const input = () =>
    tf.tensor4d(
      Float32Array.from({ length: 2 * h * h * c }, (_, i) => Math.sin(i * 0.37)),
      [2, h, h, c],
    );
  const logitsOn = async (backend: string) => {
    await tf.setBackend(backend);
    model!.eval();
    const logits = tf.tidy(() => model!.forward(input()));
    const values = await logits.data();
    logits.dispose();
    return values;
  };
  const here = await logitsOn(current);
  const cpu = await logitsOn('cpu');
  await tf.setBackend(current);
  return Math.max(...here.map((v, i) => Math.abs(v - cpu[i]!)));
}

function weightsFile(): Uint8Array {
  const state = stateDict(model!);
  try {
    return encodeSafetensors(state, { format: 'pt' });
  } finally {
    tf.dispose([...state.values()]);
  }
}

function loadWeights(bytes: Uint8Array, name: string) {
  if (!data) throw new Error('load data first');
  const net = currentModel(data);
  const { tensors } = decodeSafetensors(bytes, name);
  try {
    loadStateDict(net, tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
  setStatus(`Loaded ${name} into ${form.model.value}.`, 'ready');
  setRunning(false);
}

const storageKey = () => `${form.model.value}@${data?.name ?? 'mnist'}`;

async function selectData() {
  if (form.dataset.value === 'folder') return $<HTMLInputElement>('folder').click();
  data = await loadMnist();
  await afterData();
}

async function afterData() {
  currentModel(data!);
  await showGrid(data!);
  await resetCurves();
  setStatus(
    `Ready: ${data!.name}, ${data!.train.length} training and ` +
      `${data!.valid.length} validation images of ${data!.train.imageShape.join('x')}.`,
    'ready',
  );
  setRunning(false);
}

async function main() {
  for (const name of listModels()) form.model.add(new Option(name, name, name === 'resnet18', name === 'resnet18'));
  for (const [key, input] of Object.entries(form)) {
    const value = params.get(key);
    if (value !== null) input.value = value;
  }
  buttons.train.onclick = () => void train(false);
  buttons.resume.onclick = () => void train(true);
  buttons.stop.onclick = () => controller?.abort();
  buttons.saveIdb.onclick = () =>
    void saveBytes(storageKey(), weightsFile()).then(() => setStatus(`Saved ${storageKey()} in this browser.`), fail);
  buttons.loadIdb.onclick = () =>
    void loadBytes(storageKey()).then(
      (bytes) => (bytes ? loadWeights(bytes, storageKey()) : setStatus(`Nothing saved for ${storageKey()} yet.`)),
      fail,
    );
  buttons.download.onclick = () => download(weightsFile(), `${data?.name ?? 'data'}_${form.model.value}.safetensors`);
  $<HTMLInputElement>('upload').onchange = async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) await Promise.resolve(loadWeights(new Uint8Array(await file.arrayBuffer()), file.name)).catch(fail);
  };
  form.dataset.onchange = () => void selectData().catch(fail);
  form.model.onchange = () => data && currentModel(data);
  $<HTMLInputElement>('folder').onchange = async (e) => {
    const files = (e.target as HTMLInputElement).files;
    if (!files?.length) return;
    data = await loadFolder(files).catch((err) => {
      fail(err);
      return data;
    });
    if (data) await afterData();
  };
  setRunning(true);
  await startBackend();
  await selectData();
  showMemory();
  if (params.get('autostart')) await train(false);
}

main().catch(fail);
