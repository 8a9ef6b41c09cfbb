/**
 * Multi-threaded wasm in Node. tfjs-backend-wasm 4.22 turns threads off under Node (its loader hands
 * the pthread workers blob: URLs, which node:worker_threads cannot load). The emscripten module itself
 * supports Node workers, so this builds it directly: the worker script is written to a temporary file,
 * the main script is the package's own file, and the module goes into tfjs's own BackendWasm.
 * Used only in Node; browsers keep tfjs's loader (threads there need cross-origin isolation).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

interface EmscriptenModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  tfjs?: Record<string, (...args: number[]) => number>;
  PThread: { runningWorkers: Array<{ unref(): void }> };
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

let installedThreads = 0;

/** The threads the installed backend was built for (0 if not installed). */
export function installedWasmThreads(): number {
  return installedThreads;
}

/**
 * Replaces tfjs's 'wasm' backend factory by tfjs's threaded build (its memory shared, so `threads` threads
 * can work on it), with XNNPACK's own pool on `xnnpackThreads` of them. Call before the backend is first
 * started; later calls with the same count do nothing.
 */
export function installThreadedWasm(threads: number, xnnpackThreads = threads): void {
  if (installedThreads === threads) return;
  if (installedThreads !== 0 || tf.findBackend('wasm')) {
    throw new Error('wasm threads must be set up before the wasm backend first starts');
  }
  const root = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const wasmPkg = require('@tensorflow/tfjs-backend-wasm') as {
    BackendWasm: new (module: EmscriptenModule) => tf.KernelBackend;
    setThreadsCount(n: number): void;
  };
  const factory = require(path.join(root, 'wasm-out/tfjs-backend-wasm-threaded-simd.js')) as Factory;
  const { wasmWorkerContents } = require(path.join(root, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };

  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'convnets-wasm-'));
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      const workerFile = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');
      // The contents are a JS string whose string literals hold raw newlines: escape them, as tfjs does.
      writeFileSync(workerFile, wasmWorkerContents.replace(/\n/g, '\\n'));
      // XNNPACK sizes its pool as half the logical cores (it assumes two hyperthreads per core); report
      // twice the real count while the module and backend start, so its count is honoured, then restore.
      const cpus = os.cpus;
      os.cpus = () => [...cpus(), ...cpus()];
      try {
        const module = await factory({
          locateFile: (file: string) =>
            file.endsWith('.worker.js')
              ? workerFile
              : file.endsWith('.wasm')
                ? path.join(root, 'dist', file)
                : path.join(root, 'wasm-out', file),
          mainScriptUrlOrBlob: path.join(root, 'wasm-out/tfjs-backend-wasm-threaded-simd.js'),
        });
        module.tfjs = {
          init: module.cwrap('init', null, []),
          initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
          getThreadsCount: module.cwrap('get_threads_count', 'number', []),
          registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
          disposeData: module.cwrap('dispose_data', null, ['number']),
          dispose: module.cwrap('dispose', null, []),
        };
        wasmPkg.setThreadsCount(xnnpackThreads);
        const backend = new wasmPkg.BackendWasm(module);
        // XNNPACK's pool threads wait forever; unref them so they never keep the process alive.
        for (const worker of module.PThread.runningWorkers) worker.unref();
        return backend;
      } finally {
        os.cpus = cpus;
      }
    },
    2,
  );
  installedThreads = threads;
}

/** Threads to use by default: every core. */
export function defaultWasmThreads(): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}
