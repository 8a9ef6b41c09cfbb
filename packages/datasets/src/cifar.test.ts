import { mkdtempSync, readdirSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readJson } from '@convnets/tooling/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES, cifar10FromArchive, encodeCifarBatch, parseCifarBatch } from './cifar.js';
import { DatasetError } from './errors.js';
import { loadCifar10 } from './node.js';
import { writeTar } from './tar.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'convnets-cifar-'));
  dirs.push(d);
  return d;
};
// Removing the 60,000 extracted JPEGs took over a minute on a loaded CI host: allow it ten.
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))), 600_000);

/** n images whose pixel (n, y, x, c) is (n + 7y + 3x + 50c) mod 256, labels n mod 10. */
function synthetic(n: number, offset = 0) {
  const images = new Uint8Array(n * 32 * 32 * 3);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < 1024; p++)
      for (let c = 0; c < 3; c++)
        images[(i * 1024 + p) * 3 + c] = (i + offset + 7 * Math.floor(p / 32) + 3 * (p % 32) + 50 * c) % 256;
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => (i + offset) % 10) };
}

/** The six batch files of a miniature binary release: 2 images per training batch, 3 test images. */
function binaryRelease(): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (let b = 1; b <= 5; b++) {
    const { images, labels } = synthetic(2, 2 * (b - 1));
    files[`data_batch_${b}.bin`] = encodeCifarBatch(images, labels);
  }
  const test = synthetic(3, 100);
  files['test_batch.bin'] = encodeCifarBatch(test.images, test.labels);
  return files;
}

