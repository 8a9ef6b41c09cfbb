/** The page's self-check: the same weights give the same logits on the running backend as on tfjs's cpu. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // the reference
import type { Module } from '@convnets/nn';

/** Max |logits(current backend) - logits(cpu)| of `model` for a fixed input of `shape` [n, h, w, c]. */
export async function compareWithCpu(model: Module, shape: [number, number, number, number]): Promise<number> {
  const current = tf.getBackend();
  const input = () =>
    tf.tensor4d(
      Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37)),
      shape,
    );
  const logitsOn = async (backend: string) => {
    await tf.setBackend(backend);
    model.eval();
    const logits = tf.tidy(() => model.forward(input()));
    const values = await logits.data();
    logits.dispose();
    return values;
  };
  const here = await logitsOn(current);
  const cpu = await logitsOn('cpu');
  await tf.setBackend(current);
  return Math.max(...here.map((v, i) => Math.abs(v - cpu[i]!)));
}
