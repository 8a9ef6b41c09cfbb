// tfjs's wasm backend (XNNPACK): ResNet-50's forward in a second where the cpu backend takes many.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStateDict, type Sequential, stateDict } from '@convnets/nn';
import { formulaInput, readJson } from '@convnets/tooling/fixtures';
import { adaptStateDict, createModel, listModels } from './registry.js';
import { loadFormulaWeights } from '../test-utils/formula.js';

/** torchvision 0.14's state-dict names and shapes, and logits for the formula's weights (torchvision_fixtures.py). */
const fixture = readJson<{
  /** Logits where they are checked (not VGG-11's: see torchvision_fixtures.py). */
  nets: Record<string, { inputSize: number; state: [string, number[]][]; logits?: number[][] }>;
}>(new URL('./__fixtures__/torchvision.json', import.meta.url));

await tf.setBackend('wasm');

describe.each(Object.entries(fixture.nets))('torchvision/%s', (variant, { inputSize, state, logits }) => {
  const name = `torchvision/${variant}`;
  // One net for both checks: VGG's 130M weights take seconds to make.
  let model: Sequential;
  beforeAll(() => {
    model = createModel(name, { inputSize }).eval();
  });
  afterAll(() => model.dispose());

  it("has torchvision's state-dict names and shapes, in its order, so its weights load by name", () => {
    expect(listModels()).toContain(name);
    const ours = stateDict(model);
    expect([...ours].map(([key, t]) => [key, t.shape])).toEqual(state);
    tf.dispose([...ours.values()]);
  });

  it.runIf(logits)(
    `gives torchvision's eval-mode logits (1000 classes) within 1e-4 for the same weights at ${inputSize} px`,
    () => {
      loadFormulaWeights(model);
      const x = formulaInput(2, 3, inputSize);
      const ours = tf.tidy(() => model.forward(x));
      const got = ours.arraySync() as number[][];
      expect(got[0]).toHaveLength(1000);
      const worst = Math.max(...got.flatMap((row, r) => row.map((v, c) => Math.abs(v - logits![r]![c]!))));
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([x, ours]);
    },
  );
});

describe("torchvision's own fixes when its files load (adaptStateDict)", () => {
  it("renames DenseNet's old keys (norm.1 for norm1), as torchvision's loader does, so they load", () => {
    const model = createModel('torchvision/densenet121', { inputSize: 32 });
    const ours = stateDict(model);
    // The key style of torchvision's densenet121 ImageNet file (2017: before BatchNorm's num_batches_tracked):
    // 'features.denseblock1.denselayer1.norm.1.weight'.
    const file = new Map(
      [...ours]
        .filter(([key]) => !key.endsWith('num_batches_tracked'))
        .map(([key, t]) => [key.replace(/(denselayer\d+\.(?:norm|relu|conv))([12])\./, '$1.$2.'), t]),
    );
    expect(file.has('features.denseblock1.denselayer1.norm.1.weight')).toBe(true);
    const adapted = adaptStateDict('torchvision/densenet121', file);
    expect([...adapted.keys()]).toEqual([...ours.keys()].filter((key) => !key.endsWith('num_batches_tracked')));
    loadStateDict(model, adapted);
    tf.dispose([...ours.values()]);
    model.dispose();
  });

  it("drops GoogLeNet's auxiliary classifiers (disposed), as torchvision does with them off; other nets keep all", () => {
    const model = createModel('torchvision/googlenet', { inputSize: 64 });
    const ours = stateDict(model);
    const before = tf.memory().numTensors;
    const file = new Map([
      ...ours,
      ['aux1.conv.conv.weight', tf.zeros([128, 512, 1, 1])],
      ['aux2.fc2.bias', tf.zeros([1000])],
    ]);
    const adapted = adaptStateDict('torchvision/googlenet', file);
    expect([...adapted.keys()]).toEqual([...ours.keys()]);
    expect(tf.memory().numTensors).toBe(before);
    loadStateDict(model, adapted);
    expect(adaptStateDict('torchvision/resnet18', file)).toBe(file);
    tf.dispose([...ours.values()]);
    model.dispose();
  });

  it('refuses torchvision/googlenet with other than 3 input channels (its input transform is RGB), naming why', () => {
    expect(() => createModel('torchvision/googlenet', { inChannels: 1 })).toThrow(
      "torchvision/googlenet: option inChannels must be 3 (its input transform is ImageNet's RGB), got 1",
    );
  });
});