describe('the CIFAR-10 binary format', () => {
  it('reads planar R, G, B records into HWC pixels', () => {
    const record = new Uint8Array(3073);
    record[0] = 6;
    record[1 + 5] = 11; // R of pixel (0, 5)
    record[1 + 1024 + 32] = 22; // G of pixel (1, 0)
    record[1 + 2048 + 1023] = 33; // B of pixel (31, 31)
    const { images, labels } = parseCifarBatch(record, 'one.bin');
    expect(labels).toEqual(Uint8Array.of(6));
    expect([images[5 * 3], images[32 * 3 + 1], images[1023 * 3 + 2]]).toEqual([11, 22, 33]);
    expect(images.reduce((a, b) => a + b, 0)).toBe(66);
  });

  it('names the file and what was expected for a wrong size or a bad label', () => {
    expect(() => parseCifarBatch(new Uint8Array(3074), 'data_batch_1.bin')).toThrow(
      'data_batch_1.bin: is 3074 bytes, expected a whole number of 3073-byte records',
    );
    const bad = new Uint8Array(2 * 3073);
    bad[3073] = 10;
    expect(() => parseCifarBatch(bad, 'test_batch.bin')).toThrow(
      'test_batch.bin (byte 3073): record 1 has label 10, expected 0..9',
    );
  });

  it('loads from a folder, its cifar-10-batches-bin/ subfolder, or the .tar.gz (extracted once into the cache)', async () => {
    const files = binaryRelease();
    const flat = tmp();
    for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(flat, name), bytes);
    const nested = tmp();
    mkdirSync(path.join(nested, 'cifar-10-batches-bin'));
    for (const [name, bytes] of Object.entries(files))
      writeFileSync(path.join(nested, 'cifar-10-batches-bin', name), bytes);
    const archiveDir = tmp();
    const archive = path.join(archiveDir, 'cifar-10-binary.tar.gz');
    writeFileSync(
      archive,
      gzipSync(writeTar(Object.entries(files).map(([name, data]) => ({ path: `cifar-10-batches-bin/${name}`, data })))),
    );
    const cacheDir = tmp();

    const expected = synthetic(10);
    for (const root of [flat, nested, archive]) {
      const { train, test } = await loadCifar10({ root, cacheDir });
      expect([train.length, test.length]).toEqual([10, 3]);
      expect(train.imageShape).toEqual([32, 32, 3]);
      expect(train.classes).toEqual(CIFAR10_CLASSES);
      expect(train.images).toEqual(expected.images);
      expect(train.labels).toEqual(expected.labels);
      expect(test.get(0).label).toBe(0); // image 100 -> label 0
    }
    expect(readdirSync(cacheDir)).toEqual(['cifar-10-binary']);
    // Another archive of the same name (here: only 3 test images relabelled) is extracted afresh, not the cached folder reused.
    const otherDir = tmp();
    const other = path.join(otherDir, 'cifar-10-binary.tar.gz');
    const relabelled = {
      ...files,
      'test_batch.bin': encodeCifarBatch(synthetic(3, 105).images, Uint8Array.of(9, 9, 9)),
    };
    writeFileSync(
      other,
      gzipSync(
        writeTar(Object.entries(relabelled).map(([name, data]) => ({ path: `cifar-10-batches-bin/${name}`, data }))),
      ),
    );
    expect(Array.from((await loadCifar10({ root: other, cacheDir })).test.labels)).toEqual([9, 9, 9]);
    expect(Array.from((await loadCifar10({ root: archive, cacheDir })).test.labels)).toEqual([0, 1, 2]);
    const again = await cifar10FromArchive(
      new Uint8Array(gzipSync(writeTar(Object.entries(files).map(([name, data]) => ({ path: name, data }))))),
    );
    expect(again.train.images).toEqual(expected.images);
  });

  it('rejects an archive whose entries would escape the extraction folder, writing nothing', async () => {
    const dir = tmp();
    const archive = path.join(dir, 'evil.tar');
    writeFileSync(
      archive,
      writeTar([
        { path: 'ok/data_batch_1.bin', data: new Uint8Array(3073) },
        { path: '../escaped.bin', data: Uint8Array.of(1) },
      ]),
    );
    const cacheDir = path.join(dir, 'cache');
    await expect(loadCifar10({ root: archive, cacheDir })).rejects.toThrow(
      `${archive}: entry "../escaped.bin" would escape the extraction folder`,
    );
    expect(existsSync(path.join(dir, 'escaped.bin'))).toBe(false);
    expect(existsSync(path.join(cacheDir, 'evil'))).toBe(false);
  });

  it('loads the test split alone from a folder that holds only test_batch.bin', async () => {
    const root = tmp();
    writeFileSync(path.join(root, 'test_batch.bin'), binaryRelease()['test_batch.bin']!);
    const { test } = await loadCifar10({ root, splits: ['test'] });
    expect([test.length, test.labels]).toEqual([3, synthetic(3, 100).labels]);
    await expect(loadCifar10({ root })).rejects.toThrow(
      `${root}: holds neither the CIFAR-10 binary release (data_batch_1.bin...) nor train/ and test/ image folders`,
    );
  });

  it('says what a folder should hold when it holds neither form', async () => {
    const root = tmp();
    await expect(loadCifar10({ root, cacheDir: tmp() })).rejects.toThrow(
      `${root}: holds neither the CIFAR-10 binary release (data_batch_1.bin...) nor train/ and test/ image folders`,
    );
    await expect(loadCifar10({})).rejects.toThrow(DatasetError);
  });
});

