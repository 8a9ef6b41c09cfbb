/**
 * convnets' wasm kernel pool on Web Workers (swapped in for `pool-node` by the package's `browser` field). Only a
 * cross-origin isolated page has tfjs's shared memory; elsewhere the runtime asks for no pool and runs one thread.
 */
import { controlPool, WORKER_LOOP, workerData, type Pool, type PoolOptions } from './pool.js';

const WORKER = `
onmessage = ({ data }) => {
  const ready = () => postMessage('ready');
  ${WORKER_LOOP}
};
`;

export async function startPool(options: PoolOptions): Promise<Pool | null> {
  const url = URL.createObjectURL(new Blob([WORKER], { type: 'text/javascript' }));
  try {
    const workers = workerData(options).map((data) => {
      const worker = new Worker(url, { name: `convnets-wasm-${data.index}` });
      worker.postMessage(data);
      return worker;
    });
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.onmessage = () => resolve();
            w.onerror = (e) => reject(new Error(`a convnets wasm worker failed to start: ${e.message}`));
          }),
      ),
    );
    return controlPool(options.memory, options.control, workers.length);
  } finally {
    URL.revokeObjectURL(url);
  }
}
