import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { decode as decodePng } from 'fast-png';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  accuracyChart,
  channelHeatmapChart,
  confusionMatrixChart,
  curveChart,
  featureMapsChart,
  gradCamChart,
  imageGridChart,
  lossChart,
  mountChart,
  notebookChart,
  renderSvg,
  updateCurves,
} from './index.js';
import { renderPng, writeChart, writeCurves } from './node.js';

/** The aria-labels Vega writes for every mark of one kind ('point', 'line mark', 'rect mark', ...): one per datum. */
function marks(svg: string, kind: string): string[] {
  return [...svg.matchAll(new RegExp(`<[a-z]+ [^>]*aria-roledescription="${kind}"[^>]*>`, 'g'))].map(
    (m) => /aria-label="([^"]*)"/.exec(m[0])?.[1] ?? '',
  );
}
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

const history = {
  trainLoss: [2.1, 1.2, 0.7],
  validLoss: [1.9, 1.3, 0.9],
  trainAcc: [0.31, 0.62, 0.81],
  validAcc: [0.35, 0.6, 0.74],
};

describe('accuracy and loss curves', () => {
  it("draw both series with one point per epoch, the notebook's titles, axes and legend", async () => {
    for (const [spec, title, metric, key] of [
      [accuracyChart(history), 'Accuracy vs. No. of epochs', 'accuracy', 'Acc'],
      [lossChart(history), 'Loss vs. No. of epochs', 'loss', 'Loss'],
    ] as const) {
      const svg = await renderSvg(spec);
      const words = texts(svg);
      for (const t of [title, 'epoch', metric, 'Training', 'Validation']) expect(words).toContain(t);
      const points = marks(svg, 'point');
      expect(points).toHaveLength(6);
      const train = history[`train${key}`];
      const valid = history[`valid${key}`];
      expect(points.filter((p) => p.includes('series: Training'))).toEqual(
        train.map((v, i) => `epoch: ${i + 1}; ${metric}: ${v}; series: Training`),
      );
      expect(points.filter((p) => p.includes('series: Validation'))).toHaveLength(valid.length);
      expect(marks(svg, 'line mark')).toHaveLength(2);
    }
  });

  it('refuse an empty history, mismatched lengths and non-numbers, naming the field', () => {
    expect(() => accuracyChart({ trainLoss: [], validLoss: [], trainAcc: [], validAcc: [] })).toThrow(
      'accuracy chart: the history is empty: expected at least one epoch',
    );
    expect(() => lossChart({ ...history, validLoss: [1] })).toThrow(
      'loss chart: history.trainLoss has 3 epochs but history.validLoss has 1: expected the same number',
    );
    expect(() => accuracyChart({ ...history, trainAcc: [0.1, Number.NaN, 0.3] })).toThrow(
      'accuracy chart: history.trainAcc[1] is NaN: expected a finite number',
    );
    expect(() => lossChart({ trainAcc: [1] } as never)).toThrow('loss chart: history.trainLoss is missing');
  });

  it('render to a PNG of the expected size that is not blank, in both series colours', async () => {
    const svg = await renderSvg(accuracyChart(history));
    const [w, h] = [/width="(\d+)"/.exec(svg)![1], /height="(\d+)"/.exec(svg)![1]].map(Number) as [number, number];
    const png = decodePng(await renderPng(accuracyChart(history), { scale: 2 }));
    expect([png.width, png.height]).toEqual([w * 2, h * 2]);
    const colours = new Set<string>();
    for (let i = 0; i < png.data.length; i += png.channels)
      colours.add(`${png.data[i]},${png.data[i + 1]},${png.data[i + 2]}`);
    expect(colours.size).toBeGreaterThan(50);
    expect(colours.has('214,39,40')).toBe(true); // training, '-rx'
    expect(colours.has('31,119,180')).toBe(true); // validation, '-bx'
  });

  it('stream new epochs into a mounted (here headless) live chart', async () => {
    const chart = await mountChart(undefined, curveChart('loss'));
    expect(marks(await chart.view.toSVG(), 'point')).toHaveLength(0);
    await updateCurves(chart, 'loss', {
      trainLoss: [1, 0.5],
      validLoss: [1.1, 0.7],
      trainAcc: [0.5, 0.6],
      validAcc: [0.4, 0.5],
    });
    expect(marks(await chart.view.toSVG(), 'point')).toHaveLength(4);
    await updateCurves(chart, 'loss', history);
    expect(marks(await chart.view.toSVG(), 'point')).toHaveLength(6);
    chart.finalize();
  });
});