describe('downloading the release (from a local server on 127.0.0.1)', () => {
  const archive = new Uint8Array(
    gzipSync(
      writeTar(Object.entries(binaryRelease()).map(([name, data]) => ({ path: `cifar-10-batches-bin/${name}`, data }))),
    ),
  );
  const md5 = createHash('md5').update(archive).digest('hex');
  let server: Server;
  let base = '';
  const hits: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url!);
      if (req.url === '/cifar-10-binary.tar.gz') return res.end(archive);
      if (req.url === '/truncated/cifar-10-binary.tar.gz') {
        res.writeHead(200, { 'content-length': String(archive.length) });
        res.write(archive.subarray(0, 1000));
        return res.destroy();
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it('downloads once with a good MD5, then uses the cached copy', async () => {
    const cacheDir = tmp();
    const first = await loadCifar10({ download: true, url: `${base}/cifar-10-binary.tar.gz`, md5, cacheDir });
    const second = await loadCifar10({ download: true, url: `${base}/cifar-10-binary.tar.gz`, md5, cacheDir });
    expect(first.train.length).toBe(10);
    expect(second.train.images).toEqual(first.train.images);
    expect(hits.filter((h) => h === '/cifar-10-binary.tar.gz')).toHaveLength(1);
    expect(readdirSync(cacheDir).sort()).toEqual(['cifar-10-binary', 'cifar-10-binary.tar.gz']);
  });

  it('keeps nothing when the MD5 does not match or the transfer is cut short', async () => {
    const cacheDir = tmp();
    const wrong = '0'.repeat(32);
    await expect(
      loadCifar10({ download: true, url: `${base}/cifar-10-binary.tar.gz`, md5: wrong, cacheDir }),
    ).rejects.toThrow(
      `${base}/cifar-10-binary.tar.gz: MD5 is ${md5}, expected ${wrong}: corrupt or wrong file, nothing was kept`,
    );
    await expect(
      loadCifar10({ download: true, url: `${base}/truncated/cifar-10-binary.tar.gz`, md5, cacheDir }),
    ).rejects.toThrow(/nothing was kept/);
    await expect(loadCifar10({ download: true, url: `${base}/missing.tar.gz`, cacheDir })).rejects.toThrow(
      `${base}/missing.tar.gz: download failed: HTTP 404`,
    );
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});

const shared = path.resolve(import.meta.dirname, '../../../../shared/data/cifar10-images.tar.gz');

describe.runIf(existsSync(shared))('the real CIFAR-10 JPEGs (shared/data), against PIL', () => {
  const reference = readJson<{
    counts: Record<string, Record<string, number>>;
    mean: Record<string, number[]>;
    samples: Record<string, number[]>;
  }>(new URL('../fixtures/cifar10-images.json', import.meta.url));
  const cacheDir = tmp();
  let splits: Awaited<ReturnType<typeof loadCifar10>>;
  beforeAll(async () => {
    splits = await loadCifar10({ root: shared, cacheDir });
  }, 600_000);

  it('has 50,000 + 10,000 images of 32x32x3 in the ten classes, as PIL counted them', () => {
    expect(splits.train.classes).toEqual(CIFAR10_CLASSES);
    for (const split of ['train', 'test'] as const) {
      const counts = Object.fromEntries(
        CIFAR10_CLASSES.map((c, k) => [c, splits[split].labels.filter((l) => l === k).length]),
      );
      expect(counts).toEqual(reference.counts[split]);
      expect(splits[split].imageShape).toEqual([32, 32, 3]);
    }
  });

  it("decodes pixels as PIL does within JPEG decoders' rounding and matches PIL's channel means", () => {
    const order = (split: 'train' | 'test', name: string) => {
      const [cls, file] = name.split('/');
      const k = CIFAR10_CLASSES.indexOf(cls as (typeof CIFAR10_CLASSES)[number]);
      return splits[split].labels.indexOf(k) + Number(file!.slice(0, 4));
    };
    const meanDiff = (a: number[], b: Uint8Array) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]!), 0) / a.length;
    for (const [name, pixels] of Object.entries(reference.samples)) {
      const [split, ...rest] = name.split('/') as ['train' | 'test', string, string];
      const at = order(split, rest.join('/'));
      // jpeg-js and libjpeg upsample chroma differently: 0.5-3.5 levels on average, more at sharp colour edges;
      // a neighbouring image differs by tens of levels, so this still pins down each image and its pixel order.
      const own = meanDiff(pixels, splits[split].get(at).image);
      expect(own, name).toBeLessThan(4);
      for (const other of [at - 1, at + 1].filter((i) => i >= 0 && i < splits[split].length))
        expect(meanDiff(pixels, splits[split].get(other).image), `${name} vs image ${other}`).toBeGreaterThan(5 * own);
    }
    for (const split of ['train', 'test'] as const) {
      splits[split].channelStats().mean.forEach((m, c) => {
        expect(Math.abs(m - reference.mean[split]![c]!)).toBeLessThan(3e-3);
      });
    }
  });
});
