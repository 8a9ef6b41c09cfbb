import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { Sequential } from './layers/sequential.js';
import { Dropout, Flatten, ReLU } from './layers/simple.js';
import { AdaptiveAvgPool2d } from './layers/pool.js';
import { Module } from './module.js';
import { withSeed } from './random.js';

/** A block with named children, like the notebook's Residual. */
class Block extends Module {
  conv1 = new Conv2d(2, 2, 3, { padding: 1 });
  bn1 = new BatchNorm2d(2);
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(this.bn1.forward(this.conv1.forward(x)));
  }
}

const tiny = () =>
  new Sequential(
    new Conv2d(1, 2, 3),
    new Sequential(new Block()),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(2, 3),
  );

describe('Module', () => {
  it('a module owns its tensors: after dispose, nothing it made stays in memory', () => {
    const before = tf.memory();
    const net = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2), new Linear(4, 3));
    expect(tf.memory().numTensors).toBe(before.numTensors + net.parameters().length + [...net.namedBuffers()].length);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('yields dotted PyTorch-style names for parameters and buffers', () => {
    const net = tiny();
    expect([...net.namedParameters()].map(([n]) => n)).toEqual([
      '0.weight',
      '0.bias',
      '1.0.conv1.weight',
      '1.0.conv1.bias',
      '1.0.bn1.weight',
      '1.0.bn1.bias',
      '4.weight',
      '4.bias',
    ]);
    expect([...net.namedBuffers()].map(([n]) => n)).toEqual([
      '1.0.bn1.running_mean',
      '1.0.bn1.running_var',
      '1.0.bn1.num_batches_tracked',
    ]);
    // state-dict order: a module's own tensors, then its children's.
    expect([...net.namedState()].map(([n]) => n).slice(4, 9)).toEqual([
      '1.0.bn1.weight',
      '1.0.bn1.bias',
      '1.0.bn1.running_mean',
      '1.0.bn1.running_var',
      '1.0.bn1.num_batches_tracked',
    ]);
    expect(net.numParameters()).toBe(1 * 2 * 9 + 2 + 2 * 2 * 9 + 2 + 2 + 2 + 2 * 3 + 3);
    net.dispose();
  });

  it('train() and eval() reach every descendant', () => {
    const net = tiny();
    net.eval();
    expect([...net.namedModules()].every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect([...net.namedModules()].every(([, m]) => m.training)).toBe(true);
    net.dispose();
  });

  it('apply visits children before their parent', () => {
    const net = new Sequential(new ReLU(), new Sequential(new Flatten()));
    const seen: string[] = [];
    net.apply((m) => seen.push(m.typeName));
    expect(seen).toEqual(['ReLU', 'Flatten', 'Sequential', 'Sequential']);
  });

  it('prints the tree as PyTorch does', () => {
    const net = new Sequential(new Conv2d(3, 8, 3, { padding: 1 }), new Sequential(new ReLU(), new Dropout(0.5)));
    expect(net.toString()).toBe(
      [
        'Sequential(',
        '  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))',
        '  (1): Sequential(',
        '    (0): ReLU()',
        '    (1): Dropout(p=0.5, inplace=False)',
        '  )',
        ')',
      ].join('\n'),
    );
    net.dispose();
  });

  it('the same seed builds the same weights, another seed different ones', () => {
    const a = withSeed(7, () => new Conv2d(2, 3, 3));
    const b = withSeed(7, () => new Conv2d(2, 3, 3));
    const c = withSeed(8, () => new Conv2d(2, 3, 3));
    expect([...a.weight.dataSync()]).toEqual([...b.weight.dataSync()]);
    expect([...a.weight.dataSync()]).not.toEqual([...c.weight.dataSync()]);
    [a, b, c].forEach((m) => {
      m.dispose();
    });
  });

  it('a forward pass in tidy leaves no tensors behind, in train and eval mode', () => {
    const net = tiny();
    const x = tf.randomNormal([2, 5, 5, 1]);
    for (const mode of [true, false]) {
      net.train(mode);
      tf.tidy(() => net.forward(x)).dispose(); // warm-up: first calls may cache
      const before = tf.memory().numTensors;
      tf.tidy(() => net.forward(x)).dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    x.dispose();
    const beforeDispose = tf.memory().numTensors;
    const count = [...net.namedState()].length;
    net.dispose();
    expect(tf.memory().numTensors).toBe(beforeDispose - count);
  });

  it('shape inference agrees with the forward pass', () => {
    const net = tiny();
    const y = tf.tidy(() => net.forward(tf.zeros([3, 6, 7, 1])));
    expect(net.inferShape([3, 6, 7, 1])).toEqual(y.shape);
    y.dispose();
    net.dispose();
  });
});

describe('Dropout', () => {
  it('is the identity in eval mode', () => {
    const d = new Dropout(0.5, { seed: 1 }).eval();
    const x = tf.ones([100]);
    expect(d.forward(x)).toBe(x);
    x.dispose();
  });

  it('zeroes about p of the elements and scales the rest by 1/(1-p); seeded and fresh each call', () => {
    const x = tf.ones([20000]);
    const run = (seed: number) => {
      const d = new Dropout(0.25, { seed });
      const first = d.forward(x).dataSync().slice();
      const second = d.forward(x).dataSync().slice();
      return { first, second };
    };
    const { first, second } = run(3);
    const zeros = first.filter((v) => v === 0).length / first.length;
    expect(zeros).toBeGreaterThan(0.23);
    expect(zeros).toBeLessThan(0.27);
    expect(new Set(first)).toEqual(new Set([0, 1 / 0.75].map(Math.fround)));
    expect([...first]).not.toEqual([...second]);
    expect([...run(3).first]).toEqual([...first]);
    x.dispose();
  });
});

describe('generator states', () => {
  it('reads every Dropout generator by path and restores them, so the same masks come again', async () => {
    const { generatorStates, restoreGeneratorStates } = await import('./generators.js');
    const net = new Sequential(
      new Dropout(0.5, { seed: 1 }),
      new Sequential(new ReLU(), new Dropout(0.5, { seed: 2 })),
    );
    net.train();
    const x = tf.ones([4, 8]);
    const saved = generatorStates(net);
    expect(Object.keys(saved)).toEqual(['0', '1.1']);
    const first = net.forward(x).dataSync().slice();
    const second = net.forward(x).dataSync().slice();
    expect(second).not.toEqual(first);
    restoreGeneratorStates(net, saved);
    expect(net.forward(x).dataSync().slice()).toEqual(first);
    tf.dispose(x);
    net.dispose();
  });
});