describe('image grid', () => {
  // 12 images of 4x3 RGB whose pixel (n, y, x, c) = 10n + 3y + x + 100c.
  const pixels = Uint8Array.from({ length: 12 * 4 * 3 * 3 }, (_, i) => {
    const [n, y, x, c] = [Math.floor(i / 36), Math.floor(i / 9) % 4, Math.floor(i / 3) % 3, i % 3];
    return 10 * n + 3 * y + x + 100 * c;
  });
  const dataset = {
    images: pixels,
    imageShape: [4, 3, 3] as const,
    labels: Uint8Array.from({ length: 12 }, (_, i) => i % 3),
    classes: ['cat', 'dog', 'ship'],
    length: 12,
  };
  const embedded = (svg: string) =>
    [...svg.matchAll(/href="data:image\/png;base64,([^"]+)"/g)].map((m) => decodePng(Buffer.from(m[1]!, 'base64')));

  it('shows each image, exactly, titled with its class name', async () => {
    const svg = await renderSvg(imageGridChart(dataset, { columns: 5 }));
    const images = embedded(svg);
    expect(images).toHaveLength(12);
    images.forEach((img, n) => {
      expect([img.width, img.height, img.channels]).toEqual([3, 4, 3]);
      expect(Array.from(img.data)).toEqual(Array.from(pixels.subarray(n * 36, (n + 1) * 36)));
    });
    const words = texts(svg);
    expect(words.filter((t) => t === 'cat')).toHaveLength(4);
    expect(words.filter((t) => t === 'ship')).toHaveLength(4);
  });

  it("undoes the notebook's normalisation (img / 2 + 0.5) for a normalised NHWC tensor", async () => {
    const normalised = tf.tidy(() =>
      tf.div(tf.sub(tf.div(tf.tensor4d(pixels, [12, 4, 3, 3], 'float32'), 255), 0.5), 0.5),
    );
    const svg = await renderSvg(
      imageGridChart(normalised, { count: 2, titles: ['a', 'b'], denormalize: { mean: 0.5, std: 0.5 } }),
    );
    normalised.dispose();
    const images = embedded(svg);
    expect(images).toHaveLength(2);
    expect(Array.from(images[1]!.data)).toEqual(Array.from(pixels.subarray(36, 72)));
    expect(texts(svg)).toEqual(expect.arrayContaining(['a', 'b']));
  });

  it('refuses the wrong rank, channel count or too few labels', () => {
    const flat = tf.zeros([4, 4]);
    expect(() => imageGridChart(flat)).toThrow(
      'image grid: images have shape [4, 4]: expected NHWC [N, H, W, C] or one [H, W, C] image',
    );
    flat.dispose();
    expect(() => imageGridChart({ data: new Float32Array(2 * 2 * 2 * 2), shape: [2, 2, 2, 2] })).toThrow(
      'image grid: images have 2 channels (shape [2, 2, 2, 2]): expected 1 or 3, channels last (NHWC)',
    );
    expect(() => imageGridChart(dataset, { labels: [1] })).toThrow('image grid: 1 labels for 12 images');
    expect(() => imageGridChart({ data: new Float32Array(5), shape: [1, 2, 2, 1] })).toThrow(
      'image grid: 5 values do not fill shape [1, 2, 2, 1]',
    );
  });
});

