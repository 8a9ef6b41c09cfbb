/**
 * The browser app: pick a net, data and backend; train with live curves; look at predictions, the confusion
 * matrix and the summary; stop, resume, save and load weights. Query parameters preset the form
 * (`?model=resnet18&backend=webgl&epochs=1&batch=32&limit=256&valid=128&autostart=1`), which the end-to-end
 * test uses; `window.convnets` exposes the run's state for it. This file wires the page to the pieces:
 * page.ts (controls and panels), data.ts, session.ts (the net and its run), checks.ts, storage.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { listModels } from '@convnets/architectures';
import { runFileBase } from '@convnets/trainer';
import type { BackendRequest } from '@convnets/backend';
import { benchBackends } from './bench.js';
import { compareWithCpu } from './checks.js';
import { inputOf, loadFolder, loadMnist, type Data } from './data.js';
import { $, app, buttons, form, params, resetCurves, setRunning, setStatus, showGrid, showMemory } from './page.js';
import {
  currentModel,
  loadWeights,
  refreshInside,
  session,
  startBackend,
  train,
  webgpuHere,
  weightsFile,
  cardOf,
  onnxFile,
  logitsOf,
} from './session.js';
import { download, loadBytes, saveBytes } from './storage.js';
import { clearCanvas, drawFile, enableDrawing, predictCanvas, toggleWebcam } from './try.js';

let data: Data | undefined;

const idle = () => setRunning(false, { canResume: session.canResume, hasModel: Boolean(session.model) });

function fail(err: unknown) {
  const message = err instanceof Error ? err.message : String(err);
  app.error = message;
  setStatus(`Error: ${message}`, 'error');
  console.warn(err); // a warning, not an error: a user's mistake (a bad file) is not a page failure
  idle();
}

/** Runs a user action with the controls locked, reporting any failure on the page. */
async function act(action: () => unknown) {
  app.error = undefined; // the last error was said; this action starts afresh
  setRunning(true);
  try {
    await action();
    idle();
  } catch (err) {
    fail(err);
  } finally {
    showMemory();
  }
}

function needData(): Data {
  if (!data) throw new Error('load data first');
  return data;
}

const storageKey = () => `${form.model.value}@${data?.name ?? 'mnist'}`;

async function useData(d: Data) {
  data = d;
  currentModel(d);
  await showGrid(d.valid);
  await resetCurves();
  setStatus(
    `Ready: ${d.name}, ${d.train.length} training and ` +
      `${d.valid.length} validation images of ${d.train.imageShape.join('x')}.`,
    'ready',
  );
}

async function selectData() {
  if (form.dataset.value === 'folder') return $<HTMLInputElement>('folder').click();
  setStatus('Loading MNIST…');
  await useData(await loadMnist());
}

/**
 * `?bench=1` (optionally `&benchBackends=wasm,webgl`, `&benchSteps=N`, `&benchBatch=N`): training images/s per
 * backend (default webgl and webgpu), side by side, in #bench.
 */
async function runBench() {
  const backends = (params.get('benchBackends') ?? 'webgl,webgpu').split(',') as BackendRequest[];
  const steps = Number(params.get('benchSteps')) || 10;
  const batch = Number(params.get('benchBatch')) || 32;
  setStatus(`Measuring training speed on ${backends.join(', ')}…`);
  app.bench = await benchBackends(backends, { model: form.model.value, steps, batch });
  $('bench').textContent = app.bench
    .map(
      (r) =>
        `${r.backend.padEnd(7)} ${r.imagesPerSec ? `${r.imagesPerSec.toFixed(1)} images/s` : `skipped: ${r.skipped}`}`,
    )
    .join('\n');
  setStatus(`Measured ${form.model.value}, batch ${batch}, ${steps} steps per backend (see below).`, 'done');
}

