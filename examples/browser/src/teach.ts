/**
 * "Teach", as Teachable Machine does: name classes, give each examples — frames from the webcam (or whatever "Try it"
 * shows) and image files — and the examples become data for the page's net to fine-tune on (a new head, the features
 * frozen: session.ts's fine-tuning). Examples are kept at the net's input size, centre-cropped to a square.
 */
import { ImageDataset } from '@convnets/datasets';
import type { ModelCard } from '@convnets/trainer';
import type { Data } from './data.js';
import { $ } from './page.js';

interface TaughtClass {
  name: string;
  /** Each example: size * size * channels bytes. */
  examples: Uint8Array[];
}

const classes: TaughtClass[] = [];
/** The size and channels the examples were taken at (a net with another input starts the classes afresh). */
let taken: { size: number; channels: number } | undefined;

/** Adds a class named `name` (refusing an empty or repeated name). */
export function addClass(name: string): void {
  const trimmed = name.trim();
  if (!trimmed) throw new Error('Teach: give the class a name');
  if (classes.some((c) => c.name === trimmed)) throw new Error(`Teach: there is already a class named ${trimmed}`);
  classes.push({ name: trimmed, examples: [] });
  render();
}

/** The examples per class, for the page and its test. */
export const taught = () => classes.map((c) => ({ name: c.name, examples: c.examples.length }));

/** `source` (a video frame, a canvas, a decoded image) centre-cropped to a square, at the net's size and channels. */
function pixelsOf(source: CanvasImageSource, width: number, height: number, card: ModelCard): Uint8Array {
  const size = card.inputSize;
  const canvas = new OffscreenCanvas(size, size);
  const g = canvas.getContext('2d', { willReadFrequently: true })!;
  const side = Math.min(width, height);
  g.drawImage(source, (width - side) / 2, (height - side) / 2, side, side, 0, 0, size, size);
  const rgba = g.getImageData(0, 0, size, size).data;
  const channels = card.inChannels;
  const out = new Uint8Array(size * size * channels);
  for (let p = 0; p < size * size; p++) {
    if (channels === 1) out[p] = Math.round(0.299 * rgba[p * 4]! + 0.587 * rgba[p * 4 + 1]! + 0.114 * rgba[p * 4 + 2]!);
    else for (let c = 0; c < 3; c++) out[p * 3 + c] = rgba[p * 4 + c]!;
  }
  return out;
}

function add(k: number, example: Uint8Array, card: ModelCard) {
  const shape = { size: card.inputSize, channels: card.inChannels };
  if (taken && (taken.size !== shape.size || taken.channels !== shape.channels))
    for (const c of classes) c.examples = []; // taken for another net's input
  taken = shape;
  classes[k]!.examples.push(example);
  render();
}

/** Adds what the webcam shows now (or, without one, the "Try it" canvas) as an example of class `k`. */
export function capture(k: number, card: ModelCard): void {
  const video = $<HTMLVideoElement>('try-video');
  const live = !video.hidden && video.videoWidth > 0;
  const source: HTMLVideoElement | HTMLCanvasElement = live ? video : $<HTMLCanvasElement>('try-canvas');
  const [w, h] = live ? [video.videoWidth, video.videoHeight] : [source.width, source.height];
  add(k, pixelsOf(source, w, h, card), card);
}

/** Adds image files as examples of class `k`; a file that is not an image is refused by name (nothing is added). */
export async function addFiles(k: number, files: File[], card: ModelCard): Promise<void> {
  const decoded = await Promise.all(
    files.map((f) =>
      createImageBitmap(f).catch(() => {
        throw new Error(`Teach: ${f.name} is not an image this browser can decode (expected PNG, JPEG, GIF or WebP)`);
      }),
    ),
  );
  for (const bitmap of decoded) {
    add(k, pixelsOf(bitmap, bitmap.width, bitmap.height, card), card);
    bitmap.close();
  }
}

/**
 * The examples as data to fine-tune `from` on. Every fifth example of a class is held out for validation where the
 * class has five or more; with fewer there is nothing to spare, and validation is on the training examples (said).
 */
export function teachData(from: ModelCard): Data & { heldOut: boolean } {
  const ready = classes.filter((c) => c.examples.length > 0);
  if (ready.length < 2)
    throw new Error('Teach: give at least two classes an example each (capture from the webcam, or add images)');
  if (ready.length < classes.length)
    throw new Error(`Teach: ${classes.find((c) => c.examples.length === 0)!.name} has no examples yet`);
  const heldOut = classes.every((c) => c.examples.length >= 5);
  const split = (valid: boolean) => {
    const picked = classes.flatMap((c, label) =>
      c.examples.filter((_, i) => !heldOut || (i % 5 === 4) === valid).map((image) => ({ image, label })),
    );
    const images = new Uint8Array(picked.length * picked[0]!.image.length);
    picked.forEach(({ image }, i) => {
      images.set(image, i * image.length);
    });
    const shape = [from.inputSize, from.inputSize, from.inChannels] as const;
    const names = classes.map((c) => c.name);
    return new ImageDataset(
      images,
      Uint8Array.from(picked, (p) => p.label),
      shape,
      names,
      'teach',
    );
  };
  // Other classes make another net (a new head: the page's net is keyed by its classes), the same ones keep training it.
  return { train: split(false), valid: split(true), name: 'teach', from, heldOut };
}

/** Draws the class list: each class with its example count and its Capture and Add images controls. */
function render() {
  const list = $('teach-classes');
  list.replaceChildren(
    ...classes.map((c, k) => {
      const li = document.createElement('li');
      li.dataset.k = String(k);
      li.innerHTML =
        `<strong></strong> <span class="count">${c.examples.length} example(s)</span> ` +
        '<button type="button" class="teach-capture">Capture</button> ' +
        '<label class="file">Add images <input type="file" class="teach-files" accept="image/*" multiple /></label>';
      li.querySelector('strong')!.textContent = c.name;
      return li;
    }),
  );
}
