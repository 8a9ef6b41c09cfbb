/**
 * The browser app: pick a net, data and backend; train with live curves; look at predictions, the confusion
 * matrix and the summary; stop, resume, save and load weights. Query parameters preset the form
 * (`?model=resnet18&backend=webgl&epochs=1&batch=32&limit=256&valid=128&autostart=1`), which the end-to-end
 * test uses; `window.convnets` exposes the run's state for it. This file wires the page to the pieces:
 * page.ts (controls and panels), data.ts, session.ts (the net and its run), checks.ts, storage.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getModelInfo, listModels } from '@convnets/architectures';
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
  onnxFile,
  logitsOf,
  loadPretrained,
  pageNet,
} from './session.js';
import { download, loadBytes, saveBytes } from './storage.js';
import { addClass, addFiles, capture, taught, teachData } from './teach.js';
import { clearCanvas, drawFile, enableDrawing, predictCanvas, predictionsSettled, toggleWebcam } from './try.js';

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

function pageModel() {
  const page = pageNet(data);
  if (!page) throw new Error('no net in the page yet');
  return page.model;
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

/** Trains once "Try it" has finished with the net (no new prediction starts while the status says training). */
async function startTraining(d: Data, resume: boolean) {
  setStatus('Starting…', 'training');
  await predictionsSettled();
  await train(d, resume);
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
  buttons.train.onclick = () => void act(() => startTraining(needData(), false));
  buttons.resume.onclick = () => void act(() => startTraining(needData(), true));
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
      [...pageModel().namedParameters()].map(async ([name, p]) => {
        const sum = tf.sum(p);
        const value = (await sum.data())[0]!;
        sum.dispose();
        return [name, value] as const;
      }),
    );
    return Object.fromEntries(sums);
  };
  // FNV-1a over each tensor's bits: equal only where not one bit changed.
  app.stateHashes = async () => {
    const hashes = await Promise.all(
      [...pageModel().namedState()].map(async ([name, t]) => {
        const values = (await t.data()) as Float32Array | Int32Array;
        const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
        let h = 0x811c9dc5;
        for (const w of words) h = Math.imul(h ^ w, 0x01000193) >>> 0;
        return [name, h] as const;
      }),
    );
    return Object.fromEntries(hashes);
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
      const from = form.start.value === 'page' && session.model ? pageNet(data)?.card : undefined;
      await useData(await loadFolder(files, from));
    });
  // "Try it": the net in the page on a drawing (live), an uploaded image or the webcam; errors show as any other.
  const tryIt = (invertLight: boolean) => async () => {
    const net = app.status === 'training' ? undefined : pageNet(data);
    if (net) await predictCanvas(net.model, net.card, invertLight).catch(fail);
  };
  enableDrawing(tryIt(false));
  $('try-clear').onclick = clearCanvas;
  $<HTMLInputElement>('try-upload').onchange = (e) =>
    void act(async () => {
      const file = (e.target as HTMLInputElement).files?.[0];
      if (!file) return;
      await drawFile(file);
      void tryIt(true)();
    });
  $('try-webcam').onclick = () =>
    void toggleWebcam(tryIt(true)).then((on) => ($('try-webcam').textContent = on ? 'Stop webcam' : 'Webcam'), fail);
  wirePretrained();
  wireTeach();
  await act(async () => {
    await startBackend();
    await selectData();
  });
  if (params.get('autostart')) await act(() => startTraining(needData(), false));
  if (params.get('bench')) await act(() => runBench());
}

/** "Start from ImageNet": a registered net's published weights, from a file (picked or dropped) or a URL. */
function wirePretrained() {
  const select = $<HTMLSelectElement>('pretrained-model');
  const url = $<HTMLInputElement>('pretrained-url');
  for (const name of listModels().filter((m) => getModelInfo(m).pretrained))
    select.add(new Option(name, name, name === 'torchvision/resnet18', name === 'torchvision/resnet18'));
  const suggest = () => (url.value = getModelInfo(select.value).pretrained!.url);
  select.onchange = suggest;
  suggest();
  const load = async (bytes: Uint8Array, name: string) => {
    await startBackend();
    setStatus(`Reading ${name}…`);
    await tf.nextFrame();
    app.pretrained = loadPretrained(bytes, name, select.value);
  };
  const loadFile = (file: File | undefined) =>
    file && act(async () => load(new Uint8Array(await file.arrayBuffer()), file.name));
  $<HTMLInputElement>('pretrained-file').onchange = (e) => void loadFile((e.target as HTMLInputElement).files?.[0]);
  const zone = $('pretrained');
  zone.ondragover = (e) => {
    e.preventDefault();
    zone.classList.add('dropping');
  };
  zone.ondragleave = () => zone.classList.remove('dropping');
  zone.ondrop = (e) => {
    e.preventDefault();
    zone.classList.remove('dropping');
    void loadFile(e.dataTransfer?.files[0]);
  };
  $('pretrained-load').onclick = () =>
    void act(async () => {
      const address = url.value.trim();
      setStatus(`Fetching ${address}…`);
      const response = await fetch(address).catch(() => {
        throw new Error(
          `${address}: could not be fetched (offline, or the server does not let this page read it): ` +
            'download the file and pick it instead',
        );
      });
      if (!response.ok) throw new Error(`${address}: the server answered ${response.status} ${response.statusText}`);
      await load(new Uint8Array(await response.arrayBuffer()), decodeURIComponent(address.split('/').pop() || address));
    });
}

/** "Teach": classes of examples from the webcam or files, then the page's net fine-tuned on them (features frozen). */
function wireTeach() {
  const net = () => {
    const page = pageNet(data);
    if (!page) throw new Error('Teach: load pretrained weights (or train a net) first');
    return page;
  };
  $('teach-add').onclick = () =>
    void act(() => {
      addClass($<HTMLInputElement>('teach-name').value);
      $<HTMLInputElement>('teach-name').value = '';
    });
  // The class list is redrawn as it changes: its buttons are handled here, by the class's row.
  const row = (e: Event) => Number((e.target as HTMLElement).closest('li')?.dataset.k);
  $('teach-classes').onclick = (e) => {
    if ((e.target as HTMLElement).classList.contains('teach-capture')) void act(() => capture(row(e), net().card));
  };
  $('teach-classes').onchange = (e) => {
    const input = e.target as HTMLInputElement;
    if (input.classList.contains('teach-files')) void act(() => addFiles(row(e), [...(input.files ?? [])], net().card));
  };
  $('teach-train').onclick = () =>
    void act(async () => {
      const d = teachData(net().card);
      form.freeze.value = 'features';
      await useData(d);
      await startTraining(d, false);
      if (!d.heldOut)
        setStatus(
          `${$('status').textContent} (validated on the training examples: give each class 5 to hold some out)`,
        );
    });
  app.taught = taught;
}

main().catch(fail);
