import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from './safetensors.js';

describe('encodeSafetensors', () => {
  const tensors = new Map<string, tf.Tensor>([
    ['a.weight', tf.tensor2d([[1, 2, 3], [4, 5, 6]])],
    ['a.num_batches_tracked', tf.scalar(7, 'int32')],
  ]);

  it('writes the header length, a JSON header with offsets, and little-endian data, 8-byte aligned', () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
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

  it.runIf(existsSync('/usr/bin/python3'))('is read by the safetensors format as PyTorch reads it (when Debian torch is present)', () => {
    let hasTorch = true;
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    } catch {
      hasTorch = false;
    }
    if (!hasTorch) return;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-st-'));
    const file = path.join(dir, 'x.safetensors');
    writeFileSync(file, encodeSafetensors(tensors));
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
