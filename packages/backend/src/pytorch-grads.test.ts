/**
 * A full net's train-mode gradients against PyTorch's: ResNet-18 at 64 px, batch 4, weights and input from a
 * hash both sides compute (tooling/pytorch/grad_fixtures.py), one forward/backward pass on wasm with our
 * training kernels (and on native, with the oneDNN ones). Gradients and BatchNorm running statistics come
 * back in PyTorch's names and layouts through stateDict, and are compared by sum, L2 norm and sampled elements.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createModel } from '@convnets/architectures';
import { loadStateDict, stateDict } from '@convnets/nn';
import { hashTensor, hashUniform, readJson } from '@convnets/tooling/fixtures';
import { initBackend } from './init.js';
import { nativeMissing } from '../test-utils/kernel-checks.js';

/** wasm, and native where the oneDNN addon runs. */
const backends: Array<'wasm' | 'native'> = ['wasm', ...(nativeMissing() ? [] : ['native' as const])];

interface Summary {
  shape: number[];
  sum: number;
  norm: number;
  samples: [number, number][];
}
const fixture = readJson<{
  inputSize: number;
  batch: number;
  labels: number[];
  loss: number;
  float32VsFloat64: number;
  grads: Record<string, Summary>;
  buffers: Record<string, Summary>;
}>(new URL('./__fixtures__/resnet18-grads.json', import.meta.url));

/**
 * Norm (relative) and sampled elements (absolute). Not the sum: over thousands of float32 elements it mostly
 * measures accumulation order (PyTorch's CPU kernels accumulate in float64, tfjs's in float32).
 */
function expectClose(name: string, values: Float32Array, want: Summary, tolerance: number) {
  let sq = 0;
  for (const v of values) sq += v * v;
  expect(Math.abs(Math.sqrt(sq) - want.norm), `${name}: norm`).toBeLessThan(tolerance * Math.max(1, want.norm));
  for (const [i, v] of want.samples) expect(Math.abs(values[i]! - v), `${name}[${i}]`).toBeLessThan(tolerance);
}

describe("ResNet-18's train-mode gradients equal PyTorch's", () => {
  it.each(backends)(
    'on %s: loss, every parameter gradient (1e-3) and the updated BatchNorm running statistics',
    async (backend) => {
      await initBackend(backend);
      const { inputSize: size, batch } = fixture;
      const model = createModel('resnet18', { inputSize: size, inChannels: 3 }).train();
      const template = stateDict(model);
      const weights = new Map(
        [...template].map(
          ([n, t], k) =>
            [
              n,
              t.dtype === 'int32' ? tf.zeros(t.shape, 'int32') : tf.tensor(hashTensor(n, t.shape, k), t.shape),
            ] as const,
        ),
      );
      loadStateDict(model, weights);
      tf.dispose([...template.values(), ...weights.values()]);

      const x = tf.tidy(() =>
        tf.transpose(
          tf.tensor4d(Float32Array.from(hashUniform(batch * 3 * size * size, 1000)), [batch, 3, size, size]),
          [0, 2, 3, 1],
        ),
      );
      const y = tf.oneHot(tf.tensor1d(fixture.labels, 'int32'), 10);
      const params = [...model.namedParameters()];
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.forward(x)) as tf.Scalar,
        params.map(([, v]) => v),
      );
      expect(Math.abs((await value.data())[0]! - fixture.loss)).toBeLessThan(1e-5);

      // Gradients in PyTorch's layout: put each into its parameter and read the state dict back.
      for (const [, v] of params) v.assign(grads[v.name]!);
      const state = stateDict(model);
      expect(Object.keys(fixture.grads).length).toBe(params.length);
      for (const [name, want] of Object.entries(fixture.grads)) {
        const got = state.get(name)!;
        expect(got.shape, name).toEqual(want.shape);
        expectClose(name, (await got.data()) as Float32Array, want, 1e-3);
      }
      for (const [name, want] of Object.entries(fixture.buffers))
        expectClose(name, (await state.get(name)!.data()) as Float32Array, want, 1e-4);
      tf.dispose([x, y, value, ...Object.values(grads), ...state.values()]);
      model.dispose();
    },
    120_000,
  );
});
