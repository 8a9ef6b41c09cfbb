/** A small image folder of real MNIST digits, for the CLI's tests of the `folder` dataset. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { loadMnist } from '@convnets/datasets/node';

/** Its classes: MNIST's 1, 7 and 0 under these folder names (sorted, as the folder dataset orders them). */
export const DIGIT_FOLDER_CLASSES = ['one', 'seven', 'zero'];
const NAMES: Record<number, string> = { 1: 'one', 7: 'seven', 0: 'zero' };

/** Writes `folder/train|test/<class>/<i>.png` from MNIST's first 600 test digits: every fourth of a class to test. */
export async function writeDigitFolder(folder: string): Promise<void> {
  const { test } = await loadMnist({ splits: ['test'] });
  const counts = new Map<string, number>();
  for (let i = 0; i < 600; i++) {
    const cls = NAMES[test.labels[i]!];
    if (!cls) continue;
    const n = counts.get(cls) ?? 0;
    counts.set(cls, n + 1);
    const split = n % 4 === 3 ? 'test' : 'train';
    mkdirSync(path.join(folder, split, cls), { recursive: true });
    const data = test.images.subarray(i * 784, (i + 1) * 784);
    writeFileSync(path.join(folder, split, cls, `${i}.png`), encodePng({ width: 28, height: 28, data, channels: 1 }));
  }
}
