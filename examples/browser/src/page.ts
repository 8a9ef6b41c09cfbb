/** The page itself: its controls, what the run exposes to tests, and the panels that show a net and its run. */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '@convnets/backend';
import type { ImageDataset } from '@convnets/datasets';
import { featureMapLayers, forwardWithOutputs, gradCam, summary, type Module } from '@convnets/nn';
import {
  confusionMatrixChart,
  curveChart,
  featureMapsChart,
  gradCamChart,
  imageGridChart,
  mountChart,
  updateCurves,
  type MountedChart,
} from '@convnets/plots';
import type { Evaluation, History, ModelCard, RunSettings } from '@convnets/trainer';
import type { BenchRow } from './bench.js';
import { netLogitsAgainstCpu, stepAgainstCpu, threadsAgree } from './checks.js';

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
export const params = new URLSearchParams(location.search);

export const form = {
  model: $<HTMLSelectElement>('model'),
  dataset: $<HTMLSelectElement>('dataset'),
  backend: $<HTMLSelectElement>('backend'),
  epochs: $<HTMLInputElement>('epochs'),
  batch: $<HTMLInputElement>('batch'),
  limit: $<HTMLInputElement>('limit'),
  lr: $<HTMLInputElement>('lr'),
  start: $<HTMLSelectElement>('start'),
  freeze: $<HTMLSelectElement>('freeze'),
  augment: $<HTMLSelectElement>('augment'),
};

export const buttons = {
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  resume: $<HTMLButtonElement>('resume'),
  saveIdb: $<HTMLButtonElement>('save-idb'),
  loadIdb: $<HTMLButtonElement>('load-idb'),
  download: $<HTMLButtonElement>('download'),
  downloadOnnx: $<HTMLButtonElement>('download-onnx'),
};

/** What the page exposes to its end-to-end test (and to curious users in the console) as `window.convnets`. */
export interface AppState {
  status: 'loading' | 'ready' | 'training' | 'stopped' | 'done' | 'error';
  backend?: BackendInfo;
  renderer?: string;
  /** Training loss of every batch, in order. */
  batchLosses: number[];
  /** `tf.memory().numTensors` after each epoch's checkpoint: flat when nothing leaks. */
  tensorsAfterEpoch: number[];
  history?: History;
  /** The settings of the last run started (what a resumed run must share with it). */
  run?: RunSettings;
  error?: string;
  /** Max |logits(current backend) - logits(cpu)| for a fixed input, the same weights. */
  compareWithCpu(): Promise<number>;
  /** The page's net in eval mode on raw [0, 1] pixels (NHWC), normalised as in training: its logits. */
  logitsOf(pixels: number[], shape: [number, number, number, number]): Promise<number[]>;
  /** `tf.memory().numTensors` now. */
  numTensors(): number;
  /** The page's net's parameters by name, each as the sum of its values (what changed in a run, and what did not). */
  parameterSums(): Promise<Record<string, number>>;
  /** The page's net's state (parameters, BatchNorm statistics) by name, each as a hash of its bits. */
  stateHashes(): Promise<Record<string, number>>;
  /** "Try it": the last prediction's top 5 and Grad-CAM map size (try.ts). */
  tryIt?: { top5: Array<{ label: string; probability: number }>; camShape: number[] };
  /** The card of the pretrained weights loaded last ("Start from ImageNet"). */
  pretrained?: ModelCard;
  /** Teach's classes and how many examples each has (teach.ts). */
  taught?: () => Array<{ name: string; examples: number }>;
  /** `?bench=1`: training images/s per backend (bench.ts). */
  bench?: BenchRow[];
  /** One training step of a notebook net here and on cpu (checks.ts). */
  stepAgainstCpu: typeof stepAgainstCpu;
  /** A seed-0 notebook net's logits here against cpu's (checks.ts). */
  netLogitsAgainstCpu: typeof netLogitsAgainstCpu;
  /** On wasm: one training step on every kernel thread against one thread (checks.ts). */
  threadsAgree: typeof threadsAgree;
}

export const app: AppState = {
  status: 'loading',
  batchLosses: [],
  tensorsAfterEpoch: [],
  compareWithCpu: () => Promise.reject(new Error('not ready')),
  numTensors: () => tf.memory().numTensors,
  parameterSums: () => Promise.reject(new Error('not ready')),
  stateHashes: () => Promise.reject(new Error('not ready')),
  logitsOf: () => Promise.reject(new Error('not ready')),
  stepAgainstCpu,
  netLogitsAgainstCpu,
  threadsAgree,
};
(window as unknown as { convnets: AppState }).convnets = app;

export function setStatus(text: string, state?: AppState['status']) {
  $('status').textContent = text;
  $('status').classList.toggle('error', state === 'error');
  if (state) app.status = state;
}

/** Enables the controls that make sense: nothing but Stop while a run goes on. */
export function setRunning(running: boolean, { canResume = false, hasModel = false } = {}) {
  buttons.train.disabled = running;
  buttons.stop.disabled = !running;
  buttons.resume.disabled = running || !canResume;
  buttons.saveIdb.disabled = running || !hasModel;
  buttons.download.disabled = running || !hasModel;
  buttons.downloadOnnx.disabled = running || !hasModel;
  for (const input of Object.values(form)) input.disabled = running;
  for (const id of ['inside-image', 'inside-layer', 'try-upload', 'try-webcam', 'try-clear'])
    $<HTMLInputElement>(id).disabled = running;
}