describe('channel heatmap', () => {
  it('draws one grey map per channel with every value written in its cell (2 decimals)', async () => {
    // One 3x3 RGB image: red = 0.5 everywhere but (0,0) = 1, green = 0.25, blue 0.
    const data = new Float32Array(27).map((_, i) => [0.5, 0.25, 0][i % 3]!);
    data[0] = 1;
    const svg = await renderSvg(channelHeatmapChart({ data, shape: [3, 3, 3] }));
    for (const t of ['red channel', 'green channel', 'blue channel']) expect(texts(svg)).toContain(t);
    expect(marks(svg, 'rect mark')).toHaveLength(27);
    const values = texts(svg).filter((t) => /^\d/.test(t));
    expect(values).toHaveLength(27);
    expect(values.filter((v) => v === '0.25')).toHaveLength(9);
    expect(values.filter((v) => v === '1')).toHaveLength(1);
    expect(values.filter((v) => v === '0.5')).toHaveLength(8);
  });

  it('crops to the top-left corner and refuses a missing image', async () => {
    const svg = await renderSvg(
      channelHeatmapChart({ data: new Float32Array(2 * 5 * 5), shape: [2, 5, 5, 1] }, { index: 1, crop: 2 }),
    );
    expect(marks(svg, 'rect mark')).toHaveLength(4);
    expect(texts(svg)).toContain('grey channel');
    expect(() => channelHeatmapChart({ data: new Float32Array(25), shape: [1, 5, 5, 1] }, { index: 3 })).toThrow(
      'channel heatmap: image 3 does not exist: expected 0..0',
    );
  });
});

describe('inside a net', () => {
  const embedded = (svg: string) =>
    [...svg.matchAll(/href="data:image\/png;base64,([^"]+)"/g)].map((m) => decodePng(Buffer.from(m[1]!, 'base64')));

  it('feature maps: the input, then each channel scaled to its own range, capped with the count in the title', async () => {
    // [1, 2, 2, 3]: channel k at pixel p is (p + 1) * (k + 1), except channel 2 is flat (drawn black).
    const data = Float32Array.from({ length: 12 }, (_, i) =>
      i % 3 === 2 ? 5 : (Math.floor(i / 3) + 1) * ((i % 3) + 1),
    );
    const input = { data: Uint8Array.of(0, 255, 255, 0), shape: [2, 2, 1] };
    const svg = await renderSvg(featureMapsChart({ data, shape: [1, 2, 2, 3] }, { input, title: 'layer 1' }));
    expect(texts(svg)).toEqual(expect.arrayContaining(['layer 1: 3 channels, 2x2 each (each scaled to its range)']));
    const [shownInput, ...maps] = embedded(svg);
    expect(Array.from(shownInput!.data)).toEqual([0, 255, 255, 0]);
    expect(maps.map((m) => Array.from(m.data))).toEqual([
      [0, 85, 170, 255],
      [0, 85, 170, 255],
      [0, 0, 0, 0],
    ]);
    const capped = await renderSvg(featureMapsChart({ data, shape: [2, 2, 3] }, { maxChannels: 2 }));
    expect(texts(capped)).toContain('the first 2 of 3 channels, 2x2 each (each scaled to its range)');
    expect(embedded(capped)).toHaveLength(2);
    expect(() => featureMapsChart({ data, shape: [12] })).toThrow('feature maps: shape [12]: expected one map stack');
  });

  it('Grad-CAM: the greyed image blended half and half with the map in jet colours, one titled panel per map', async () => {
    const image = { data: Uint8Array.of(0, 0, 0, 255, 255, 255), shape: [1, 2, 3] }; // black, white pixels
    const panels = [
      { map: [0, 1], title: 'predicted: 7 (p 0.900)' },
      { map: [0.5, 0.5], title: 'true: 1 (p 0.100)' },
    ];
    const svg = await renderSvg(gradCamChart(image, panels, { title: 'Grad-CAM at layer 3' }));
    expect(texts(svg)).toEqual(expect.arrayContaining(['Grad-CAM at layer 3', ...panels.map((p) => p.title)]));
    const [first, second] = embedded(svg).map((png) => Array.from(png.data));
    // jet(0) = dark blue (0, 0, 0.5); jet(1) = dark red (0.5, 0, 0); jet(0.5) = green-cyan-yellow (0.5, 1, 0.5).
    expect(first).toEqual([0, 0, 64, 191, 128, 128]);
    expect(second).toEqual([64, 128, 64, 191, 255, 191]);
    expect(() => gradCamChart(image, [{ map: [0], title: 'x' }])).toThrow(
      'grad-cam: a map of 1 values for a 1x2 image',
    );
  });
});

