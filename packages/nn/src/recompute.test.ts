import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import { Module } from './module.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { AdaptiveAvgPool2d } from './layers/pool.js';
import { Dropout, Flatten, ReLU } from './layers/simple.js';
import { Sequential } from './layers/sequential.js';
import { manualSeed } from './random.js';
import { chunkedForward, innermostBlocks, leanForward, recomputingForward } from './recompute.js';

/** A residual block: two convs with BatchNorm and a skip, as ResNet's. */
class Res extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  constructor(c: number) {
    super();
    this.conv1 = new Conv2d(c, c, 3, { padding: 1 });
    this.bn1 = new BatchNorm2d(c);
    this.conv2 = new Conv2d(c, c, 3, { padding: 1 });
    this.bn2 = new BatchNorm2d(c);
  }
  forward(x: tf.Tensor): tf.Tensor {
    const y = tf.relu(this.bn1.forward(this.conv1.forward(x)));
    return tf.relu(tf.add(this.bn2.forward(this.conv2.forward(y)), x));
  }
}

/** DenseNet's wiring: each block sees the concatenation of everything before it. */
class Dense extends Module {
  net: Sequential;
  constructor(c: number, growth: number) {
    super();
    this.net = new Sequential(
      ...[0, 1].map(
        (i) =>
          new Sequential(
            new BatchNorm2d(c + i * growth),
            new ReLU(),
            new Conv2d(c + i * growth, growth, 3, { padding: 1 }),
          ),
      ),
    );
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.net.layers.reduce((h, blk) => tf.concat([h, blk.forward(h)], 3), x);
  }
}

function net(): Sequential {
  manualSeed(3);
  return new Sequential(
    new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU()),
    new Res(4),
    new Dense(4, 2),
    new Sequential(new Dropout(0.5, { seed: 7 }), new Conv2d(8, 8, 1), new ReLU()),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(8, 3),
  );
}

/** The loss's gradients and the bytes held between forward and backward, for one forward or the other. */
function step(model: Module, x: tf.Tensor, forward: (m: Module, x: tf.Tensor) => tf.Tensor) {
  let held = 0;
  const { value, grads } = tf.variableGrads(() => {
    const y = forward(model, x);
    held = tf.memory().numBytes;
    return tf.sum(tf.square(y));
  }, model.trainableParameters());
  const out = Object.fromEntries([...model.namedParameters()].map(([name, v]) => [name, grads[v.name]!.arraySync()]));
  tf.dispose([value, ...Object.values(grads)]);
  return { grads: out, held, loss: value };
}

describe('recomputingForward', () => {
  it('finds the innermost blocks: stems, residual blocks, conv blocks inside a dense block', () => {
    const m = net();
    const found = new Set(innermostBlocks(m));
    const names = [...m.namedModules()].filter(([, b]) => found.has(b)).map(([p]) => p);
    expect(names).toEqual(['0', '1', '2.net.0', '2.net.1', '3']);
    m.dispose();
  });

  it("gives the plain forward's gradients, buffers and Dropout draws, holding less between forward and backward", () => {
    const [plain, checkpointed] = [net(), net()];
    const x = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    const a = step(plain, x, (m, input) => m.forward(input));
    const b = step(checkpointed, x, (m, input) => recomputingForward(m, input));
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(b.grads)).toEqual(Object.keys(a.grads));
    for (const [k, g] of Object.entries(a.grads))
      expect(maxDiff(g as number[], b.grads[k] as number[]), k).toBeLessThan(1e-5);
    // BatchNorm's running statistics moved once, as the plain forward moved them, and Dropout drew once.
    const buffers = [...checkpointed.namedBuffers()];
    for (const [name, v] of plain.namedBuffers()) {
      const other = buffers.find(([n]) => n === name)![1];
      expect(maxDiff(v.arraySync() as number[], other.arraySync() as number[]), name).toBeLessThan(1e-6);
    }
    expect((checkpointed.namedBuffers().next().value![1].arraySync() as number[])[0]).not.toBe(0);
    const nextDraw = (m: Module) => (m as Sequential).layers[3] as Sequential;
    expect((nextDraw(checkpointed).layers[0] as Dropout).rng.getState()).toBe(
      (nextDraw(plain).layers[0] as Dropout).rng.getState(),
    );
    // Between forward and backward the tape keeps each block's input, not its activations.
    expect(b.held).toBeLessThan(a.held * 0.6);
    tf.dispose([x, a.loss, b.loss]);
    plain.dispose();
    checkpointed.dispose();
  });
});

