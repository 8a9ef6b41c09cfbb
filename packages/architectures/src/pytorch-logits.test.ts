import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadStateDict, stateDict } from '@convnets/nn';
import { createModel } from './registry.js';

/** PyTorch 1.13's logits for weights and inputs from a formula (tooling/pytorch/logits_fixtures.py). */
const fixture = JSON.parse(readFileSync(new URL('./__fixtures__/logits.json', import.meta.url), 'utf8')) as {
  nets: Record<string, { inputSize: number; inChannels: number; logits: number[][] }>;
};

/** The fixture's formula, element by element, in PyTorch's layout (see the Python script's docstring). */
function formula(name: string, shape: number[], k: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => {
    const v = Math.sin(1.7 * i + 0.3 * k);
    if (name.endsWith('running_var')) return 1 + 0.5 * Math.abs(v);
    if (name.endsWith('running_mean') || name.endsWith('bias')) return 0.1 * v;
    if (shape.length >= 2) return v * Math.sqrt(3 / fanIn);
    return 1 + 0.1 * v;
  });
}

describe.each(Object.entries(fixture.nets))("%s's logits equal PyTorch's (eval mode) within 1e-4", (key, { inputSize, inChannels, logits }) => {
  it('with the same PyTorch-named, PyTorch-layout weights loaded through loadStateDict', () => {
    const name = key === 'nin-1ch' ? 'nin' : key;
    const model = createModel(name, { inputSize, inChannels }).eval();
    const template = stateDict(model);
    const weights = new Map(
      [...template].map(([n, t], k) => [n, t.dtype === 'int32' ? tf.zeros(t.shape, 'int32') : tf.tensor(formula(n, t.shape, k), t.shape)] as const),
    );
    loadStateDict(model, weights);
    const total = 2 * inChannels * inputSize * inputSize;
    const nchw = tf.tensor4d(Float32Array.from({ length: total }, (_, i) => Math.sin(0.9 * i)), [2, inChannels, inputSize, inputSize]);
    const ours = tf.tidy(() => model.forward(tf.transpose(nchw, [0, 2, 3, 1])));
    const got = ours.arraySync() as number[][];
    const worst = Math.max(...got.flatMap((row, r) => row.map((v, c) => Math.abs(v - logits[r]![c]!))));
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([nchw, ours, ...template.values(), ...weights.values()]);
    model.dispose();
  });
});
