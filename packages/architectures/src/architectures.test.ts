// tfjs's wasm backend: the forward passes below in a fraction of the cpu backend's time.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { initWeights, summary, type Sequential } from '@convnets/nn';
import { createModel, listModels } from './registry.js';

const load = (name: string) => JSON.parse(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8'));

/** Measured with PyTorch 1.13 on the notebook's definitions (the steering repository's pytorch-reference.json). */
const reference: Record<
  string,
  { params: number; fwd_flops_per_image: number; input: number[]; top_level_shapes: Array<[string, number[]]> }
> = load('pytorch-reference.json');
/** `repr(net)` and state-dict names and shapes from PyTorch (tooling/pytorch/net_fixtures.py). */
const torchNets: Record<string, { repr: string; state: Array<[string, number[]]> }> = load('nets.json');

/** Reference entry -> our registry name and options. */
const cases = [
  ['alexnet', 'alexnet', {}],
  ['vgg11', 'vgg11', {}],
  ['vgg11_small', 'vgg11-small', {}],
  ['nin', 'nin', {}],
  ['nin_mnist', 'nin', { inChannels: 1 }],
  ['googlenet', 'googlenet', {}],
  ['resnet18', 'resnet18', {}],
  ['densenet', 'densenet', {}],
] as const;

await tf.setBackend('wasm');

const nchwToNhwc = (s: number[]) => (s.length === 4 ? [s[0], s[2], s[3], s[1]] : s);

// Building vgg11 at 224 allocates 129M parameters: build each net once and share it between tests.
const built = new Map<string, Sequential>();
function model(ref: string): Sequential {
  const [, name, options] = cases.find(([r]) => r === ref)!;
  const [, , , inputSize] = reference[ref]!.input;
  if (!built.has(ref)) built.set(ref, createModel(name, { ...options, inputSize }));
  return built.get(ref)!;
}
afterAll(() =>
  built.forEach((m) => {
    m.dispose();
  }),
);

describe.each(cases)('%s matches PyTorch', (ref) => {
  const expected = reference[ref]!;

  it('top-level output shapes and types (the notebook trace), parameters, FLOPs within 1%', () => {
    const [n, c, h, w] = expected.input as [number, number, number, number];
    const s = summary(model(ref), [n, h, w, c]);
    expect(s.layers.map((l) => l.type)).toEqual(expected.top_level_shapes.map(([type]) => type));
    expect(s.layers.map((l) => l.outputShape)).toEqual(expected.top_level_shapes.map(([, shape]) => nchwToNhwc(shape)));
    expect(s.params).toBe(expected.params);
    expect(Math.abs(s.flops - expected.fwd_flops_per_image) / expected.fwd_flops_per_image).toBeLessThan(0.01);
  });

  it('prints exactly as PyTorch prints it', () => {
    const torchName = ref === 'vgg11_small' ? 'vgg11-small' : ref === 'nin_mnist' ? 'nin-1ch' : ref;
    expect(model(ref).toString()).toBe(torchNets[torchName]!.repr);
  });

  it("has PyTorch's state-dict names, in order, with shapes in our layout", () => {
    const torchName = ref === 'vgg11_small' ? 'vgg11-small' : ref === 'nin_mnist' ? 'nin-1ch' : ref;
    const ours = [...model(ref).namedState()].map(([name, v]) => [name, v.shape]);
    const toOurLayout = (s: number[]) =>
      s.length === 4 ? [s[2], s[3], s[1], s[0]] : s.length === 2 ? [s[1], s[0]] : s;
    expect(ours).toEqual(torchNets[torchName]!.state.map(([name, shape]) => [name, toOurLayout(shape)]));
  });
});

describe('forward passes agree with shape inference', () => {
  // Small inputs keep it fast; AlexNet and NiN need at least 63 pixels for their strided stems.
  it.each([
    ['alexnet', 67],
    ['vgg11-small', 32],
    ['nin', 67],
    ['googlenet', 32],
    ['resnet18', 32],
    ['densenet', 32],
  ] as const)('%s at %i px, batch 2, with no tensor left behind', (name, inputSize) => {
    const net = createModel(name, { inputSize, numClasses: 7 }).eval();
    const x = tf.randomNormal([2, inputSize, inputSize, 3]);
    tf.tidy(() => net.forward(x)).dispose(); // first calls may cache
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => net.forward(x));
    expect(y.shape).toEqual([2, 7]);
    expect(net.inferShape(x.shape)).toEqual(y.shape);
    expect(y.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before - 1);
    net.dispose();
  });
});

describe('registry', () => {
  it('lists the notebook nets', () => {
    expect(listModels().filter((n) => !n.startsWith('torchvision/'))).toEqual([
      'alexnet',
      'vgg11',
      'vgg11-small',
      'nin',
      'googlenet',
      'resnet18',
      'densenet',
    ]);
  });

  it('names the available models for an unknown name', () => {
    expect(() => createModel('resnet50')).toThrow("Unknown model 'resnet50'. Available models: alexnet, vgg11");
  });

  it('names the model, layer and shapes for an impossible input size', () => {
    expect(() => createModel('alexnet', { inputSize: 32 })).toThrow(
      /^alexnet: layer '5' \(MaxPool2d\(kernel_size=3, stride=2.*\)\) cannot take input \[1, 2, 2, 256\] \(model input \[1, 32, 32, 3\]\)/,
    );
  });

  it('rejects bad options', () => {
    expect(() => createModel('resnet18', { numClasses: 0 })).toThrow(
      'resnet18: option numClasses must be a positive integer, got 0',
    );
  });

  it('init re-initialises conv and linear weights from the seed, as initWeights does (the trainer never does)', () => {
    const first = (m: Sequential) => [...m.parameters()[0]!.dataSync().slice(0, 20)];
    const plain = createModel('resnet18', { seed: 2, inputSize: 32 });
    const xavier = createModel('resnet18', { seed: 2, inputSize: 32, init: 'xavier' });
    const byHand = initWeights(createModel('resnet18', { seed: 2, inputSize: 32 }), 'xavier', 2);
    expect(first(xavier)).toEqual(first(byHand));
    expect(first(xavier)).not.toEqual(first(plain));
    for (const m of [plain, xavier, byHand]) m.dispose();
  });

  it('the same seed gives the same weights', () => {
    const a = createModel('nin', { seed: 3, inputSize: 67 });
    const b = createModel('nin', { seed: 3, inputSize: 67 });
    const c = createModel('nin', { seed: 4, inputSize: 67 });
    const first = (m: Sequential) => [...m.parameters()[0]!.dataSync().slice(0, 20)];
    expect(first(a)).toEqual(first(b));
    expect(first(a)).not.toEqual(first(c));
    [a, b, c].forEach((m) => {
      m.dispose();
    });
  });

  it('builds for one input channel and any class count', () => {
    const net = createModel('resnet18', { inChannels: 1, numClasses: 100, inputSize: 28 });
    expect(net.inferShape([5, 28, 28, 1])).toEqual([5, 100]);
    net.dispose();
  });
});