describe('confusion matrix', () => {
  it('puts each count in its (true, predicted) cell', async () => {
    const svg = await renderSvg(
      confusionMatrixChart(
        [
          [5, 1],
          [2, 7],
        ],
        ['cat', 'dog'],
      ),
    );
    expect(marks(svg, 'rect mark').sort()).toEqual(
      [
        'predicted: cat; true: cat; images: 5',
        'predicted: dog; true: cat; images: 1',
        'predicted: cat; true: dog; images: 2',
        'predicted: dog; true: dog; images: 7',
      ].sort(),
    );
    expect(texts(svg)).toEqual(expect.arrayContaining(['Confusion matrix', 'predicted', 'true']));
  });

  it('refuses a matrix that does not fit the classes', () => {
    expect(() => confusionMatrixChart([[1, 2]], ['a', 'b'])).toThrow(
      'confusion matrix: got 1 rows of lengths [2]: expected 2 x 2 for 2 classes',
    );
    expect(() =>
      confusionMatrixChart(
        [
          [1, -2],
          [0, 0],
        ],
        ['a', 'b'],
      ),
    ).toThrow('confusion matrix: cell [0][1] is -2: expected a count');
  });
});

describe('files', () => {
  it('writes name.svg and name.png', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-plots-'));
    try {
      const written = await writeChart(lossChart(history), path.join(dir, 'loss'));
      expect(written.map((f) => path.basename(f))).toEqual(['loss.svg', 'loss.png']);
      expect(readdirSync(dir).sort()).toEqual(['loss.png', 'loss.svg']);
      expect(readFileSync(path.join(dir, 'loss.svg'), 'utf8')).toContain('Loss vs. No. of epochs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the curves of a history: accuracy and loss, in the formats asked for', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-plots-'));
    try {
      const written = await writeCurves(dir, history, ['svg']);
      expect(written.map((f) => path.basename(f))).toEqual(['accuracy.svg', 'loss.svg']);
      expect(readFileSync(path.join(dir, 'accuracy.svg'), 'utf8')).toContain('Accuracy vs. No. of epochs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('notebookChart', () => {
  const runs = [
    { experiment: 'nin', validAcc: [0.2, 0.35], notebookValidAcc: [0.25, 0.41, 0.5] },
    { experiment: 'densenet', validAcc: [0.4], notebookValidAcc: [0.5, 0.6] },
  ];

  it("draws a panel per experiment, in the given order, with a point per epoch of the run and of the notebook's log", async () => {
    const svg = await renderSvg(notebookChart(runs));
    const titles = texts(svg);
    expect(titles.indexOf('nin')).toBeGreaterThanOrEqual(0);
    expect(titles.indexOf('nin')).toBeLessThan(titles.indexOf('densenet'));
    expect(marks(svg, 'point')).toHaveLength(2 + 3 + 1 + 2);
    expect(titles).toEqual(expect.arrayContaining(['convnets', 'the notebook']));
  });

  it('refuses nothing to draw and a non-finite accuracy, naming it', () => {
    expect(() => notebookChart([])).toThrow('notebook chart: no experiments to draw');
    expect(() => notebookChart([{ ...runs[0]!, validAcc: [0.2, Number.NaN] }])).toThrow(
      "notebook chart: nin's validAcc[1] is not a finite number",
    );
  });
});
