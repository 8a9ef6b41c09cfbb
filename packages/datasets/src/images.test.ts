import fc from 'fast-check';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCifarBatch, parseCifarBatch } from './cifar.js';
import { DatasetError } from './errors.js';
import { decodeImage, imageFolder } from './images.js';
import { loadImageFolders } from './node.js';
import { readTar, safeEntryPath, writeTar } from './tar.js';

const rgb = (w: number, h: number, f: (x: number, y: number, c: number) => number) =>
  Uint8Array.from({ length: w * h * 3 }, (_, i) => f(Math.floor(i / 3) % w, Math.floor(i / 3 / w), i % 3));
const png = (width: number, height: number, data: Uint8Array | Uint16Array, channels: number, depth: 8 | 16 = 8) =>
  encodePng({ width, height, data, channels, depth });

describe('decoding images', () => {
  it('reads PNG exactly: RGB, grey, RGBA (alpha dropped) and 16-bit', () => {
    const pixels = rgb(5, 4, (x, y, c) => 40 * x + 10 * y + c);
    expect(decodeImage(png(5, 4, pixels, 3), 'a.png').data).toEqual(pixels);
    const grey = Uint8Array.from({ length: 20 }, (_, i) => i * 12);
    const asRgb = decodeImage(png(5, 4, grey, 1), 'g.png');
    expect([asRgb.height, asRgb.width, asRgb.channels]).toEqual([4, 5, 3]);
    expect(asRgb.data).toEqual(Uint8Array.from({ length: 60 }, (_, i) => grey[Math.floor(i / 3)]!));
    expect(decodeImage(png(5, 4, grey, 1), 'g.png', 1).data).toEqual(grey);
    const rgba = Uint8Array.from({ length: 80 }, (_, i) =>
      i % 4 === 3 ? 7 : pixels[Math.floor(i / 4) * 3 + (i % 4)]!,
    );
    expect(decodeImage(png(5, 4, rgba, 4), 'a.png').data).toEqual(pixels);
    const deep = Uint16Array.from(pixels, (v) => v * 257);
    expect(decodeImage(png(5, 4, deep, 3, 16), 'd.png').data).toEqual(pixels);
  });

  it('converts colour to grey with the ITU-R 601 luma weights (as PIL does)', () => {
    const one = (r: number, g: number, b: number) =>
      decodeImage(png(1, 1, Uint8Array.of(r, g, b), 3), 'p.png', 1).data[0];
    expect([one(255, 0, 0), one(0, 255, 0), one(0, 0, 255), one(100, 100, 100)]).toEqual([76, 150, 29, 100]);
  });

  it('reads JPEG within its compression error', () => {
    const pixels = rgb(16, 16, (x, y, c) => 100 + 4 * x + 2 * y + 10 * c);
    const encoded = jpeg.encode(
      {
        width: 16,
        height: 16,
        data: Uint8Array.from({ length: 1024 }, (_, i) =>
          i % 4 === 3 ? 255 : pixels[Math.floor(i / 4) * 3 + (i % 4)]!,
        ),
      },
      100,
    );
    const decoded = decodeImage(new Uint8Array(encoded.data), 'smooth.jpg');
    expect(Math.max(...decoded.data.map((v, i) => Math.abs(v - pixels[i]!)))).toBeLessThanOrEqual(3);
  });

  it('names the file when it is not an image or is corrupt', () => {
    expect(() => decodeImage(new TextEncoder().encode('hello'), 'cats/readme.jpg')).toThrow(
      'cats/readme.jpg: cannot be decoded as an image: not a JPEG or PNG file',
    );
    const broken = png(
      5,
      4,
      rgb(5, 4, () => 1),
      3,
    ).slice(0, 40);
    expect(() => decodeImage(broken, 'cats/cut.png')).toThrow(/^cats\/cut\.png: cannot be decoded as an image/);
  });
});

