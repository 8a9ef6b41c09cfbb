// tfjs's wasm backend (XNNPACK): the 224 px nets' forward passes in seconds, where the cpu backend takes a minute.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formulaInput } from '@convnets/tooling/fixtures';
import { createModel } from './registry.js';
import { loadFormulaWeights } from '../test-utils/formula.js';

/** PyTorch 1.13's logits for weights and inputs from a formula (tooling/pytorch/logits_fixtures.py). */
const fixture = JSON.parse(readFileSync(new URL('./__fixtures__/logits.json', import.meta.url), 'utf8')) as {
  nets: Record<string, { inputSize: number; inChannels: number; logits: number[][] }>;
};

await tf.setBackend('wasm');

describe.each(Object.entries(fixture.nets))(
  "%s's logits equal PyTorch's (eval mode) within 1e-4",
  (key, { inputSize, inChannels, logits }) => {
    it('with the same PyTorch-named, PyTorch-layout weights loaded through loadStateDict', () => {
      const name = key === 'nin-1ch' ? 'nin' : key;
      const model = createModel(name, { inputSize, inChannels }).eval();
      loadFormulaWeights(model);
      const x = formulaInput(2, inChannels, inputSize);
      const ours = tf.tidy(() => model.forward(x));
      const got = ours.arraySync() as number[][];
      const worst = Math.max(...got.flatMap((row, r) => row.map((v, c) => Math.abs(v - logits[r]![c]!))));
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([x, ours]);
      model.dispose();
    });
  },
);
