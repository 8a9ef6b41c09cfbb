import { describe, expect, it } from 'vitest';
import { ImageDataset } from './dataset.js';

/** 100 one-pixel images sorted by class as an image folder is: 40 of class 0, 30 of 1, 20 of 2, 10 of 3. */
function classSorted(): ImageDataset {
  const labels = Uint8Array.from([
    ...Array(40).fill(0),
    ...Array(30).fill(1),
    ...Array(20).fill(2),
    ...Array(10).fill(3),
  ]);
  const images = Uint8Array.from(labels.keys(), (i) => i); // each pixel is its own index
  return new ImageDataset(images, labels, [1, 1, 1], ['a', 'b', 'c', 'd'], 'test');
}

const counts = (d: ImageDataset) => [0, 1, 2, 3].map((c) => d.labels.filter((l) => l === c).length);

describe('ImageDataset.sample', () => {
  it('takes the classes in turn, where head would take one class', () => {
    const data = classSorted();
    expect(counts(data.head(12))).toEqual([12, 0, 0, 0]);
    expect(counts(data.sample(12, 0))).toEqual([3, 3, 3, 3]);
    expect(counts(data.sample(50, 0))).toEqual([14, 13, 13, 10]); // class 3 runs out at 10
  });

  it('keeps each image with its label, in the source order, and repeats for a seed', () => {
    const data = classSorted();
    const a = data.sample(20, 7);
    expect(Array.from(a.labels)).toEqual(Array.from(a.images, (i) => data.labels[i]));
    expect(Array.from(a.images)).toEqual([...a.images].sort((x, y) => x - y));
    expect(data.sample(20, 7).images).toEqual(a.images);
    expect(data.sample(20, 8).images).not.toEqual(a.images);
    expect(data.sample(1000, 0).length).toBe(100);
  });
});
