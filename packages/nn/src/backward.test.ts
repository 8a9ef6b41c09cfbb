import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gradients } from './backward.js';

/**
 * A small net's loss with a probe at its input: the probe's gradient runs last in the backward pass, and records the
 * bytes then held. The wiring has what a backward must get right: a tensor used twice (a skip and a square), ops whose
 * gradient hands dy on (add, reshape), a weight used by two ops, a multi-output op (split).
 */
function lossOf(x: tf.Tensor, w: tf.Variable, v: tf.Variable, seen: { bytes: number }) {
  const probe = tf.customGrad((input, save) => {
    (save as tf.GradSaveFunc)([]);
    return {
      value: tf.clone(input as tf.Tensor),
      gradFunc: (dy) => {
        seen.bytes = tf.memory().numBytes;
        return tf.clone(dy as tf.Tensor);
      },
    };
  });
  let h = probe(x) as tf.Tensor;
  for (let i = 0; i < 4; i++) {
    const a = tf.relu(tf.conv2d(h as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'));
    h = tf.add(tf.mul(a, a), h);
  }
  const [left, right] = tf.split(tf.reshape(h, [h.shape[0]!, -1]), 2, 1);
  return tf.sum(tf.add(tf.matMul(left!, v), tf.matMul(right!, v)));
}

describe('gradients', () => {
  it("gives tfjs's gradients, frees the pass's tensors as it goes, and leaves no tensor behind", () => {
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
    const w = tf.variable(tf.randomNormal([3, 3, 3, 3], 0, 0.2, 'float32', 2));
    const v = tf.variable(tf.randomNormal([96, 2], 0, 0.2, 'float32', 3));
    const dy = tf.scalar(0.5);
    const [theirs, ours] = [{ bytes: 0 }, { bytes: 0 }];
    const before = tf.memory().numTensors;
    const expected = tf.engine().gradients(() => lossOf(x, w, v, theirs), [x, w, v], dy, true);
    const got = gradients(() => lossOf(x, w, v, ours), [x, w, v], { dy });
    expect(got.value.arraySync()).toBe(expected.value.arraySync());
    got.grads.forEach((g, i) => {
      expect(g!.shape).toEqual(expected.grads[i]!.shape);
      expect(Array.from(g!.dataSync())).toEqual(Array.from(expected.grads[i]!.dataSync()));
    });
    // When the first node's gradient runs, tfjs still holds every saved tensor and gradient of the pass.
    expect(ours.bytes).toBeLessThan(theirs.bytes * 0.5);
    tf.dispose([expected.value, ...expected.grads, got.value, ...(got.grads as tf.Tensor[])]);
    expect(tf.memory().numTensors).toBe(before);
    // The caller's dy is the caller's.
    expect(dy.isDisposed).toBe(false);
    tf.dispose([x, w, v, dy]);
  });

  it('gives null for what the result does not depend on, and frees the tape when f throws', () => {
    const [a, b] = [tf.variable(tf.scalar(2)), tf.variable(tf.scalar(3))];
    const before = tf.memory().numTensors;
    const { value, grads } = gradients(() => tf.square(a), [a, b]);
    expect(grads[0]!.arraySync()).toBe(4);
    expect(grads[1]).toBeNull();
    tf.dispose([value, grads[0]!]);
    expect(() =>
      gradients(() => {
        tf.mul(a, b);
        throw new Error('the forward failed');
      }, [a]),
    ).toThrow('the forward failed');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('adds each gradient to a running sum it takes over (gradient accumulation), the same on a recording tape', () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const u = tf.variable(tf.scalar(5));
    const before = tf.memory().numTensors;
    const sums = [tf.tensor1d([10, 20, 30]), null];
    // d/dw sum(w^2) = 2w; u unused: its sum stays null.
    const { value, grads } = gradients(() => tf.sum(tf.square(w)), [w, u], { addTo: sums });
    expect(Array.from(grads[0]!.dataSync())).toEqual([12, 24, 36]);
    expect(grads[1]).toBeNull();
    expect(sums[0]!.isDisposed).toBe(true);
    tf.dispose([value, grads[0]!]);
    expect(tf.memory().numTensors).toBe(before);
    // Inside a gradient that is recording (a gradient of a gradient), tfjs's own pass does the work; the sum is the same.
    const outer = tf.grad((a: tf.Tensor) => {
      const sum = tf.mul(a, 0);
      const inner = gradients(() => tf.sum(tf.square(w)), [w], { addTo: [sum] });
      const total = tf.sum(inner.grads[0]!);
      return tf.add(total, tf.sum(a));
    });
    expect(outer(tf.tensor1d([1, 1, 1])).arraySync()).toEqual([1, 1, 1]);
    tf.dispose([w, u]);
  });
});
