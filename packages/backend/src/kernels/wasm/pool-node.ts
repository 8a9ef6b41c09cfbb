/**
 * Worker threads that share tfjs-wasm's memory and run shares of convnets' wasm kernels (Node). A call
 * is posted through a control block in that memory: the caller bumps a generation counter and wakes the
 * workers (Atomics.notify), runs share 0 itself, then waits until every worker has counted itself done.
 */
import { Worker } from 'node:worker_threads';

export interface PoolOptions {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte address of 64 free bytes in `memory` for the control block. */
  control: number;
  /** One stack top per worker, in `memory`. */
  stacks: number[];
  exports: readonly string[];
}

export interface Pool {
  readonly workers: number;
  /** Runs export `fn` on every thread up to `threads` (this one runs `own`); throws what a worker threw. */
  run(fn: number, args: number, threads: number, own: () => void): void;
}

// Control block (int32 slots): generation, export index, args address, threads, done count, failures.
const [GENERATION, EXPORT, ARGS, THREADS, DONE, FAILED] = [0, 1, 2, 3, 4, 5];

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, stack, index, exports } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
instance.exports.__stack_pointer.value = stack;
const fns = exports.map((name) => instance.exports[name]);
const slots = new Int32Array(memory.buffer, control, 16);
let generation = Atomics.load(slots, ${GENERATION});
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(slots, ${GENERATION}, generation);
  generation = Atomics.load(slots, ${GENERATION});
  if (index < slots[${THREADS}]) {
    try {
      fns[slots[${EXPORT}]](slots[${ARGS}], index, slots[${THREADS}]);
    } catch (err) {
      Atomics.add(slots, ${FAILED}, 1);
      console.error('convnets wasm worker ' + index + ': ' + (err && err.stack || err));
    }
    Atomics.add(slots, ${DONE}, 1);
    Atomics.notify(slots, ${DONE});
  }
}
`;

export async function startPool({ module, memory, control, stacks, exports }: PoolOptions): Promise<Pool | null> {
  const slots = new Int32Array(memory.buffer, control, 16);
  slots.fill(0);
  const workers = stacks.map(
    (stack, i) =>
      new Worker(WORKER, { eval: true, workerData: { module, memory, control, stack, index: i + 1, exports } }),
  );
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
  return {
    workers: workers.length,
    run(fn, args, threads, own) {
      slots[EXPORT] = fn;
      slots[ARGS] = args;
      slots[THREADS] = threads;
      Atomics.store(slots, DONE, 0);
      Atomics.add(slots, GENERATION, 1);
      Atomics.notify(slots, GENERATION);
      own();
      for (let done = Atomics.load(slots, DONE); done < threads - 1; done = Atomics.load(slots, DONE)) {
        Atomics.wait(slots, DONE, done);
      }
      if (Atomics.exchange(slots, FAILED, 0) > 0)
        throw new Error('a convnets wasm kernel failed on a worker thread (see the message above)');
    },
  };
}
