import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import { encodeIdx, parseIdx } from './idx.js';
import { mnistDataDirectory } from './node.js';

describe('parseIdx', () => {
  it('reads what encodeIdx writes (big-endian dimensions)', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const bytes = encodeIdx({ shape: [2, 3, 4], data });
    expect([...bytes.subarray(0, 16)]).toEqual([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    expect(parseIdx(bytes, 'x.idx')).toEqual({ shape: [2, 3, 4], data });
  });

  it.each([
    [
      'bad magic',
      Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]),
      'x (byte 0): bad magic number 0x01000801: an IDX file starts with two zero bytes',
    ],
    [
      'unsupported type',
      Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 0]),
      'x (byte 2): type code 0x0d is not supported (expected 0x08, unsigned bytes)',
    ],
    ['zero dimensions', Uint8Array.from([0, 0, 8, 0]), 'x (byte 3): 0 dimensions: expected 1 to 4'],
    [
      'truncated header',
      Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 1]),
      'x (byte 8): truncated header: 8 bytes, expected 12',
    ],
    [
      'truncated data',
      Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 7]),
      'x (byte 9): truncated: 9 bytes, expected 11 for dimensions [3]',
    ],
    [
      'trailing data',
      Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 1, 7, 7]),
      'x (byte 9): trailing data: 10 bytes, expected 9 for dimensions [1]',
    ],
    ['gzip', Uint8Array.from([0x1f, 0x8b, 8, 0]), 'x (byte 0): is gzip-compressed'],
    [
      'huge dimensions',
      Uint8Array.from([0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      'x (byte 4): dimensions [4294967295, 4294967295] are implausibly large',
    ],
  ])('rejects %s, naming the file, the byte and what was expected', (_, bytes, message) => {
    expect(() => parseIdx(bytes, 'x')).toThrow(DatasetError);
    expect(() => parseIdx(bytes, 'x')).toThrow(message);
  });

  // Real headers and bytes from the MNIST test labels, mutated: a typed error or a correct parse, never a crash.
  const real = new Uint8Array(readFileSync(path.join(mnistDataDirectory(), 't10k-labels-idx1-ubyte')));
  it('never fails other than with DatasetError on mutated real files', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: 40 }), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
        fc.nat({ max: real.length }),
        (edits, cut) => {
          const bytes = real.slice(0, Math.max(cut, 0));
          for (const { at, value } of edits) if (at < bytes.length) bytes[at] = value;
          try {
            const { shape, data } = parseIdx(bytes, 'labels');
            expect(data.length).toBe(shape.reduce((a, b) => a * b, 1));
          } catch (err) {
            expect(err).toBeInstanceOf(DatasetError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
