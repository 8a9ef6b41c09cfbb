// Test helpers for the PyTorch golden files (tooling/pytorch): read them and turn NCHW activations into NHWC.
// Weights go through the packages' own loadStateDict, so the tests exercise the real conversion.
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';

export interface TorchTensor {
  shape: number[];
  data: number[];
}

export function readJson<T>(url: URL): T {
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

export function tensor(t: TorchTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape);
}

/** NCHW activations -> NHWC; other ranks unchanged. */
export function activation(t: TorchTensor): tf.Tensor {
  return tf.tidy(() => (t.shape.length === 4 ? tf.transpose(tensor(t), [0, 2, 3, 1]) : tensor(t)));
}

/** A PyTorch-layout state dict from its JSON form. */
export function stateFromJson(state: Record<string, TorchTensor>): Map<string, tf.Tensor> {
  return new Map(Object.entries(state).map(([name, t]) => [name, tensor(t)]));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shape [${a.shape}] differs from [${b.shape}]`);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}