describe('image folders', () => {
  const dirs: string[] = [];
  afterAll(() =>
    dirs.forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const image = (v: number) =>
    png(
      3,
      2,
      rgb(3, 2, () => v),
      3,
    );

  it('takes class names from the sorted folder names and files in sorted order', () => {
    const set = imageFolder(
      [
        { path: 'zebra/b.png', bytes: image(4) },
        { path: 'ant/x.png', bytes: image(2) },
        { path: 'zebra/a.png', bytes: image(3) },
        { path: 'ant/notes.txt', bytes: new Uint8Array(1) },
      ],
      'mine',
    );
    expect(set.classes).toEqual(['ant', 'zebra']);
    expect(Array.from(set.labels)).toEqual([0, 1, 1]);
    expect([0, 1, 2].map((i) => set.get(i).image[0])).toEqual([2, 3, 4]);
    expect(set.imageShape).toEqual([2, 3, 3]);
  });

  it('loads train/ and test/ from disk with the training classes, and rejects mixed sizes naming the file', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'convnets-folder-'));
    dirs.push(root);
    for (const [file, bytes] of [
      ['train/cat/1.png', image(1)],
      ['train/dog/1.png', image(2)],
      ['test/dog/1.png', image(3)],
    ] as const) {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), bytes);
    }
    const { train, test } = await loadImageFolders(root);
    expect(test.classes).toEqual(['cat', 'dog']);
    expect(Array.from(test.labels)).toEqual([1]);
    expect(train.length).toBe(2);
    // The test split alone takes its classes from its own folders, or from `classes`.
    expect((await loadImageFolders(root, {}, ['test'])).test.classes).toEqual(['dog']);
    const named = await loadImageFolders(root, { classes: ['cat', 'dog'] }, ['test']);
    expect([named.test.classes, Array.from(named.test.labels)]).toEqual([['cat', 'dog'], [1]]);
    writeFileSync(
      path.join(root, 'train/dog/2.png'),
      png(
        4,
        4,
        rgb(4, 4, () => 0),
        3,
      ),
    );
    await expect(loadImageFolders(root)).rejects.toThrow(
      `${path.join(root, 'train')}/dog/2.png: is 4x4 but the folder's first image is 3x2: all images must have one size`,
    );
    // With a size, images of any size load at it (the all-black 4x4 stays black; the others are resampled).
    const sized = await loadImageFolders(root, { size: 5 }, ['train']);
    expect(sized.train.imageShape).toEqual([5, 5, 3]);
    expect(sized.train.get(sized.train.length - 1).image.every((v) => v === 0)).toBe(true);
    await expect(loadImageFolders(path.join(root, 'nope'))).rejects.toThrow(
      'does not exist: expected a folder of <class>/<image> files',
    );
  });

  it('rejects files outside class folders and an empty folder', () => {
    expect(() => imageFolder([{ path: 'loose.png', bytes: image(1) }], 'mine')).toThrow(
      'mine/loose.png: is not directly inside a class folder',
    );
    expect(() => imageFolder([], 'mine')).toThrow('mine: has no .jpg/.jpeg/.png images');
  });
});

describe('tar archives', () => {
  it('round-trips files and refuses paths that escape', () => {
    const files = [
      { path: 'a/b.bin', data: Uint8Array.of(1, 2, 3) },
      { path: 'c.bin', data: new Uint8Array(1000).fill(9) },
    ];
    expect(readTar(writeTar(files), 't.tar').map((e) => ({ path: e.path, data: e.data }))).toEqual(files);
    for (const bad of ['../x', '/etc/passwd', 'a/../../x', 'C:/x'])
      expect(() => safeEntryPath(bad, 'evil.tar')).toThrow(`evil.tar: entry "${bad}" would escape`);
    expect(safeEntryPath('./a//b/./c', 't.tar')).toBe('a/b/c');
  });

  it('names the archive and offset for a bad checksum or truncation', () => {
    const bytes = writeTar([{ path: 'x.bin', data: new Uint8Array(600) }]);
    const flipped = bytes.slice();
    flipped[0] ^= 1;
    expect(() => readTar(flipped, 'x.tar')).toThrow(
      /^x\.tar \(byte 0\): tar header checksum is \d+ but the header sums to \d+/,
    );
    expect(() => readTar(bytes.subarray(0, 700), 'x.tar')).toThrow(
      'x.tar (byte 0): entry "x.bin" needs 600 bytes but the archive ends after 188: truncated',
    );
  });

  it('never fails with anything but a DatasetError on mutated archives and batch files (fuzz)', () => {
    const batch = encodeCifarBatch(new Uint8Array(2 * 3072).fill(5), Uint8Array.of(1, 2));
    const archive = writeTar([
      { path: 'cifar-10-batches-bin/test_batch.bin', data: batch },
      { path: 'readme.html', data: new TextEncoder().encode('<p>hi</p>') },
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: archive.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat({ max: archive.length }),
        (edits, length) => {
          const mutated = archive.slice(0, Math.max(length, 1));
          for (const { at, value } of edits) if (at < mutated.length) mutated[at] = value;
          try {
            for (const entry of readTar(mutated, 'fuzz.tar'))
              if (entry.path.endsWith('.bin')) parseCifarBatch(entry.data, entry.path);
          } catch (err) {
            if (!(err instanceof DatasetError)) throw err;
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
