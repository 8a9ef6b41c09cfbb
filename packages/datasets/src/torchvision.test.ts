import '@tensorflow/tfjs-backend-cpu';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { decodeImage } from './images.js';
import { readArchive } from './node.js';
import { IMAGENET, IMAGENET_STD, inferenceTransform } from './imagenet.js';
import { resizeImage } from './resample.js';
import { centerCrop, compose, normalize, resize, toTensor } from './transforms.js';

const shared = path.resolve(import.meta.dirname, '../../../../shared/data/cifar10-images.tar.gz');

/**
 * The notebook's chain, `ToTensor()`, `Resize(n)`, `Normalize(0.5, 0.5)`, run by torchvision (Debian's
 * python3-torchvision) on the pixels of a real CIFAR-10 JPEG, as decoded here (JPEG decoders differ by a few levels;
 * the chain is what is compared). It prints the NCHW result as JSON.
 */
const TORCHVISION = `
import json, sys
import numpy as np, torch
from PIL import Image
from torchvision import transforms
size = int(sys.argv[1])
pixels = np.frombuffer(sys.stdin.buffer.read(), dtype=np.uint8).reshape(32, 32, 3)
chain = transforms.Compose([transforms.ToTensor(), transforms.Resize(size),
                            transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])])
print(json.dumps(chain(Image.fromarray(pixels)).reshape(-1).tolist()))
`;

