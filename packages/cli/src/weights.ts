/** Weights files into models, for every command that loads one. */
import { loadStateDict, type Module, StateDictError } from '@convnets/nn';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Loads `tensors` (read from `file`, and disposed here) into `model`; a file that does not fit fails naming the
 * file, the model and a summary (how many names matched, the first few that did not).
 */
export function loadWeights(model: Module, tensors: Map<string, tf.Tensor>, file: string, modelName: string): void {
  try {
    loadStateDict(model, tensors);
  } catch (err) {
    if (err instanceof StateDictError) throw new Error(`${file} does not fit ${modelName}: ${err.summary}`);
    throw err;
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
