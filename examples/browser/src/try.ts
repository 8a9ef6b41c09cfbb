/**
 * "Try it": the page's net on your own image — drawn on the canvas (live as you draw), uploaded, or filmed by the
 * webcam — with its top 5 classes and Grad-CAM over what it saw. A grey net of 28 x 28 (MNIST's) gets its input as
 * MNIST's digits were made (`mnistStyle`: light ink on dark, scaled into 20 px, centred by mass); any other net gets
 * the image resized to its input. Normalised as the net was trained, run in eval mode.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mnistStyle } from '@convnets/datasets';
import { gradCam, type Module } from '@convnets/nn';
import { gradCamChart, mountChart } from '@convnets/plots';
import type { ModelCard } from '@convnets/trainer';
import { $, app } from './page.js';

const canvas = () => $<HTMLCanvasElement>('try-canvas');
const context = () => canvas().getContext('2d', { willReadFrequently: true })!;

/** What the last prediction gave, for the end-to-end test. */
export interface TryResult {
  top5: Array<{ label: string; probability: number }>;
  /** Grad-CAM's map size ([H, W] of the net's input). */
  camShape: number[];
}

/**
 * The net's input from the canvas's pixels: [1, H, W, C] in [0, 1], and its uint8 image for the Grad-CAM panel. A net
 * trained on crops (`cropPct`, ImageNet's) sees the central crop of the image resized to size / cropPct.
 */
async function inputFrom(
  pixels: ImageData,
  { inputSize: size, inChannels: channels, cropPct }: ModelCard,
  invertLight: boolean,
) {
  const { data, width, height } = pixels;
  const grey = new Uint8Array(width * height);
  for (let p = 0; p < width * height; p++)
    grey[p] = Math.round(0.299 * data[p * 4]! + 0.587 * data[p * 4 + 1]! + 0.114 * data[p * 4 + 2]!);
  // A photo of ink on paper is dark on light: MNIST's digits are light on dark.
  if (invertLight && grey.reduce((s, v) => s + v, 0) / grey.length > 127)
    for (let p = 0; p < grey.length; p++) grey[p] = 255 - grey[p]!;
  if (channels === 1 && size === 28) {
    const image = mnistStyle(grey, width, height);
    return { image, x: tf.tidy(() => tf.div(tf.tensor4d(image, [1, 28, 28, 1], 'float32'), 255)) };
  }
  const resized = tf.tidy(() => {
    const source =
      channels === 1
        ? tf.tensor3d(grey, [height, width, 1], 'int32')
        : tf.tensor3d(Uint8Array.from(data.filter((_, i) => i % 4 !== 3)), [height, width, 3], 'int32');
    const side = cropPct ? Math.floor(size / cropPct) : size;
    const scaled = tf.image.resizeBilinear(tf.cast(source, 'float32'), [side, side], false, true);
    const start = Math.floor((side - size) / 2);
    return tf.slice(scaled, [start, start, 0], [size, size, channels]);
  });
  // An asynchronous read: a GPU backend cannot read synchronously everywhere.
  const image = Uint8Array.from(await resized.data(), (v) => Math.round(Math.min(255, Math.max(0, v))));
  const x = tf.tidy(() => tf.expandDims(tf.div(resized, 255)));
  resized.dispose();
  return { image, x };
}

/** The prediction under way, if any (one at a time: a call while one runs is folded into one more after it). */
let running: Promise<void> | undefined;
let again = false;

/** Predicts what the canvas shows with `model`, fed as its `card` says. */
export function predictCanvas(model: Module, card: ModelCard, invertLight = false): Promise<void> {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    try {
      do {
        again = false;
        await predictOnce(model, card, invertLight);
      } while (again);
    } finally {
      running = undefined;
    }
  })();
  return running;
}

/** Resolves when no prediction runs (a training run must not share the net with one: it switches the net to eval). */
export async function predictionsSettled(): Promise<void> {
  while (running) await running.catch(() => undefined);
}

