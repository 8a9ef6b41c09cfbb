import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { freeze, Linear, Sequential, StateDictError, stateDict } from '@convnets/nn';
import { SMALL_NETS, expectSameValues } from '@convnets/tooling/fixtures';
import { describe, expect, it } from 'vitest';
import { createModel, featurePaths, headPath, netFromStateDict, replaceHead } from './registry.js';

describe('replaceHead, featurePaths, headPath', () => {
  it.each(SMALL_NETS)(
    '%s: a new head for 7 classes gives 7 scores; the features are the same tensors; freezing them trains the classifier only',
    (name, size) => {
      const net = createModel(name, { inputSize: size, inChannels: 3, numClasses: 10 });
      const features = featurePaths(net);
      const paramsUnder = (paths: string[]) =>
        paths.flatMap((p) => [...net.namedParameters()].filter(([n]) => n.startsWith(`${p}.`)).map(([, v]) => v));
      const kept = paramsUnder(features);
      const before = tf.memory().numTensors;
      const oldHead = paramsUnder([headPath(net)]);
      const head = replaceHead(net, 7, { seed: 3 });
      expect(tf.memory().numTensors).toBe(before + head.parameters().length - oldHead.length);
      const y = tf.tidy(() => net.eval().forward(tf.ones([2, size, size, 3])));
      expect(y.shape).toEqual([2, 7]);
      y.dispose();
      expect(net.inferShape([1, size, size, 3])).toEqual([1, 7]);
      expect(paramsUnder(features)).toEqual(kept); // the very same variables
      freeze(net, features);
      const classifier = [...net.namedChildren()].slice(features.length).reduce((n, [, m]) => n + m.numParameters(), 0);
      expect(net.numParameters('trainable')).toBe(classifier);
      expect(net.numParameters('frozen')).toBe(net.numParameters() - classifier);
      net.dispose();
    },
  );

  it('the new head is seeded (the same seed, the same weights) and trainable; other nets and bad counts are refused', () => {
    const a = createModel('resnet18', { inputSize: 32, numClasses: 10 });
    const b = createModel('resnet18', { inputSize: 32, numClasses: 10 });
    freeze(a);
    const [wa, wb] = [replaceHead(a, 4, { seed: 9 }), replaceHead(b, 4, { seed: 9 })].map((h) => h.parameters()[0]!);
    expectSameValues(wa!.dataSync() as Float32Array, wb!.dataSync() as Float32Array);
    expect(a.trainableParameters()).toEqual(a['7'].parameters());
    expect(() => replaceHead(a, 0)).toThrow('replaceHead: numClasses must be a positive integer, got 0');
    expect(() => replaceHead(new Sequential(new Linear(2, 2)), 3)).toThrow(
      'replaceHead: the net was not made by createModel, so its head is not known',
    );
    a.dispose();
    b.dispose();
  });
});

describe('netFromStateDict', () => {
  it("builds the net a state dict fits (its classes from the head's rows) with the same weights; refuses one that does not fit", () => {
    const source = createModel('torchvision/resnet18', { inputSize: 32, numClasses: 7, seed: 4 });
    const dict = stateDict(source);
    const before = tf.memory().numTensors;
    const net = netFromStateDict('torchvision/resnet18', dict, { inputSize: 32 });
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1);
    const [ys, yn] = [source, net].map((m) => tf.tidy(() => m.eval().forward(x)));
    expect(yn!.shape).toEqual([2, 7]);
    expectSameValues(ys!.dataSync() as Float32Array, yn!.dataSync() as Float32Array);
    tf.dispose([x, ys!, yn!]);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before); // the dict's tensors stay the caller's, nothing else is left
    const fc = dict.get('fc.weight')!;
    dict.delete('fc.weight');
    expect(() => netFromStateDict('torchvision/resnet18', dict)).toThrow(
      'torchvision/resnet18: the weights have no fc.weight, so the number of classes is not known',
    );
    expect(() => netFromStateDict('torchvision/resnet18', dict, { numClasses: 7 })).toThrow(StateDictError);
    expect(tf.memory().numTensors).toBe(before); // a failed build leaves nothing behind
    tf.dispose([fc, ...dict.values()]);
    source.dispose();
  });
});
