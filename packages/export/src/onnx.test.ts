import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@convnets/backend';
import { createModel } from '@convnets/architectures';
import {
  AvgPool2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  Module,
  Sequential,
  loadStateDict,
  type Shape,
  withSeed,
} from '@convnets/nn';
import { Sgd, decodeWeights, encodeWeights, fit } from '@convnets/trainer';
import { SMALL_NETS, TORCHVISION_NETS } from '@convnets/tooling/fixtures';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { toOnnx, UnsupportedKernelError } from './index.js';
import { twoBranchNet } from '../test-utils/two-branch.js';

// convnets' forward (and the training steps below) on the fastest backend here: native in CI, else wasm.
await initBackend('auto');

/** Runs ONNX bytes in onnxruntime (CPU) on an NHWC tensor, which it is given as NCHW. */
async function runOnnx(bytes: Uint8Array, nhwc: tf.Tensor): Promise<{ logits: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const nchw = tf.transpose(nhwc, [0, 3, 1, 2]);
    const input = new ort.Tensor('float32', nchw.dataSync() as Float32Array, nchw.shape);
    nchw.dispose();
    const { logits } = await session.run({ input });
    return { logits: logits!.data as Float32Array, dims: logits!.dims };
  } finally {
    await session.release();
  }
}

/** The largest difference relative to the largest logit (or 1, for small logits). */
function relativeDiff(ours: Float32Array, theirs: Float32Array): number {
  let diff = 0;
  let scale = 1;
  ours.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - theirs[i]!));
    scale = Math.max(scale, Math.abs(v));
  });
  return diff / scale;
}

/** Running statistics far from their 0/1 start, so eval-mode batch norm does something to check. */
function randomizeBuffers(model: Module, seed: number) {
  for (const [name, v] of model.namedBuffers()) {
    if (name.endsWith('running_mean')) v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', seed++));
    if (name.endsWith('running_var')) v.assign(tf.randomUniform(v.shape, 0.5, 2, 'float32', seed++));
  }
}

describe.each([...SMALL_NETS, ...TORCHVISION_NETS])('%s at %i px in onnxruntime', (name, size) => {
  it("gives convnets' eval-mode logits within 1e-4, for any batch size", async () => {
    const model = createModel(name, { inputSize: size, inChannels: 3, numClasses: 10, seed: 1 }).eval();
    randomizeBuffers(model, 7);
    const before = tf.memory().numTensors;
    const bytes = await toOnnx(model, { inputShape: [3, size, size] });
    expect(tf.memory().numTensors).toBe(before);
    for (const batch of [1, 3]) {
      const x = tf.randomUniform([batch, size, size, 3], -2, 2, 'float32', batch);
      const ours = model.forward(x);
      const { logits, dims } = await runOnnx(bytes, x);
      expect(dims).toEqual([batch, 10]);
      expect(relativeDiff(ours.dataSync() as Float32Array, logits)).toBeLessThan(1e-4);
      tf.dispose([x, ours]);
    }
    model.dispose();
  });
});

/**
 * Training moves state beyond the weights only where there is BatchNorm (its running statistics): the nets above
 * already run with other weights, and the weights file's round trip is the same for every net.
 */
const WITH_BATCH_NORM = SMALL_NETS.filter(([name]) => name === 'resnet18' || name === 'densenet');

describe.each(WITH_BATCH_NORM)('%s at %i px, trained and checkpointed, in onnxruntime', (name, size) => {
  it("gives the trained net's eval-mode logits within 1e-4", async () => {
    const model = createModel(name, { inputSize: size, inChannels: 3, numClasses: 10, seed: 4, init: 'xavier' });
    // Two SGD steps in train mode move the weights and the batch-norm running statistics off their start.
    const batches = {
      length: 2,
      async *[Symbol.asyncIterator]() {
        for (let i = 0; i < 2; i++) {
          const x = tf.randomUniform([4, size, size, 3], -2, 2, 'float32', 20 + i);
          yield { x, y: tf.tensor1d([0, 3, 5, 9], 'int32') };
        }
      },
    };
    await fit(model, { train: batches, epochs: 1, optimizer: new Sgd({ momentum: 0.9 }), lr: 0.01 });
    const card = {
      model: name,
      inputSize: size,
      inChannels: 3,
      classes: [...'0123456789'],
      mean: [0, 0, 0],
      std: [1, 1, 1],
    };
    // Through the weights file, as a user's checkpoint comes: encode, decode, load into a fresh net.
    const { tensors } = decodeWeights(await encodeWeights(model, { card }));
    const restored = createModel(name, { inputSize: size, inChannels: 3, numClasses: 10 });
    loadStateDict(restored, tensors);
    tf.dispose([...tensors.values()]);
    const bytes = await toOnnx(restored, { card });
    const x = tf.randomUniform([2, size, size, 3], -2, 2, 'float32', 30);
    const ours = model.eval().forward(x);
    const { logits } = await runOnnx(bytes, x);
    expect(relativeDiff(ours.dataSync() as Float32Array, logits)).toBeLessThan(1e-4);
    tf.dispose([x, ours]);
    model.dispose();
    restored.dispose();
  });
});