async function predictOnce(model: Module, card: ModelCard, invertLight: boolean) {
  const { inputSize, inChannels, mean, std, classes } = card;
  const shape = [inputSize, inputSize, inChannels];
  const { image, x: pixels } = await inputFrom(
    context().getImageData(0, 0, canvas().width, canvas().height),
    card,
    invertLight,
  );
  const x = tf.tidy(() => tf.div(tf.sub(pixels, [...mean]), [...std]));
  pixels.dispose();
  const wasTraining = model.training;
  model.eval();
  try {
    const logits = tf.tidy(() => tf.softmax(tf.reshape(model.forward(x), [-1])));
    const probabilities = Array.from(await logits.data());
    logits.dispose();
    const top5 = probabilities
      .map((probability, i) => ({ label: classes[i]!, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, 5);
    $('try-top5').innerHTML = top5
      .map(({ label, probability }) => `<li>${label} <small>${(probability * 100).toFixed(1)}%</small></li>`)
      .join('');
    const cam = await gradCam(model, x);
    const map = await cam.map.data();
    const camShape = cam.map.shape;
    cam.map.dispose();
    $('try-gradcam').replaceChildren();
    const title = `${classes[cam.predicted]} (p ${cam.predictedProbability.toFixed(2)})`;
    await mountChart($('try-gradcam'), gradCamChart({ data: image, shape }, [{ map, title }], { cellSize: 200 }));
    app.tryIt = { top5, camShape };
  } finally {
    x.dispose();
    model.train(wasTraining);
  }
}

/** Clears the canvas to black (MNIST's background). */
export function clearCanvas() {
  context().fillStyle = '#000';
  context().fillRect(0, 0, canvas().width, canvas().height);
}

/** Draws with the pointer in white strokes as thick as an MNIST pen; `drew` runs after each stroke segment. */
export function enableDrawing(drew: () => void) {
  const c = canvas();
  clearCanvas();
  let last: { x: number; y: number } | null = null;
  const at = (e: PointerEvent) => {
    const r = c.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * c.width) / r.width, y: ((e.clientY - r.top) * c.height) / r.height };
  };
  c.onpointerdown = (e) => {
    c.setPointerCapture(e.pointerId);
    last = at(e);
  };
  c.onpointermove = (e) => {
    if (!last) return;
    const p = at(e);
    const g = context();
    g.strokeStyle = '#fff';
    g.lineWidth = c.width / 12;
    g.lineCap = 'round';
    g.beginPath();
    g.moveTo(last.x, last.y);
    g.lineTo(p.x, p.y);
    g.stroke();
    last = p;
    drew();
  };
  c.onpointerup = () => {
    last = null;
    drew();
  };
}

/** Puts an uploaded image file on the canvas (scaled to fit, centred); refuses a file that is not an image. */
export async function drawFile(file: File): Promise<void> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name} is not an image this browser can decode (expected PNG, JPEG, GIF, WebP or BMP)`);
  }
  drawFitted(bitmap, bitmap.width, bitmap.height);
  bitmap.close();
}

function drawFitted(source: CanvasImageSource, width: number, height: number) {
  clearCanvas();
  const c = canvas();
  const scale = Math.min(c.width / width, c.height / height);
  const [w, h] = [width * scale, height * scale];
  context().drawImage(source, (c.width - w) / 2, (c.height - h) / 2, w, h);
}

let stream: MediaStream | undefined;

/**
 * Turns the webcam on or off (says why it cannot): a frame onto the canvas, then `drew` (its prediction), then
 * `everyMs` for the page before the next frame, so that a slow net's predictions never queue up.
 */
export async function toggleWebcam(drew: () => Promise<void>, everyMs = 400): Promise<boolean> {
  const video = $<HTMLVideoElement>('try-video');
  if (stream) {
    for (const track of stream.getTracks()) track.stop();
    stream = undefined;
    video.hidden = true;
    return false;
  }
  if (!navigator.mediaDevices?.getUserMedia)
    throw new Error('Webcam: this page cannot use a camera (no getUserMedia here)');
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true });
  } catch (err) {
    const name = err instanceof Error ? err.name : String(err);
    const why =
      name === 'NotAllowedError' ? 'permission was refused' : name === 'NotFoundError' ? 'no camera was found' : name;
    throw new Error(`Webcam: ${why}; draw or upload an image instead`);
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const frame = async () => {
    if (!stream) return;
    drawFitted(video, video.videoWidth, video.videoHeight);
    await drew();
    setTimeout(frame, everyMs);
  };
  void frame();
  return true;
}
