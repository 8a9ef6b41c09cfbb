import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readJson } from '@convnets/tooling/fixtures';
import { PthError, decodePth } from './pth.js';

/** The fixtures of tooling/pytorch/pth_fixtures.py: files torch.save wrote, and what each tensor holds. */
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url)));
const expected = readJson<Record<string, { dtype: string; shape: number[]; values: number[] }>>(
  new URL('./__fixtures__/state.json', import.meta.url),
);

describe('decodePth', () => {
  it.each([
    ['state.pth', 'the zip format (PyTorch >= 1.6)'],
    ['state-legacy.pth', 'the legacy format (torchvision’s older files)'],
  ])('reads %s (%s): every tensor with PyTorch’s name, shape and values', async (file) => {
    const before = tf.memory().numTensors;
    const tensors = decodePth(fixture(file), file);
    expect([...tensors.keys()]).toEqual(Object.keys(expected));
    for (const [name, want] of Object.entries(expected)) {
      const t = tensors.get(name)!;
      expect(t.shape, name).toEqual(want.shape);
      expect(t.dtype, name).toBe(want.dtype === 'int64' ? 'int32' : 'float32');
      // float16 and bfloat16 widen exactly; float32 is copied: the same numbers as PyTorch's .float().
      expect(Array.from(await t.data()), name).toEqual(want.values.map((v) => Math.fround(v)));
    }
    tf.dispose([...tensors.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a pickle that names any other global (here os.system), running nothing', () => {
    const marker = '/tmp/convnets-pth-pwned';
    rmSync(marker, { force: true });
    expect(() => decodePth(fixture('evil.pth'), 'evil.pth')).toThrow(
      'evil.pth: it names the global posix.system, which a state dict does not need; refused (nothing from the file was run)',
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('names the file and the problem for a file that is not torch.save’s, or is cut short', () => {
    const state = fixture('state.pth');
    expect(() => decodePth(new TextEncoder().encode('{"not": "a pth"}'), 'x.pth')).toThrow(
      new PthError('x.pth', 'it is neither a zip archive nor a pickle: not a torch.save file'),
    );
    expect(() => decodePth(state.subarray(0, 2000), 'cut.pth')).toThrow(/^cut\.pth: it is not a zip archive/);
    const legacy = fixture('state-legacy.pth');
    expect(() => decodePth(legacy.subarray(0, legacy.length - 10), 'cut-legacy.pth')).toThrow(
      /^cut-legacy\.pth: storage \d+.*truncated/,
    );
    expect(() => decodePth(legacy.subarray(0, 300), 'short.pth')).toThrow(/^short\.pth: the pickle ends/);
  });
});
