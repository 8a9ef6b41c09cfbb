import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Conv2d } from './layers/conv.js';
import { AdaptiveAvgPool2d } from './layers/pool.js';
import { Sequential } from './layers/sequential.js';
import { Flatten } from './layers/simple.js';
import { Linear } from './layers/linear.js';
import { Module, type ShapeTrace } from './module.js';
import { summary, traceShapes } from './summary.js';
import { traceForward, type KernelCall } from './trace.js';

/** A block written here only: two branches, a concat, a 1x1 convolution back to the input's channels, an add. */
class TwoBranch extends Module {
  wide = new Conv2d(4, 6, 3, { padding: 1 });
  narrow = new Conv2d(4, 2, 1);
  merge = new Conv2d(8, 4, 1);
  forward(x: tf.Tensor): tf.Tensor {
    const joined = tf.concat([tf.relu(this.wide.forward(x)), this.narrow.forward(x)], 3);
    return tf.relu(tf.add(this.merge.forward(joined), x));
  }
}

const net = () =>
  new Sequential(new Conv2d(3, 4, 3), new TwoBranch(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 5));

afterEach(() => vi.restoreAllMocks());

describe('shapes from tracing forward', () => {
  it("a block's shape is its forward's, with no convolution run and no tensor left", () => {
    const model = net();
    const y = tf.tidy(() => model.forward(tf.zeros([2, 9, 9, 3])));
    const before = tf.memory().numTensors;
    const convs = vi.spyOn(Conv2d.prototype, 'forward');
    const trace: ShapeTrace = [];
    expect(model.inferShape([2, 9, 9, 3], trace)).toEqual(y.shape);
    expect(convs).not.toHaveBeenCalled();
    expect(tf.memory().numTensors).toBe(before);
    // Every module passed through, in call order, with what went in and came out (the block's own: 7x7 in and out).
    const paths = new Map([...model.namedModules()].map(([p, m]) => [m, p]));
    expect(trace.map((e) => [paths.get(e.module), e.output])).toEqual([
      ['', [2, 5]],
      ['0', [2, 7, 7, 4]],
      ['1', [2, 7, 7, 4]],
      ['1.wide', [2, 7, 7, 6]],
      ['1.narrow', [2, 7, 7, 2]],
      ['1.merge', [2, 7, 7, 4]],
      ['2', [2, 1, 1, 4]],
      ['3', [2, 4]],
      ['4', [2, 5]],
    ]);
    // The summary lists the block's layers at depth 2, and counts their FLOPs as the block's at depth 1.
    const inner = summary(model, [1, 9, 9, 3], { depth: 2 }).layers.filter((l) => l.path.startsWith('1.'));
    expect(inner.map((l) => [l.path, l.type, l.outputShape])).toEqual([
      ['1.wide', 'Conv2d', [1, 7, 7, 6]],
      ['1.narrow', 'Conv2d', [1, 7, 7, 2]],
      ['1.merge', 'Conv2d', [1, 7, 7, 4]],
    ]);
    const block = summary(model, [1, 9, 9, 3]).layers.find((l) => l.path === '1')!;
    expect(block).toMatchObject({ type: 'TwoBranch', outputShape: [1, 7, 7, 4] });
    expect(block.flops).toBe(inner.reduce((sum, l) => sum + l.flops, 0));
    expect(block.flops).toBeGreaterThan(0);
    y.dispose();
    model.dispose();
  });

  it('a block whose branches do not meet is named, with the shapes, by the model path', () => {
    const model = net();
    // 3 input channels where the add needs 4 from merge: the shortcut cannot be added.
    const bad = new Sequential(new TwoBranch());
    expect(() => traceShapes(bad, [1, 5, 5, 4])).not.toThrow();
    expect(() => traceShapes(new Sequential(new Conv2d(3, 3, 1), bad), [1, 5, 5, 3], 'net')).toThrow(
      /^net: layer '1\.0\.wide' \(Conv2d\(4, 6.*\) cannot take input \[1, 5, 5, 3\].*expects 4 input channels, got 3/,
    );
    class Mismatch extends TwoBranch {
      override forward(x: tf.Tensor): tf.Tensor {
        return tf.add(this.wide.forward(x), x);
      }
    }
    expect(() => traceShapes(new Sequential(new Mismatch()), [1, 5, 5, 4], 'net')).toThrow(
      /^net: layer '0' \(Mismatch.*\) cannot take input \[1, 5, 5, 4\].*its forward fails on input \[1, 5, 5, 4\]: .*broadcast.*1,5,5,6.*1,5,5,4/s,
    );
    model.dispose();
  });
});

describe('traceForward', () => {
  it('sees every module call and the kernels between them, and leaves the net as it was', () => {
    const model = net();
    const calls: string[] = [];
    const kernels: Array<[string, string]> = [];
    const x = tf.ones([1, 6, 6, 3]);
    const expected = tf.tidy(() => model.forward(x));
    const y = tf.tidy(() =>
      traceForward(model, x, {
        enter: (_m, path) => {
          calls.push(path);
          return undefined;
        },
        kernel: (call: KernelCall, path) => kernels.push([path, call.kernel]),
      }),
    );
    expect(Array.from(y.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(calls).toEqual(['', '0', '1', '1.wide', '1.narrow', '1.merge', '2', '3', '4']);
    // The block's own wiring, in order, attributed to the block (and the layers' kernels to the layers).
    expect(kernels.filter(([path]) => path === '1').map(([, k]) => k)).toEqual(['Relu', 'Concat', 'Add', 'Relu']);
    expect(kernels.filter(([path]) => path === '1.wide').length).toBeGreaterThan(0);
    // Nothing of the trace is left on the modules or the engine.
    for (const [, m] of model.namedModules()) expect(Object.hasOwn(m, 'forward')).toBe(false);
    expect(Object.hasOwn(tf.engine(), 'runKernel')).toBe(false);
    tf.dispose([x, y, expected]);
    model.dispose();
  });

  it('a stand-in replaces a module, and the trace is undone when forward throws', () => {
    const model = net();
    const x = tf.ones([1, 6, 6, 3]);
    const y = tf.tidy(() =>
      traceForward(model, x, { enter: (m, _p, input) => (m instanceof TwoBranch ? tf.neg(input) : undefined) }),
    );
    const expected = tf.tidy(() =>
      [model[2]!, model[3]!, model[4]!].reduce((h, m) => m.forward(h), tf.neg(model[0]!.forward(x))),
    );
    expect(Array.from(y.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(() =>
      traceForward(model, x, {
        enter: (m) => {
          if (m instanceof Linear) throw new Error('stop');
          return undefined;
        },
      }),
    ).toThrow('stop');
    for (const [, m] of model.namedModules()) expect(Object.hasOwn(m, 'forward')).toBe(false);
    tf.dispose([x, y, expected]);
    model.dispose();
  });
});
