import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createModel } from '@convnets/architectures';
import {
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  withSeed,
  type Module,
} from '@convnets/nn';
import { initBackend } from './init.js';
import { SMALL_NETS, SOFTWARE_GPU_NETS } from '@convnets/tooling/fixtures';
import { nativeMissing, webgpuMissing } from '../test-utils/kernel-checks.js';

type Backend = 'cpu' | 'wasm' | 'native' | 'webgpu';
/** The backends compared with cpu here: wasm always, native where oneDNN is, webgpu where Dawn has an adapter. */
const BACKENDS: Backend[] = [
  'wasm',
  ...(nativeMissing() ? [] : ['native' as const]),
  ...((await webgpuMissing()) ? [] : ['webgpu' as const]),
];

const BATCH = 4;
const CLASSES = 10;

function batch(inputSize: number) {
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
  const x = Float32Array.from({ length: BATCH * inputSize * inputSize * 3 }, rand);
  const y = Int32Array.from({ length: BATCH }, (_, i) => (i * 3) % CLASSES);
  return { x, y };
}

function loss(net: Module, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(y as tf.Tensor1D, CLASSES), net.forward(x)) as tf.Scalar;
}

/** Eval-mode logits of seed-0 `name` for the fixed batch. */
async function evalLogits(backend: Backend, name: string, inputSize: number) {
  await initBackend(backend);
  const net = createModel(name, { inputSize, seed: 0 }).eval();
  const x = tf.tensor4d(batch(inputSize).x, [BATCH, inputSize, inputSize, 3]);
  const logits = tf.tidy(() => net.forward(x));
  const values = (await logits.data()) as Float32Array;
  tf.dispose([x, logits]);
  net.dispose();
  return values;
}

/** One SGD step (lr 0.1, train mode) from seed-0 weights; returns the loss and every updated parameter. */
async function sgdStep(backend: Backend, name: string, inputSize: number) {
  await initBackend(backend);
  const net = createModel(name, { inputSize, seed: 0 }).train();
  const data = batch(inputSize);
  const x = tf.tensor4d(data.x, [BATCH, inputSize, inputSize, 3]);
  const y = tf.tensor1d(data.y, 'int32');
  const named = [...net.namedParameters()];
  const { value, grads } = tf.variableGrads(
    () => loss(net, x, y),
    named.map(([, v]) => v),
  );
  const updated = new Map<string, Float32Array>();
  for (const [n, v] of named) {
    const next = tf.tidy(() => tf.sub(v, tf.mul(grads[v.name]!, 0.1)));
    updated.set(n, (await next.data()) as Float32Array);
    next.dispose();
  }
  const result = { loss: (await value.data())[0]!, updated };
  tf.dispose([x, y, value, ...Object.values(grads)]);
  net.dispose();
  return result;
}

/** max |a - b| / max |b|: relative to the tensor's scale, so near-zero elements do not dominate. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

/** cpu's result of `f` for a net, computed once for all the backends compared with it. */
const cpuResults = new Map<string, Promise<unknown>>();
function onCpu<T>(what: string, name: string, f: () => Promise<T>): Promise<T> {
  const key = `${what}/${name}`;
  if (!cpuResults.has(key)) cpuResults.set(key, f());
  return cpuResults.get(key) as Promise<T>;
}

/**
 * Every notebook net at a small size it takes; ResNet-18 at 36 px: at 32 its last stage is 1x1, so BatchNorm
 * normalises 4 numbers per channel and float32 summation order alone moves the step by ~2e-4. At 36 (18, 9, 5, 3, 2)
 * it is 2x2, well conditioned, at a third of 64 px's cost.
 */
const NETS = SMALL_NETS.map(([name, size]) => [name, name === 'resnet18' ? 36 : size] as const);

/** On webgpu (in CI a software adapter) the nets of SOFTWARE_GPU_NETS: every kind of layer, without minutes-long twins. */
const netsOn = (backend: Backend, what: 'forward' | 'step') =>
  backend === 'webgpu' ? NETS.filter(([name]) => SOFTWARE_GPU_NETS[what].some(([other]) => other === name)) : NETS;

describe.each(BACKENDS)('the eval forward on %s equals cpu', (backend) => {
  it.each(netsOn(backend, 'forward'))(
    '%s at %i px',
    async (name, inputSize) => {
      const cpu = await onCpu('logits', name, () => evalLogits('cpu', name, inputSize));
      const ours = await evalLogits(backend, name, inputSize);
      expect(relativeError(ours, cpu)).toBeLessThan(1e-4);
    },
    180_000,
  );
});

describe.each(BACKENDS)('one SGD step on %s equals the same step on cpu', (backend) => {
  it.each(netsOn(backend, 'step'))(
    '%s at %i px',
    async (name, inputSize) => {
      const cpu = await onCpu('step', name, () => sgdStep('cpu', name, inputSize));
      const ours = await sgdStep(backend, name, inputSize);
      expect(Math.abs(ours.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-4);
      expect([...ours.updated.keys()]).toEqual([...cpu.updated.keys()]);
      const worst = [...cpu.updated]
        .map(([n, w]) => [n, relativeError(ours.updated.get(n)!, w)] as const)
        .sort((a, b) => b[1] - a[1])[0]!;
      expect(worst[1], `worst parameter: ${worst[0]}`).toBeLessThan(1e-4);
    },
    180_000,
  ); // webgpu on a software adapter (CI's) takes a minute for VGG-11
});

describe('training on wasm', () => {
  it('keeps tf.memory().numTensors flat over 200 steps', async () => {
    await initBackend('wasm');
    const net = withSeed(
      1,
      () =>
        new Sequential(
          new Conv2d(3, 8, 3, { padding: 1 }),
          new BatchNorm2d(8),
          new ReLU(),
          new MaxPool2d(3, { stride: 2, padding: 1 }),
          new Conv2d(8, 8, 3, { stride: 2, padding: 1 }),
          new ReLU(),
          new Flatten(),
          new Dropout(0.2, { seed: 2 }),
          new Linear(8 * 4 * 4, CLASSES),
        ),
    );
    const data = batch(16);
    const x = tf.tensor4d(data.x, [BATCH, 16, 16, 3]);
    const y = tf.tensor1d(data.y, 'int32');
    const optimizer = tf.train.sgd(0.05);
    const step = () => {
      const cost = optimizer.minimize(() => loss(net, x, y), true, net.parameters())!;
      const value = cost.dataSync()[0]!;
      cost.dispose();
      return value;
    };
    const first = step();
    const after1 = tf.memory().numTensors;
    let last = first;
    for (let i = 1; i < 200; i++) last = step();
    expect(tf.memory().numTensors).toBe(after1);
    expect(last).toBeLessThan(first / 4);
    tf.dispose([x, y]);
    optimizer.dispose();
    net.dispose();
  });
});