describe('leanForward', () => {
  /** Records the bytes held when the forward reaches it. */
  class Probe extends Module {
    bytes = 0;
    forward(x: tf.Tensor): tf.Tensor {
      this.bytes = tf.memory().numBytes;
      return x;
    }
  }

  it("is the forward, holding one block's activations at a time", () => {
    const m = net();
    const probe = new Probe();
    const probed = new Sequential(m, probe);
    probed.eval();
    const x = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    const plain = tf.tidy(() => probed.forward(x));
    const held = probe.bytes;
    const lean = tf.tidy(() => leanForward(probed, x));
    expect(maxDiff(lean.arraySync(), plain.arraySync())).toBe(0);
    expect(probe.bytes).toBeLessThan(held * 0.6);
    tf.dispose([plain, lean]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
    probed.dispose();
  });
});

describe('chunkedForward', () => {
  const chain = () => {
    manualSeed(5);
    return new Sequential(
      new Conv2d(3, 4, 3, { padding: 1 }),
      new ReLU(),
      new Dropout(0.5, { seed: 9 }),
      new Conv2d(4, 4, 3, { padding: 1 }),
    );
  };

  it("is the chain run chunk by chunk on the tape: gradients and Dropout's draws equal, holding only its output", () => {
    const [plain, chunked] = [chain(), chain()];
    const x = tf.randomNormal([5, 8, 8, 3], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    // Chunks of 2, 2 and 1, each through the chain in turn: the draws the forward makes, in its order.
    const byChunk = (m: Module, input: tf.Tensor) =>
      tf.concat(
        [tf.slice(input, 0, 2), tf.slice(input, 2, 2), tf.slice(input, 4, 1)].map((c) => m.forward(c)),
        0,
      );
    const a = step(plain, x, byChunk);
    const b = step(chunked, x, (m, input) => chunkedForward((m as Sequential).layers, input, 2));
    expect(tf.memory().numTensors).toBe(before);
    for (const [k, g] of Object.entries(a.grads))
      expect(maxDiff(g as number[], b.grads[k] as number[]), k).toBeLessThan(1e-5);
    // The backward's second run set the generator back to where the forward left it.
    const rng = (m: Module) => ((m as Sequential).layers[2] as Dropout).rng.getState();
    expect(rng(chunked)).toBe(rng(plain));
    expect(b.held).toBeLessThan(a.held * 0.6);
    tf.dispose([x, a.loss, b.loss]);
    plain.dispose();
    chunked.dispose();
  });

  it('refuses a BatchNorm that trains, naming it', () => {
    const layers = [new Conv2d(3, 4, 3), new Sequential(new BatchNorm2d(4), new ReLU())];
    const x = tf.zeros([4, 6, 6, 3]);
    expect(() => chunkedForward(layers, x, 2)).toThrow(
      "chunkedForward in passes of 2: 0 is a BatchNorm layer in training mode, whose statistics would be each chunk's",
    );
    x.dispose();
    for (const layer of layers) layer.dispose();
  });
});

function maxDiff(a: unknown, b: unknown): number {
  const [fa, fb] = [[a].flat(Infinity) as number[], [b].flat(Infinity) as number[]];
  expect(fa.length).toBe(fb.length);
  return Math.max(0, ...fa.map((v, i) => Math.abs(v - fb[i]!)));
}
