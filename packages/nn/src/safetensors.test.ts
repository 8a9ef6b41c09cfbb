import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pythonHasTorch } from '@convnets/tooling/fixtures';
import { SafetensorsError, decodeSafetensors, encodeSafetensors } from './safetensors.js';

describe('encodeSafetensors', () => {
  const tensors = new Map<string, tf.Tensor>([
    [
      'a.weight',
      tf.tensor2d([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ],
    ['a.num_batches_tracked', tf.scalar(7, 'int32')],
  ]);

  it('writes the header length, a JSON header with offsets, and little-endian data, 8-byte aligned', async () => {
    const bytes = await encodeSafetensors(tensors, { format: 'pt' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({
      __metadata__: { format: 'pt' },
      'a.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      'a.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [24, 32] },
    });
    const data = bytes.subarray(8 + n);
    expect(Array.from(new Float32Array(data.slice(0, 24).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new BigInt64Array(data.slice(24, 32).buffer)[0]).toBe(7n);
  });

  const hasTorch = pythonHasTorch();
  // Runs where Debian's PyTorch is installed (CI installs it); elsewhere it is reported as skipped, not passed.
  it.runIf(hasTorch)('is read by the safetensors format as PyTorch reads it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-st-'));
    const file = path.join(dir, 'x.safetensors');
    writeFileSync(file, await encodeSafetensors(tensors));
    // An independent reader: plain Python, no safetensors package needed.
    const script = `import json,struct,torch,sys
b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); d=b[8+n:]
w=h['a.weight']; s,e=w['data_offsets']; print(torch.frombuffer(bytearray(d[s:e]),dtype=torch.float32).reshape(w['shape']).tolist())
t=h['a.num_batches_tracked']; s,e=t['data_offsets']; print(int(torch.frombuffer(bytearray(d[s:e]),dtype=torch.int64)[0]))`;
    const out = execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(['[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]', '7']);
    rmSync(dir, { recursive: true, force: true });
  });
});

/** A file from a header object and raw data bytes, as another writer might produce it. */
function fileOf(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('decodeSafetensors', () => {
  it('reads back what encodeSafetensors wrote, with metadata', async () => {
    const written = new Map<string, tf.Tensor>([
      [
        'w',
        tf.tensor2d([
          [1.5, -2],
          [3, 4],
        ]),
      ],
      ['n', tf.scalar(-9, 'int32')],
    ]);
    const { tensors, metadata } = decodeSafetensors(
      await encodeSafetensors(written, { format: 'pt' }),
      'x.safetensors',
    );
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('w')!.arraySync()).toEqual([
      [1.5, -2],
      [3, 4],
    ]);
    expect(tensors.get('n')!.dtype).toBe('int32');
    expect(tensors.get('n')!.arraySync()).toBe(-9);
  });

  it("reads a Node Buffer that is a view into a shared pool (readFileSync's), not the pool", async () => {
    const bytes = await encodeSafetensors(new Map([['w', tf.tensor1d([1, 2, 3])]]));
    const pooled = Buffer.alloc(bytes.length + 13);
    pooled.set(bytes, 13);
    const { tensors } = decodeSafetensors(pooled.subarray(13), 'pooled.safetensors');
    expect(tensors.get('w')!.arraySync()).toEqual([1, 2, 3]);
  });

  it('converts F16 and BF16 to float32 (known bit patterns)', () => {
    const f16 = Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00]); // 1, -2, 65504, smallest subnormal
    const bf16 = Uint8Array.from([0x80, 0x3f, 0x49, 0x40]); // 1, 3.140625
    const bytes = fileOf(
      {
        h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      },
      Uint8Array.from([...f16, ...bf16]),
    );
    const { tensors } = decodeSafetensors(bytes);
    expect(Array.from(tensors.get('h')!.dataSync())).toEqual([1, -2, 65504, Math.fround(2 ** -24)]);
    expect(Array.from(tensors.get('b')!.dataSync())).toEqual([1, 3.140625]);
  });

  const data = new Uint8Array(16);
  it.each([
    ['a too-short file', Uint8Array.from([1, 2]), 'f: 2 bytes: too short for the 8-byte header length'],
    [
      'a header longer than the file',
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
        return b;
      })(),
      'f: header length 1099511627776 exceeds the file (8 bytes after the length)',
    ],
    ['invalid JSON', fileOf(null, data, '{"a": '), 'f: header is not valid JSON'],
    [
      'an unknown dtype',
      fileOf({ a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }, data),
      `f: a: dtype "F64" is not supported`,
    ],
    [
      'offsets past the data',
      fileOf({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data),
      'f: a: data_offsets [0, 32] run past the data section (16 bytes)',
    ],
    [
      'a byte count that does not match the shape',
      fileOf({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data),
      'f: a: 16 bytes for F32 [3], expected 12',
    ],
    [
      'overlapping tensors',
      fileOf(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        data,
      ),
      'f: a and b overlap in the data section',
    ],
    [
      'a duplicate name',
      fileOf(
        null,
        data,
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
      ),
      "f: tensor name 'a' appears twice",
    ],
    [
      'an I64 that does not fit int32',
      fileOf(
        { a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } },
        Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, ...new Uint8Array(8)]),
      ),
      'f: a: I64 value 4294967296 does not fit int32',
    ],
  ])('rejects %s, naming the file and the tensor', (_, bytes, message) => {
    expect(() => decodeSafetensors(bytes, 'f')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes, 'f')).toThrow(message);
  });

  it('fuzzed headers and offsets give SafetensorsError or a correct read, never a crash or a huge allocation', async () => {
    const valid = await encodeSafetensors(
      new Map([
        ['a.weight', tf.ones([3, 2])],
        ['a.bias', tf.zeros([2])],
        ['n', tf.scalar(3, 'int32')],
      ]),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const bytes = valid.slice();
          for (const { at, value } of edits) bytes[at] = value;
          try {
            const { tensors } = decodeSafetensors(bytes, 'fuzz');
            tensors.forEach((t) => {
              t.dispose();
            });
          } catch (err) {
            expect(err).toBeInstanceOf(SafetensorsError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