export function showMemory() {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  const gpu = m.numBytesInGPU === undefined ? '' : `, ${(m.numBytesInGPU / 2 ** 20).toFixed(1)} MiB in GPU textures`;
  $('memory').textContent = `tf.memory(): ${m.numTensors} tensors, ${(m.numBytes / 2 ** 20).toFixed(1)} MiB${gpu}`;
}

export function webglRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'no WebGL2';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

export function showBackend(info: BackendInfo, renderer?: string) {
  const skipped = info.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
  $('backend-info').textContent =
    `Backend: ${info.label}${renderer ? ` (renderer: ${renderer})` : ''}${skipped ? ` — skipped ${skipped}` : ''}`;
}

export function showProgress(epoch: number, epochs: number, batch: number, batches: number, text: string) {
  ($('progress') as HTMLProgressElement).value = ((epoch - 1) * batches + batch) / (batches * epochs);
  $('progress-text').textContent = text;
}

export function showSummary(net: Module, name: string, input: number[]) {
  const s = summary(net, input);
  $('summary-caption').textContent =
    `${name}, input [${input.join(', ')}] (NHWC): ${s.params.toLocaleString()} ` +
    `parameters, ${(s.flops / 1e6).toFixed(1)} MFLOPs per image`;
  const rows = s.layers.map(
    (l) =>
      `<tr><td>${l.path}</td><td>${l.type}</td><td>[${l.outputShape.join(', ')}]</td>` +
      `<td>${l.params.toLocaleString()}</td><td>${(l.flops / 1e6).toFixed(2)} M</td></tr>`,
  );
  $('summary').innerHTML =
    `<tr><th>Layer</th><th>Type</th><th>Output shape</th><th>Params</th><th>FLOPs</th></tr>${rows.join('')}`;
}

/** The first 30 validation images, titled with their labels (and the predictions, once there are some). */
export async function showGrid(valid: ImageDataset, predictions?: Int32Array) {
  const shown = valid.head(30);
  const titles = Array.from(shown.labels, (label, i) => {
    const truth = valid.classes[label]!;
    return predictions ? `${truth} → ${valid.classes[predictions[i]!]}` : truth;
  });
  $('grid-caption').textContent = predictions
    ? 'true → predicted (validation images)'
    : 'true labels (validation images)';
  $('grid-chart').replaceChildren();
  await mountChart($('grid-chart'), imageGridChart(shown, { columns: 10, titles, cellSize: 48 }));
}

export async function showConfusion(result: Evaluation, classes: readonly string[]) {
  $('confusion-chart').replaceChildren();
  const title = `validation accuracy ${(result.accuracy * 100).toFixed(2)}%`;
  await mountChart($('confusion-chart'), confusionMatrixChart(result.confusion, classes, title));
}

let curves: { accuracy: MountedChart; loss: MountedChart } | undefined;

export async function resetCurves() {
  $('accuracy-chart').replaceChildren();
  $('loss-chart').replaceChildren();
  curves?.accuracy.finalize();
  curves?.loss.finalize();
  curves = {
    accuracy: await mountChart($('accuracy-chart'), curveChart('accuracy')),
    loss: await mountChart($('loss-chart'), curveChart('loss')),
  };
}

export async function showCurves(history: History) {
  if (!curves) await resetCurves();
  await updateCurves(curves!.accuracy, 'accuracy', history);
  await updateCurves(curves!.loss, 'loss', history);
}

/** The layers the "inside the net" panel offers: the top-level ones whose output is a feature map. */
export function offerLayers(net: Module, input: number[]) {
  const select = $<HTMLSelectElement>('inside-layer');
  const previous = select.value;
  select.replaceChildren();
  for (const { path, shape } of featureMapLayers(net, input))
    select.add(new Option(`${path} [${shape.slice(1).join('x')}]`, path));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

/**
 * Inside the net for one validation image: the chosen layer's activation maps and Grad-CAM (at the last feature map)
 * of the predicted class, and of the true one when they differ.
 */
export async function showInside(
  net: Module,
  image: { data: Uint8Array; shape: number[] },
  x: tf.Tensor,
  truth: number,
  classes: readonly string[],
) {
  const layer = $<HTMLSelectElement>('inside-layer').value;
  const { logits, outputs } = forwardWithOutputs(net, x, [layer]);
  const maps = outputs.get(layer)!;
  const features = { data: await maps.data(), shape: maps.shape };
  tf.dispose([logits, maps]);
  const cams = [await gradCam(net, x)];
  if (cams[0]!.predicted !== truth) cams.push(await gradCam(net, x, { classIndex: truth }));
  const panels = await Promise.all(
    cams.map(async (cam) => ({
      map: await cam.map.data(),
      title:
        `${cam.classIndex === cam.predicted ? 'predicted' : 'true'}: ` +
        `${classes[cam.classIndex]} (p ${cam.probability.toFixed(2)})`,
    })),
  );
  tf.dispose(cams.map((c) => c.map));
  $('inside-caption').textContent = `true class ${classes[truth]}; Grad-CAM at layer ${cams[0]!.layer}`;
  $('features-chart').replaceChildren();
  await mountChart(
    $('features-chart'),
    featureMapsChart(features, { input: image, maxChannels: 32, cellSize: 40, title: `layer ${layer}` }),
  );
  $('gradcam-chart').replaceChildren();
  await mountChart($('gradcam-chart'), gradCamChart(image, panels, { cellSize: 160 }));
}
