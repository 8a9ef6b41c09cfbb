import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { featureMapLayers, forwardWithOutputs, getModule, gradCam, lastFeatureMap } from '@convnets/nn';
import { formulaInput } from '@convnets/tooling/fixtures';
import { createModel } from './registry.js';
import { loadFormulaWeights } from '../test-utils/formula.js';

interface Sampled {
  shape: number[];
  stride: number;
  values: number[];
}
interface CamFixture {
  layer: string;
  /** The class asked for (else the predicted one). */
  asked?: number;
  class: number;
  probability: number;
  predicted: number;
  map: Sampled;
}
/** PyTorch 1.13's forward-hook outputs and Grad-CAM maps (tooling/pytorch/inspect_fixtures.py). */
const fixture = JSON.parse(readFileSync(new URL('./__fixtures__/inspect.json', import.meta.url), 'utf8')) as {
  nets: Record<
    string,
    {
      inputSize: number;
      inChannels: number;
      logits: number[];
      outputs: Record<string, Sampled>;
      /** The first is the default layer's. */
      gradcam: CamFixture[];
    }
  >;
};

/** Our tensor in PyTorch's layout (NHWC -> NCHW), sampled as the fixture was. */
function sample(t: tf.Tensor, stride: number): number[] {
  const nchw = tf.tidy(() => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t.clone()));
  const values = Array.from(nchw.dataSync()).filter((_, i) => i % stride === 0);
  nchw.dispose();
  return values;
}

const worst = (a: number[], b: number[]) =>
  Math.max(...a.map((v, i) => Math.abs(v - b[i]!) / Math.max(1, Math.abs(b[i]!))));

describe.each(Object.entries(fixture.nets))('%s seen from inside equals PyTorch', (name, net) => {
  const model = createModel(name, { inputSize: net.inputSize, inChannels: net.inChannels });
  loadFormulaWeights(model);
  const x = formulaInput(1, net.inChannels, net.inputSize);

  it('outputs by dotted path (forward hooks) within 1e-4, logits included', () => {
    const before = tf.memory().numTensors;
    const { logits, outputs } = forwardWithOutputs(model, x, Object.keys(net.outputs));
    expect(worst(Array.from(logits.dataSync()), net.logits)).toBeLessThan(1e-4);
    for (const [path, expected] of Object.entries(net.outputs)) {
      const ours = outputs.get(path)!;
      const nchw = ours.rank === 4 ? [0, 3, 1, 2].map((d) => ours.shape[d]) : ours.shape;
      expect(nchw, path).toEqual(expected.shape);
      const values = sample(ours, expected.stride);
      expect(values.length, path).toBe(expected.values.length);
      expect(worst(values, expected.values), path).toBeLessThan(1e-4);
    }
    tf.dispose([logits, ...outputs.values()]);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.training).toBe(true); // the mode it had
  });

  it('Grad-CAM of the predicted class, and of class 3, within 1e-3', async () => {
    const before = tf.memory().numTensors;
    for (const expected of net.gradcam) {
      const options = { layer: expected.layer, classIndex: expected.asked };
      const cam = await gradCam(model, x, options);
      const label = JSON.stringify(options);
      expect([cam.classIndex, cam.predicted], label).toEqual([expected.class, expected.predicted]);
      expect(cam.probability, label).toBeCloseTo(expected.probability, 4);
      expect(cam.map.shape).toEqual([net.inputSize, net.inputSize]);
      expect(worst(sample(cam.map, expected.map.stride), expected.map.values), label).toBeLessThan(1e-3);
      cam.map.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("looks by default at the last top-level feature map, the fixture's first Grad-CAM layer", async () => {
    expect(lastFeatureMap(model, x.shape)).toBe(net.gradcam[0]!.layer);
    const cam = await gradCam(model, x);
    expect([cam.layer, worst(sample(cam.map, net.gradcam[0]!.map.stride), net.gradcam[0]!.map.values)]).toEqual([
      net.gradcam[0]!.layer,
      expect.any(Number),
    ]);
    cam.map.dispose();
  });
});

describe('bad paths and inputs', () => {
  it('name the path and what a path looks like; a batch of two is refused', async () => {
    const model = createModel('resnet18', { inputSize: 32 });
    expect(() => getModule(model, '1.9.conv1')).toThrow(
      "no module at '1.9.conv1': expected a dotted path such as 0, 1",
    );
    const two = tf.zeros([2, 32, 32, 3]);
    await expect(gradCam(model, two)).rejects.toThrow('gradCam: expected one image [1, H, W, C], got [2,32,32,3]');
    const one = tf.zeros([1, 32, 32, 3]);
    await expect(gradCam(model, one, { layer: '7' })).rejects.toThrow("gradCam: '7' outputs [1,10], not a feature map");
    tf.dispose([two, one]);
    model.dispose();
  });
});

describe('featureMapLayers', () => {
  it("ResNet-18 at MNIST's 28x28: the stem and stages 1-3 (stage 4 is 1x1), with the notebook's shapes", () => {
    const model = createModel('resnet18', { inputSize: 28, inChannels: 1, seed: 0 });
    // 28 -> 7x7 conv stride 2 -> 14 -> 3x3 max-pool stride 2 -> 7; then stages of stride 1, 2, 2, 2.
    expect(featureMapLayers(model, [1, 28, 28, 1])).toEqual([
      { path: '0', shape: [1, 7, 7, 64] },
      { path: '1', shape: [1, 7, 7, 64] },
      { path: '2', shape: [1, 4, 4, 128] },
      { path: '3', shape: [1, 2, 2, 256] },
    ]);
    expect(lastFeatureMap(model, [1, 28, 28, 1])).toBe('3');
    model.dispose();
  });
});
