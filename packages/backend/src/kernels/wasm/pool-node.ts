/** convnets' wasm kernel pool on node:worker_threads (the package's `browser` field swaps in `pool-browser`). */
import { Worker } from 'node:worker_threads';
import { controlPool, WORKER_LOOP, workerData, type Pool, type PoolOptions } from './pool.js';

const WORKER = `
const { parentPort, workerData: data } = require('node:worker_threads');
const ready = () => parentPort.postMessage('ready');
${WORKER_LOOP}
`;

export async function startPool(options: PoolOptions): Promise<Pool | null> {
  const workers = workerData(options).map((data) => new Worker(WORKER, { eval: true, workerData: data }));
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
    ),
  );
  // They wait forever for work; they must never keep the process alive.
  for (const w of workers) w.unref();
  return controlPool(options.memory, options.control, workers.length);
}