async function main() {
  for (const name of listModels()) form.model.add(new Option(name, name, name === 'resnet18', name === 'resnet18'));
  const adapter = await webgpuHere();
  const noWebgpu = 'missing' in adapter ? adapter.missing : undefined;
  const webgpu = [...form.backend.options].find((o) => o.value === 'webgpu')!;
  if (noWebgpu) {
    webgpu.disabled = true;
    webgpu.textContent = 'webgpu (unavailable)';
    webgpu.title = noWebgpu;
  } else if ('software' in adapter) {
    if (adapter.software) webgpu.textContent = 'webgpu (software adapter)';
    webgpu.title = `${adapter.name}${adapter.software ? ': a CPU implementation, correct but slower than webgl' : ''}`;
  }
  for (const [key, input] of Object.entries(form)) {
    const value = params.get(key);
    if (value !== null) input.value = value;
  }
  if (form.backend.value === 'webgpu' && noWebgpu) throw new Error(`backend webgpu: ${noWebgpu}`);
  app.compareWithCpu = () => {
    const d = needData();
    const { inputSize: h, inChannels: c } = inputOf(d);
    return compareWithCpu(currentModel(d), [2, h, h, c]);
  };
  buttons.train.onclick = () => void act(() => train(needData(), false));
  buttons.resume.onclick = () => void act(() => train(needData(), true));
  buttons.stop.onclick = session.stop;
  buttons.saveIdb.onclick = () =>
    void act(async () => {
      await saveBytes(storageKey(), await weightsFile(needData()));
      setStatus(`Saved ${storageKey()} in this browser.`);
    });
  buttons.loadIdb.onclick = () =>
    void act(async () => {
      const bytes = await loadBytes(storageKey());
      if (bytes) loadWeights(needData(), bytes, storageKey());
      else setStatus(`Nothing saved for ${storageKey()} yet.`);
    });
  buttons.download.onclick = () =>
    void act(async () =>
      download(await weightsFile(needData()), `${runFileBase(data?.name ?? 'data', form.model.value)}.safetensors`),
    );
  buttons.downloadOnnx.onclick = () =>
    void act(async () =>
      download(await onnxFile(needData()), `${runFileBase(data?.name ?? 'data', form.model.value)}.onnx`),
    );
  app.logitsOf = (pixels, shape) => logitsOf(needData(), pixels, shape);
  app.parameterSums = async () => {
    const sums = await Promise.all(
      [...currentModel(needData()).namedParameters()].map(async ([name, p]) => {
        const sum = tf.sum(p);
        const value = (await sum.data())[0]!;
        sum.dispose();
        return [name, value] as const;
      }),
    );
    return Object.fromEntries(sums);
  };
  $<HTMLInputElement>('upload').onchange = (e) =>
    void act(async () => {
      const file = (e.target as HTMLInputElement).files?.[0];
      if (file) loadWeights(needData(), new Uint8Array(await file.arrayBuffer()), file.name);
    });
  form.dataset.onchange = () => void act(selectData);
  for (const id of ['inside-image', 'inside-layer']) $(id).onchange = () => void act(() => refreshInside(needData()));
  form.model.onchange = () => {
    if (data) currentModel(data); // a new net forgets the stopped run
    idle();
  };
  $<HTMLInputElement>('folder').onchange = (e) =>
    void act(async () => {
      const files = (e.target as HTMLInputElement).files;
      if (!files?.length) return;
      setStatus(`Decoding ${files.length} files…`);
      // "Start from the net in the page": the folder is fed as that net takes its input (fine-tuning).
      const from = form.start.value === 'page' && data && session.model ? cardOf(data) : undefined;
      await useData(await loadFolder(files, from));
    });
  // "Try it": the net in the page on a drawing (live), an uploaded image or the webcam; errors show as any other.
  const tryIt = (invertLight: boolean) => () => {
    if (!data || app.status === 'training') return;
    predictCanvas(currentModel(data), data, invertLight).catch(fail);
  };
  enableDrawing(tryIt(false));
  $('try-clear').onclick = clearCanvas;
  $<HTMLInputElement>('try-upload').onchange = (e) =>
    void act(async () => {
      const file = (e.target as HTMLInputElement).files?.[0];
      if (!file) return;
      await drawFile(file);
      tryIt(true)();
    });
  $('try-webcam').onclick = () =>
    void toggleWebcam(tryIt(true)).then((on) => ($('try-webcam').textContent = on ? 'Stop webcam' : 'Webcam'), fail);
  await act(async () => {
    await startBackend();
    await selectData();
  });
  if (params.get('autostart')) await act(() => train(needData(), false));
  if (params.get('bench')) await act(() => runBench());
}

main().catch(fail);