/** Whether Debian's torchvision is importable (CI installs it and requires it: CONVNETS_TORCH_REQUIRED=1). */
function hasTorchvision(): boolean {
  if (process.env.CONVNETS_TORCH_REQUIRED === '1') return true;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.runIf(existsSync(shared) && hasTorchvision())("the notebook's transform chain against torchvision", () => {
  it.each([224, 96])(
    'ToTensor, Resize(%i), Normalize(0.5, 0.5) on a real CIFAR-10 JPEG equal torchvision within 2e-6',
    async (size) => {
      const entry = (await readArchive(shared)).find((e) => e.path.endsWith('test/cat/0000.jpg'))!;
      const { data } = decodeImage(entry.data, entry.path, 3);
      const theirs = Float32Array.from(
        JSON.parse(
          execFileSync('/usr/bin/python3', ['-c', TORCHVISION, String(size)], {
            input: Buffer.from(data),
            maxBuffer: 64 * 2 ** 20,
            stderr: 'ignore',
          } as never).toString(),
        ) as number[],
      );
      const chain = compose(toTensor(), resize(size), normalize(0.5, 0.5));
      const ours = tf.tidy(() => {
        // Raw 0..255 pixels as float32, as the DataLoader hands them to a transform.
        const x = chain(tf.tensor4d(data, [1, 32, 32, 3]), { random: Math.random });
        return tf.transpose(x, [0, 3, 1, 2]); // NCHW, as torchvision's
      });
      expect(ours.shape).toEqual([1, 3, size, size]);
      const values = ours.dataSync() as Float32Array;
      ours.dispose();
      expect(values.length).toBe(theirs.length);
      const worst = values.reduce((w, v, i) => Math.max(w, Math.abs(v - theirs[i]!)), 0);
      // A few float32 steps apart at most: torch interpolates in float32, tfjs's cpu kernel in float64 then rounds, and
      // Normalize(0.5, 0.5) doubles what is left (1.07e-6 seen at 224, on values in [-1, 1]).
      expect(worst).toBeLessThan(2e-6);
    },
  );
});

/**
 * torchvision's ImageNet evaluation preprocessing (its weights' `transforms()`: ImageClassification, resize 256 with
 * antialias, center crop 224, ImageNet's mean and std) on a PIL image, and its antialiased resize of a float tensor,
 * for the same pixels. Prints both, NCHW, as JSON.
 */
const TORCHVISION_IMAGENET = `
import json, sys
import numpy as np, torch
from PIL import Image
from torchvision.transforms import functional as F
from torchvision.transforms._presets import ImageClassification
h, w = int(sys.argv[1]), int(sys.argv[2])
pixels = np.frombuffer(sys.stdin.buffer.read(), dtype=np.uint8).reshape(h, w, 3)
preset = ImageClassification(crop_size=224, resize_size=256)(Image.fromarray(pixels))
tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)
resized = F.resize(tensor, 100, antialias=True)
pil = np.asarray(Image.fromarray(pixels).resize((100, 75), Image.BILINEAR))
print(json.dumps({'preset': preset.reshape(-1).tolist(), 'resized': resized.reshape(-1).tolist(),
                  'resizedShape': list(resized.shape), 'pil': pil.reshape(-1).tolist()}))
`;

describe.runIf(hasTorchvision())("ImageNet's evaluation preprocessing against torchvision", () => {
  // A photo-sized image with edges and texture; 300x400: the resize gives 256x341, whose crop offset (58.5) Python
  // rounds to even.
  const [h, w] = [300, 400];
  const pixels = Uint8Array.from({ length: h * w * 3 }, (_, i) => {
    const [y, x, c] = [Math.floor(i / (w * 3)), Math.floor(i / 3) % w, i % 3];
    const v =
      128 + 90 * Math.sin(0.3 * x + c) * Math.cos(0.17 * y) + ((Math.floor(x / 7) + Math.floor(y / 5)) % 2) * 35;
    return Math.max(0, Math.min(255, Math.round(v)));
  });
  const theirs = JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', TORCHVISION_IMAGENET, String(h), String(w)], {
      input: Buffer.from(pixels),
      maxBuffer: 256 * 2 ** 20,
      stderr: 'ignore',
    } as never).toString(),
  ) as { preset: number[]; resized: number[]; resizedShape: number[]; pil: number[] };
  const nchw = (x: tf.Tensor4D) => tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]).dataSync() as Float32Array);
  const worst = (a: Float32Array, b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  it("resizes with antialias as torchvision's tensor resize does (a third: each pixel averages 6x6), within 1e-5", () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(pixels, [1, h, w, 3], 'float32');
    const resized = tf.tidy(() => compose(toTensor(), resize(100, { antialias: true }))(x, { random: Math.random }));
    expect([1, 3, ...resized.shape.slice(1, 3)]).toEqual(theirs.resizedShape);
    expect(worst(nchw(resized), theirs.resized)).toBeLessThan(1e-5);
    tf.dispose([x, resized]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("gives what torchvision's ImageNet preset gives a PIL image, within PIL's 8-bit rounding (1/255)", () => {
    const x = tf.tensor4d(pixels, [1, h, w, 3], 'float32');
    const ours = inferenceTransform(IMAGENET)(x, { random: Math.random });
    expect(ours.shape).toEqual([1, 224, 224, 3]);
    const values = nchw(ours);
    // PIL resizes 8-bit pixels in two rounded passes: at most one level apart, after normalising 1 / (255 std).
    const scaled = values.map((v, i) => (v - theirs.preset[i]!) * IMAGENET_STD[Math.floor(i / (224 * 224))]!);
    expect(scaled.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(1 / 255 + 1e-5);
    tf.dispose([x, ours]);
  });

  it("resizes an 8-bit image (an image folder's, loaded at a net's size) as PIL does, within one level", () => {
    const ours = resizeImage(pixels, [h, w, 3], [75, 100]);
    expect(ours.length).toBe(theirs.pil.length);
    expect(ours.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs.pil[i]!)), 0)).toBeLessThanOrEqual(1);
  });

  it("center-crops as torchvision does: Python's rounding of the offsets, zeros around a smaller image", () => {
    const x = tf.tensor4d(
      Float32Array.from({ length: 5 * 4 }, (_, i) => i + 1),
      [1, 5, 4, 1],
    );
    // (5 - 2) / 2 = 1.5 rounds to 2, (4 - 3) / 2 = 0.5 to 0.
    expect(centerCrop([2, 3])(x, { random: Math.random }).arraySync()).toEqual([
      [
        [[9], [10], [11]],
        [[13], [14], [15]],
      ],
    ]);
    // A 6x6 window around 5x4: padded by (0, 1) rows and (1, 1) columns, as torchvision pads.
    const padded = centerCrop(6)(x, { random: Math.random });
    expect(padded.shape).toEqual([1, 6, 6, 1]);
    expect((padded.arraySync() as number[][][][])[0]!.map((row) => row.map(([v]) => v))[0]).toEqual([0, 1, 2, 3, 4, 0]);
    tf.dispose([x, padded]);
  });
});
