import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  BatchNorm2d,
  Conv2d,
  Flatten,
  freeze,
  Linear,
  loadStateDict,
  MaxPool2d,
  ReLU,
  Sequential,
  setModule,
  stateDict,
  unfreeze,
} from '@convnets/nn';
import { readJson, type TorchTensor, expectSameValues } from '@convnets/tooling/fixtures';
import { describe, expect, it } from 'vitest';
import { Sgd } from './optimizers.js';
import { trainStep } from './step.js';

type State = Record<string, TorchTensor>;
/** tooling/pytorch/finetune_fixtures.py: PyTorch's fine-tuning steps on a small net. */
const fixture = readJson<{
  pretrained: State;
  head: State;
  x: TorchTensor;
  y: number[];
  frozen: { losses: number[]; after: State };
  groups: { losses: number[]; after: State };
}>(new URL('./__fixtures__/finetune.json', import.meta.url));

const toMap = (state: State, prefix = '') =>
  new Map(
    Object.entries(state).map(([k, t]) => [
      prefix + k,
      tf.tensor(t.data, t.shape, k.endsWith('tracked') ? 'int32' : 'float32'),
    ]),
  );

/** The fixture's pretrained net with its new 3-class head, as PyTorch starts both runs. */
function start() {
  const model = new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }),
    new BatchNorm2d(4),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(36, 5),
  );
  const pretrained = toMap(fixture.pretrained);
  loadStateDict(model, pretrained);
  const head = new Linear(36, 3);
  loadStateDict(head, toMap(fixture.head));
  setModule(model, '5', head).dispose();
  tf.dispose([...pretrained.values()]);
  return model;
}

/** The batch, NHWC. */
const batch = () => ({
  x: tf.transpose(tf.tensor(fixture.x.data, fixture.x.shape), [0, 2, 3, 1]),
  y: tf.tensor1d(fixture.y, 'int32'),
});

/** Every state-dict tensor of `model` against PyTorch's after its steps: the same names, values within `rel`. */
function expectState(model: Sequential, expected: State) {
  const state = stateDict(model);
  expect([...state.keys()]).toEqual(Object.keys(expected));
  for (const [name, t] of state) {
    const want = expected[name]!.data;
    const got = Array.from(t.dataSync());
    const scale = Math.max(1e-6, ...want.map(Math.abs));
    const worst = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
    expect(worst / scale, name).toBeLessThan(1e-5);
  }
  tf.dispose([...state.values()]);
}

describe('fine-tuning with PyTorch semantics (tooling/pytorch/finetune_fixtures.py)', () => {
  const title = 'a frozen backbone (BatchNorm held in eval) and a new head: two SGD steps give PyTorch head';
  it(`${title} and keep the backbone bit for bit`, async () => {
    const model = start();
    freeze(model, ['0', '1'], { freezeBatchNorm: true }).train();
    expect(model['1'].training).toBe(false);
    expect(model.numParameters('frozen')).toBe(36 + 4 + 4 + 4);
    expect(model.numParameters('trainable')).toBe(36 * 3 + 3);
    const before = stateDict(model);
    const { x, y } = batch();
    const sgd = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
    const losses = [];
    for (let i = 0; i < 2; i++) losses.push((await trainStep(model, { x, y }, sgd, { lr: 0.1 })).loss);
    expect(losses[0]).toBeCloseTo(fixture.frozen.losses[0]!, 5);
    expect(losses[1]).toBeCloseTo(fixture.frozen.losses[1]!, 5);
    expectState(model, fixture.frozen.after);
    // The backbone, running statistics included, is exactly as loaded; the optimizer holds state for the head only.
    const after = stateDict(model);
    for (const [name, t] of before) {
      if (!name.startsWith('5.'))
        expectSameValues(after.get(name)!.dataSync() as Float32Array, t.dataSync() as Float32Array, name);
    }
    expect([...sgd.state().keys()]).toEqual(['0.momentum_buffer', '1.momentum_buffer']);
    unfreeze(model).train();
    expect(model['1'].training).toBe(true);
    expect(model.numParameters('frozen')).toBe(0);
    tf.dispose([...before.values(), ...after.values(), x, y]);
    sgd.dispose();
    model.dispose();
  });

  it('parameter groups (backbone lr 0.01 without weight decay, head lr 0.1 with it) give PyTorch weights and statistics', async () => {
    const model = start().train();
    const backbone = [...model['0'].parameters(), ...model['1'].parameters()];
    const sgd = new Sgd({
      momentum: 0.9,
      weightDecay: 5e-4,
      groups: [{ params: backbone, lrScale: 0.1, weightDecay: 0 }],
    });
    const { x, y } = batch();
    const losses = [];
    for (let i = 0; i < 2; i++) losses.push((await trainStep(model, { x, y }, sgd, { lr: 0.1 })).loss);
    expect(losses[1]).toBeCloseTo(fixture.groups.losses[1]!, 5);
    expectState(model, fixture.groups.after);
    tf.dispose([x, y]);
    sgd.dispose();
    model.dispose();
  });

  it('refuses a path that names no module, a parameter in two groups, and a step with nothing to train', async () => {
    const model = start();
    expect(() => freeze(model, 'features')).toThrow(
      "freeze: no module at 'features': expected a dotted path such as 0, 1, 2, 3, 4, 5",
    );
    const p = model['5'].parameters();
    expect(() => new Sgd({ groups: [{ params: p }, { params: p.slice(0, 1) }] })).toThrow('is in more than one group');
    freeze(model);
    const { x, y } = batch();
    await expect(trainStep(model, { x, y }, new Sgd(), { lr: 0.1 })).rejects.toThrow('every parameter is frozen');
    tf.dispose([x, y]);
    model.dispose();
  });
});
