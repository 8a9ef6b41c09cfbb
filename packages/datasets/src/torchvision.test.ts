import '@tensorflow/tfjs-backend-cpu';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { decodeImage } from './images.js';
import { readArchive } from './node.js';
import { compose, normalize, resize, toTensor } from './transforms.js';

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
