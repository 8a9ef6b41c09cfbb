/** Loads the weights formula of tooling/pytorch/formula.py into a net (what the PyTorch fixtures were made with). */
import * as tf from '@tensorflow/tfjs-core';
import { loadStateDict, stateDict, type Module } from '@convnets/nn';
import { formulaTensor } from '@convnets/tooling/fixtures';

export function loadFormulaWeights(model: Module): void {
  const template = stateDict(model);
  const weights = new Map(
    [...template].map(([name, t], k) => {
      const value =
        t.dtype === 'int32' ? tf.zeros(t.shape, 'int32') : tf.tensor(formulaTensor(name, t.shape, k), t.shape);
      return [name, value] as const;
    }),
  );
  loadStateDict(model, weights);
  tf.dispose([...template.values(), ...weights.values()]);
}
