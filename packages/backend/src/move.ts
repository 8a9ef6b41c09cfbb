/**
 * Moving tensors between backends with asynchronous reads. tfjs moves a tensor by itself when an op on another
 * backend uses it, but through the source backend's synchronous read, which webgpu cannot do in Node and which
 * stalls a page on webgl. Move what you keep (a model's state, an optimizer's) before switching backends.
 */
import * as tf from '@tensorflow/tfjs-core';

type DataId = object;
interface TensorRecord {
  backend: tf.KernelBackend;
  shape: number[];
  dtype: tf.DataType;
}
/** tfjs-core's per-tensor bookkeeping (what its own moveData uses): which backend holds each tensor's data. */
const records = () => (tf.engine().state as unknown as { tensorInfo: WeakMap<DataId, TensorRecord> }).tensorInfo;

/**
 * Moves `tensors` onto the backend called `backendName` (started before, e.g. by initBackend), reading each from
 * where it is now with `await data()`. Tensors already there stay; the tensors themselves stay valid (same ids,
 * same values), so a model's parameters need no reloading.
 */
export async function moveTensors(tensors: Iterable<tf.Tensor>, backendName: string): Promise<void> {
  const target = tf.findBackend(backendName);
  if (!target) throw new Error(`moveTensors: backend '${backendName}' has not been started (initBackend it first)`);
  for (const tensor of tensors) {
    const record = records().get(tensor.dataId);
    if (!record) throw new Error(`moveTensors: a tensor of shape [${tensor.shape}] has been disposed`);
    if (record.backend === target) continue;
    const source = record.backend;
    const values = await source.read(tensor.dataId);
    // Another tensor sharing this data may have been moved while we waited.
    if (record.backend !== source) continue;
    const refCount = source.refCount(tensor.dataId);
    source.disposeData(tensor.dataId, true);
    record.backend = target;
    target.move(tensor.dataId, values, record.shape, record.dtype, refCount);
  }
}
