/**
 * A pool of workers that share tfjs-wasm's memory and run shares of convnets' wasm kernels, whatever makes the
 * threads (node:worker_threads in `pool-node`, Web Workers in `pool-browser`). A call is posted through a control
 * block in that memory: the caller bumps a generation counter and wakes the workers (Atomics.notify), runs share 0
 * itself, then waits until every worker has counted itself done.
 */
export interface PoolOptions {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte address of 64 free bytes in `memory` for the control block. */
  control: number;
  /** One stack top per worker, in `memory`. */
  stacks: number[];
  exports: readonly string[];
}

/** What each worker is given (a structured clone: the module and the shared memory travel as they are). */
export interface WorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: number;
  stack: number;
  index: number;
  exports: readonly string[];
}

export interface Pool {
  readonly workers: number;
  /** Runs export `fn` on every thread up to `threads` (this one runs `own`); throws what a worker threw. */
  run(fn: number, args: number, threads: number, own: () => void): void;
}

// Control block (int32 slots): generation, export index, args address, threads, done count, failures, a probe.
const [GENERATION, EXPORT, ARGS, THREADS, DONE, FAILED, PROBE] = [0, 1, 2, 3, 4, 5, 6];

/**
 * A worker's life (JavaScript source), run where `data` (a `WorkerData`) and `ready()` are defined: instantiate
 * the kernels on the shared memory with its own stack, say so, then take its share of every call.
 */
export const WORKER_LOOP = `
const { module, memory, control, stack, index, exports } = data;
const instance = new WebAssembly.Instance(module, { env: { memory } });
instance.exports.__stack_pointer.value = stack;
const fns = exports.map((name) => instance.exports[name]);
const slots = new Int32Array(memory.buffer, control, 16);
let generation = Atomics.load(slots, ${GENERATION});
ready();
for (;;) {
  Atomics.wait(slots, ${GENERATION}, generation);
  generation = Atomics.load(slots, ${GENERATION});
  if (index < slots[${THREADS}]) {
    try {
      fns[slots[${EXPORT}]](slots[${ARGS}], index, slots[${THREADS}]);
    } catch (err) {
      Atomics.add(slots, ${FAILED}, 1);
      console.error('convnets wasm worker ' + index + ': ' + ((err && err.stack) || err));
    }
    Atomics.add(slots, ${DONE}, 1);
    Atomics.notify(slots, ${DONE});
  }
}
`;

/** The data for each worker of a pool; clears the control block. */
export function workerData({ module, memory, control, stacks, exports }: PoolOptions): WorkerData[] {
  new Int32Array(memory.buffer, control, 16).fill(0);
  return stacks.map((stack, i) => ({ module, memory, control, stack, index: i + 1, exports }));
}

/**
 * The caller's side of a pool of `workers` started workers. It sleeps (Atomics.wait) while they finish where this
 * thread may block, and spins where it may not (a page's main thread: the shares are even, so the spin is short).
 */
export function controlPool(memory: WebAssembly.Memory, control: number, workers: number): Pool {
  const slots = new Int32Array(memory.buffer, control, 16);
  let canBlock = true;
  try {
    Atomics.wait(slots, PROBE, 1, 0);
  } catch {
    canBlock = false;
  }
  return {
    workers,
    run(fn, args, threads, own) {
      slots[EXPORT] = fn;
      slots[ARGS] = args;
      slots[THREADS] = threads;
      Atomics.store(slots, DONE, 0);
      Atomics.add(slots, GENERATION, 1);
      Atomics.notify(slots, GENERATION);
      own();
      for (let done = Atomics.load(slots, DONE); done < threads - 1; done = Atomics.load(slots, DONE)) {
        if (canBlock) Atomics.wait(slots, DONE, done);
      }
      if (Atomics.exchange(slots, FAILED, 0) > 0)
        throw new Error('a convnets wasm kernel failed on a worker thread (see the message above)');
    },
  };
}
