import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { Sequential } from './layers/sequential.js';
import { Flatten } from './layers/simple.js';
import { withSeed } from './random.js';
import { StateDictError, loadStateDict, stateDict } from './state-dict.js';

const net = (seed: number) =>
  withSeed(seed, () => new Sequential(new Conv2d(2, 3, [3, 2]), new BatchNorm2d(3), new Flatten(), new Linear(12, 5)));

describe('stateDict / loadStateDict', () => {
  it("uses PyTorch's layouts: conv [out, in, kh, kw], linear [out, in]", () => {
    const m = net(0);
    const sd = stateDict(m);
    expect([...sd].map(([k, v]) => [k, v.shape])).toEqual([
      ['0.weight', [3, 2, 3, 2]],
      ['0.bias', [3]],
      ['1.weight', [3]],
      ['1.bias', [3]],
      ['1.running_mean', [3]],
      ['1.running_var', [3]],
      ['1.num_batches_tracked', []],
      ['3.weight', [5, 12]],
      ['3.bias', [5]],
    ]);
    // Element (o=2, i=1, y=2, x=0) in PyTorch's layout is element (y, x, i, o) in ours.
    const conv = m[0] as Conv2d;
    expect(sd.get('0.weight')!.arraySync()).toEqual(tf.tidy(() => tf.transpose(conv.weight, [3, 2, 0, 1]).arraySync()));
    expect((sd.get('0.weight')!.arraySync() as number[][][][])[2]![1]![2]![0]).toBe(
      (conv.weight.arraySync() as number[][][][])[2]![0]![1]![2],
    );
    tf.dispose([...sd.values()]);
    m.dispose();
  });

  it("round-trips: another net loaded with this one's state computes the same outputs", () => {
    const a = net(1).eval();
    const b = net(2).eval();
    const x = tf.randomNormal([2, 4, 3, 2]);
    const sd = stateDict(a);
    expect(loadStateDict(b, sd)).toEqual({ missing: [], unexpected: [] });
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a.forward(x), b.forward(x)))).dataSync()[0])).toBe(0);
    tf.dispose([x, ...sd.values()]);
    a.dispose();
    b.dispose();
  });

  it('strict mode lists missing and unexpected names; shape mismatches always fail; nothing changes on failure', () => {
    const m = net(3);
    const sd = stateDict(m);
    const before = [...(m[0] as Conv2d).weight.dataSync()];
    sd.delete('1.running_var');
    sd.set('9.weight', tf.zeros([1]));
    const wrong = sd.get('3.weight')!;
    sd.set('3.weight', tf.zeros([12, 5]));
    sd.set('0.weight', tf.zeros([3, 2, 3, 2]));
    let error: StateDictError | undefined;
    try {
      loadStateDict(m, sd);
    } catch (e) {
      error = e as StateDictError;
    }
    expect(error).toBeInstanceOf(StateDictError);
    expect(error!.missing).toEqual(['1.running_var']);
    expect(error!.unexpected).toEqual(['9.weight']);
    expect(error!.mismatched).toEqual(['3.weight: expected [5, 12], got [12, 5]']);
    expect(error!.message).toBe(`loadStateDict (Sequential): ${error!.summary}`);
    expect(error!.summary).toMatch(
      /^\d+ of \d+ names found; missing: 1\.running_var; unexpected: 9\.weight; shape mismatch: 3\.weight: expected \[5, 12\]/,
    );
    expect([...(m[0] as Conv2d).weight.dataSync()]).toEqual(before);

    sd.set('3.weight', wrong);
    expect(loadStateDict(m, sd, { strict: false })).toEqual({ missing: ['1.running_var'], unexpected: ['9.weight'] });
    expect([...(m[0] as Conv2d).weight.dataSync()].every((v) => v === 0)).toBe(true);
    tf.dispose([...sd.values()]);
    m.dispose();
  });

  it('loads a file from before BatchNorm counted its steps (no num_batches_tracked) strictly, as PyTorch does', () => {
    const [a, b] = [net(1), net(2)];
    const sd = stateDict(a);
    sd.get('1.num_batches_tracked')!.dispose();
    sd.delete('1.num_batches_tracked');
    expect(loadStateDict(b, sd)).toEqual({ missing: ['1.num_batches_tracked'], unexpected: [] });
    expect([...(b[1] as BatchNorm2d).running_var.dataSync()]).toEqual([
      ...(a[1] as BatchNorm2d).running_var.dataSync(),
    ]);
    sd.get('1.running_var')!.dispose();
    sd.delete('1.running_var');
    expect(() => loadStateDict(b, sd)).toThrow(/missing: 1\.running_var, 1\.num_batches_tracked$/);
    tf.dispose([...sd.values()]);
    a.dispose();
    b.dispose();
  });
});
