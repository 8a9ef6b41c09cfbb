import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import { loadStateDict, stateDict, type Module } from '@convnets/nn';
import { activation, maxAbsDiff, readJson, stateFromJson, tensor, type TorchTensor } from '@convnets/tooling/fixtures';
import { DenseBlock, Inception, Residual, convBlock, ninBlock, transitionBlock, vggBlock } from './index.js';

interface BlockCase {
  state: Record<string, TorchTensor>;
  input: TorchTensor;
  train: TorchTensor;
  eval: TorchTensor;
  running_after: Record<string, TorchTensor>;
  output_weights: TorchTensor;
  grads: Record<string, TorchTensor>;
}

/** Made by tooling/pytorch/block_fixtures.py from the notebook's definitions. */
const fixtures = readJson<Record<string, BlockCase>>(new URL('./__fixtures__/blocks.json', import.meta.url));

const builders: Record<string, () => Module> = {
  'residual-projection': () => new Residual(3, 4, { use1x1conv: true, strides: 2 }),
  residual: () => new Residual(4, 4),
  inception: () => new Inception(4, 2, [3, 4], [2, 3], 2),
  'dense-block': () => new DenseBlock(2, 3, 4),
  'transition-block': () => transitionBlock(6, 3),
  'conv-block': () => convBlock(3, 5),
  'vgg-block': () => vggBlock(2, 3, 4),
  'nin-block': () => ninBlock(3, 4, 3, 2, 1),
};

describe.each(Object.keys(builders))("%s agrees with the notebook's PyTorch block", (name) => {
  it('in train mode (batch statistics), then eval mode (running statistics)', () => {
    const c = fixtures[name]!;
    const block = builders[name]!();
    const state = stateFromJson(c.state);
    loadStateDict(block, state, { strict: false }); // the fixture leaves out num_batches_tracked (int64)
    const x = activation(c.input);

    block.train();
    tf.tidy(() => {
      const y = block.forward(x);
      expect(y.shape).toEqual(block.inferShape(x.shape));
      expect(maxAbsDiff(y, activation(c.train))).toBeLessThan(1e-5);
    });
    for (const [key, value] of Object.entries(c.running_after)) {
      const ours = [...block.namedBuffers()].find(([n]) => n === key)![1];
      tf.tidy(() => {
        expect(maxAbsDiff(ours, tensor(value))).toBeLessThan(1e-6);
      });
    }
    block.eval();
    tf.tidy(() => {
      expect(maxAbsDiff(block.forward(x), activation(c.eval))).toBeLessThan(1e-5);
    });
    tf.dispose([x, ...state.values()]);
    block.dispose();
  });
});

describe.each(Object.keys(builders))("%s backpropagates as PyTorch's block does (train mode)", (name) => {
  it('gradients w.r.t. the input and every parameter', () => {
    const c = fixtures[name]!;
    const block = builders[name]!().train();
    const state = stateFromJson(c.state);
    loadStateDict(block, state, { strict: false });
    const x = activation(c.input);
    const weights = activation(c.output_weights);
    const params = [...block.namedParameters()];
    const loss = () => tf.sum(tf.mul(block.forward(x), weights)) as tf.Scalar;
    const dx = tf.grad((input) => tf.sum(tf.mul(block.forward(input), weights)))(x);
    tf.tidy(() => {
      expect(maxAbsDiff(dx, activation(c.grads.input!))).toBeLessThan(1e-4);
    });
    const { grads } = tf.variableGrads(
      loss,
      params.map(([, v]) => v),
    );
    // Express our gradients in PyTorch's layout through the one conversion place: stateDict of a twin.
    const twin = builders[name]!();
    for (const [n, v] of twin.namedParameters()) v.assign(grads[params.find(([pn]) => pn === n)![1].name]!);
    const torchLayout = stateDict(twin);
    for (const [n] of params) {
      tf.tidy(() => {
        expect(maxAbsDiff(torchLayout.get(n)!, tensor(c.grads[n]!)), n).toBeLessThan(1e-4);
      });
    }
    tf.dispose([x, weights, dx, ...state.values(), ...Object.values(grads), ...torchLayout.values()]);
    block.dispose();
    twin.dispose();
  });
});

describe('block shapes', () => {
  it('Inception concatenates c1 + c2[1] + c3[1] + c4 channels', () => {
    expect(new Inception(192, 64, [96, 128], [16, 32], 32).inferShape([1, 12, 12, 192])).toEqual([1, 12, 12, 256]);
  });

  it('DenseBlock adds numConvs x growth channels', () => {
    expect(new DenseBlock(4, 64, 32).inferShape([1, 56, 56, 64])).toEqual([1, 56, 56, 192]);
  });

  it('Residual without a projection refuses a change of channels, naming both shapes', () => {
    // Its forward's add cannot take the two (traced on zeros: the shapes come from forward itself).
    expect(() => new Residual(3, 6).inferShape([1, 8, 8, 3])).toThrow(
      /^its forward fails on input \[1, 8, 8, 3\]: .*broadcast.* 1,8,8,6 and 1,8,8,3/,
    );
    expect(() => new Residual(3, 3, { strides: 2 }).inferShape([1, 8, 8, 3])).toThrow(/1,4,4,3 and 1,8,8,3/);
    expect(new Residual(3, 6, { use1x1conv: true, strides: 2 }).inferShape([1, 8, 8, 3])).toEqual([1, 4, 4, 6]);
  });
});
