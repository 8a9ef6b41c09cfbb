// tfjs's wasm backend (XNNPACK): ResNet-50's forward in a second where the cpu backend takes many.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { stateDict } from '@convnets/nn';
import { formulaInput, readJson } from '@convnets/tooling/fixtures';
import { createModel, listModels } from './registry.js';
import { loadFormulaWeights } from '../test-utils/formula.js';

/** torchvision 0.14's state-dict names and shapes, and logits for the formula's weights (torchvision_fixtures.py). */
const fixture = readJson<{
  nets: Record<string, { inputSize: number; state: [string, number[]][]; logits: number[][] }>;
}>(new URL('./__fixtures__/torchvision.json', import.meta.url));

await tf.setBackend('wasm');

describe.each(Object.entries(fixture.nets))('torchvision/%s', (variant, { inputSize, state, logits }) => {
  const name = `torchvision/${variant}`;

  it("has torchvision's state-dict names and shapes, in its order, so its weights load by name", () => {
    expect(listModels()).toContain(name);
    const model = createModel(name, { inputSize });
    const ours = stateDict(model);
    expect([...ours].map(([key, t]) => [key, t.shape])).toEqual(state);
    tf.dispose([...ours.values()]);
    model.dispose();
  });

  it("gives torchvision's eval-mode logits (1000 classes) within 1e-4 for the same weights", () => {
    const model = createModel(name, { inputSize }).eval();
    loadFormulaWeights(model);
    const x = formulaInput(2, 3, inputSize);
    const ours = tf.tidy(() => model.forward(x));
    const got = ours.arraySync() as number[][];
    expect(got[0]).toHaveLength(1000);
    const worst = Math.max(...got.flatMap((row, r) => row.map((v, c) => Math.abs(v - logits[r]![c]!))));
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([x, ours]);
    model.dispose();
  });
});
