import * as tf from '@tensorflow/tfjs-core';

/** Makes `name` tfjs's running backend (its package already imported), or throws saying why not. */
export async function start(name: 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu'): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    throw new Error(`tfjs could not start it: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!ok) throw new Error('tfjs could not start it (tf.setBackend returned false)');
  await tf.ready();
}