describe('the ONNX model', () => {
  const card = {
    model: 'resnet18',
    inputSize: 32,
    inChannels: 3,
    classes: ['a', 'b', 'c', 'd'],
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.247, 0.2435, 0.2616],
  };

  it("follows torch.onnx's conventions and carries the card", async () => {
    const model = createModel('resnet18', { inputSize: 32, numClasses: 4 }).eval();
    const bytes = await toOnnx(model, { card, source: 'run/cifar10_resnet18.safetensors', opset: 13 });
    const decoded = onnxProto.onnx.ModelProto.decode(bytes);
    const dims = (v: onnxProto.onnx.IValueInfoProto) =>
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(decoded.graph!.input!.map((v) => [v.name, dims(v)])).toEqual([['input', ['batch', 3, 32, 32]]]);
    expect(decoded.graph!.output!.map((v) => [v.name, dims(v)])).toEqual([['logits', ['batch', 4]]]);
    expect(decoded.opsetImport!.map((o) => Number(o.version))).toEqual([13]);
    const meta = Object.fromEntries(decoded.metadataProps!.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta.convnets!)).toEqual(card);
    expect(meta).toMatchObject({ model: 'resnet18', input_size: '32', source: 'run/cifar10_resnet18.safetensors' });
    // Initializers carry PyTorch's names and layouts ([out, in, kh, kw]); num_batches_tracked is not needed.
    const init = new Map(decoded.graph!.initializer!.map((t) => [t.name, t.dims!.map(Number)]));
    expect(init.get('0.0.weight')).toEqual([64, 3, 7, 7]);
    expect(init.get('7.weight')).toEqual([4, 512]);
    expect([...init.keys()].some((k) => k?.includes('num_batches_tracked'))).toBe(false);
    model.dispose();
  });

  it('with normalize, takes raw [0, 1] pixels and gives the logits of the normalised input', async () => {
    const model = createModel('resnet18', { inputSize: 32, numClasses: 4, seed: 3 }).eval();
    randomizeBuffers(model, 11);
    const bytes = await toOnnx(model, { card, normalize: true });
    const pixels = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 5);
    const normalized = tf.div(tf.sub(pixels, card.mean), card.std);
    const ours = model.forward(normalized);
    const { logits } = await runOnnx(bytes, pixels);
    expect(relativeDiff(ours.dataSync() as Float32Array, logits)).toBeLessThan(1e-4);
    tf.dispose([pixels, normalized, ours]);
    model.dispose();
  });

  it("matches PyTorch's pools: padding counted in averages, ceil mode, asymmetric windows", async () => {
    const model = new Sequential(
      new Conv2d(2, 4, [3, 2], { stride: [2, 1], padding: [1, 0], bias: false }),
      new AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
      new MaxPool2d([3, 2], { stride: 2, padding: 1, ceilMode: true }),
      new Flatten(),
      new Linear(48, 5),
    ).eval();
    const shape: Shape = [1, 13, 11, 2];
    expect(model.inferShape(shape)).toEqual([1, 5]);
    const bytes = await toOnnx(model, { inputShape: [2, 13, 11] });
    const x = tf.randomNormal([2, 13, 11, 2], 0, 1, 'float32', 9);
    const ours = model.forward(x);
    expect(relativeDiff(ours.dataSync() as Float32Array, (await runOnnx(bytes, x)).logits)).toBeLessThan(1e-5);
    tf.dispose([x, ours]);
    model.dispose();
  });

  it('exports a block known only to this test by tracing its forward: onnxruntime gives its logits within 1e-4', async () => {
    const model = withSeed(3, () => twoBranchNet(3)).eval();
    const before = tf.memory().numTensors;
    const bytes = await toOnnx(model, { inputShape: [3, 9, 9] });
    expect(tf.memory().numTensors).toBe(before);
    // The block's wiring, read from its forward: Concat along NCHW's channels, the gate as a [C, 1, 1] initializer.
    const { graph } = onnxProto.onnx.ModelProto.decode(bytes);
    expect(graph!.node!.filter((n) => n.name!.startsWith('1/')).map((n) => n.opType)).toEqual([
      'Relu',
      'Concat',
      'Mul',
      'Add',
      'Relu',
    ]);
    const [axis] = graph!.node!.find((n) => n.name === '1/Concat')!.attribute!;
    expect([axis!.name, Number(axis!.i)]).toEqual(['axis', 1]);
    expect(graph!.initializer!.find((t) => t.name === '1.gate')!.dims!.map(Number)).toEqual([4, 1, 1]);
    const x = tf.randomUniform([2, 9, 9, 3], -2, 2, 'float32', 4);
    const ours = model.forward(x);
    expect(relativeDiff(ours.dataSync() as Float32Array, (await runOnnx(bytes, x)).logits)).toBeLessThan(1e-4);
    tf.dispose([x, ours]);
    model.dispose();
  });

  it('refuses a kernel with no ONNX form, naming the module that runs it', async () => {
    class Exponential extends Module {
      forward(x: tf.Tensor) {
        return tf.exp(x);
      }
    }
    const model = new Sequential(
      new Conv2d(1, 2, 3),
      new Sequential(new Exponential()),
      new Flatten(),
      new Linear(2, 2),
    );
    const failure = toOnnx(model, { inputShape: [1, 3, 3] });
    await expect(failure).rejects.toThrow(UnsupportedKernelError);
    await expect(failure).rejects.toThrow(
      /^ONNX export: the module at '1\.0' \(Exponential\) runs tfjs's Exp kernel, which has no ONNX form here \(between layers: Add, /,
    );
    model.dispose();
  });

  it('refuses bad options with what was expected', async () => {
    const model = createModel('resnet18', { inputSize: 32, numClasses: 4 });
    await expect(toOnnx(model, { inputShape: [3, 32, 32], opset: 9 })).rejects.toThrow(
      'opset must be an integer from 13 to 18, got 9',
    );
    await expect(toOnnx(model)).rejects.toThrow('inputShape must be [channels, height, width]');
    await expect(toOnnx(model, { inputShape: [1, 32, 32] })).rejects.toThrow('expects 3 input channels');
    await expect(toOnnx(model, { inputShape: [3, 32, 32], normalize: true })).rejects.toThrow('from a card');
    model.dispose();
  });
});
