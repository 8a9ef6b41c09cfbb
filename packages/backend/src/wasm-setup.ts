/**
 * Starting tfjs's wasm backend the way convnets runs it: its thread pool (all cores for our kernels, one for XNNPACK),
 * convnets' wasm kernels, and — for `native` — the oneDNN addon attached in place on wasm's heap; with the details
 * and the one-line label that say what runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeKernels } from '@convnets/backend-native';
import { attachNativeKernels, loadWasmKernels, registerTrainingKernels } from './kernels/register.js';
import { wasmKernelsBuilt } from './kernels/wasm/runtime.js';
import type { BackendDetails, InitBackendOptions, Started } from './init.js';
import { start } from './start.js';
import { isNode } from './platform.js';

/**
 * The biggest tensor asked of malloc: wasm32 addresses 4 GB, and within a megabyte of that the allocator's own size
 * arithmetic (padding, alignment) wraps around and hands out a block that is not there.
 */
const LARGEST_REQUEST = 2 ** 32 - 2 ** 20;

interface WasmModule {
  _malloc(bytes: number): number;
  HEAPU8: Uint8Array;
  /** The threaded builds' memory (their HEAPU8 may lag a growth made by another thread). */
  wasmMemory?: WebAssembly.Memory;
}

/** A tensor wasm's heap (where `wasm`'s and `native`'s tensors live) cannot hold. */
export class WasmHeapError extends RangeError {
  override name = 'WasmHeapError';
}

/**
 * tfjs-wasm (4.22) takes whatever its malloc returns: 0 where the heap cannot grow to hold a tensor, and a block
 * that is not there for a size near 4 GB or more. It then writes the tensor at address 0 (or past the heap's end),
 * over the allocator's own state, and the next free spins forever on a lock that byte now holds: a step that outgrew
 * the heap hung instead of failing. Fails first, saying how much was asked and what the heap holds.
 */
function guardHeap(backend: { wasm: WasmModule }): void {
  const wasm = backend.wasm;
  if (Object.getOwnPropertyDescriptor(wasm, '_malloc')?.get) return;
  // Emscripten's stub replaces itself with the raw export on its first call: the guard stays in front of whichever.
  let malloc = wasm._malloc;
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  const guarded = (bytes: number) => {
    const at = bytes <= LARGEST_REQUEST ? malloc.call(wasm, bytes) >>> 0 : 0;
    const heap = (wasm.wasmMemory ?? wasm.HEAPU8).buffer.byteLength;
    if (bytes > 0 && (at === 0 || at + bytes > heap))
      throw new WasmHeapError(
        `wasm's heap cannot hold another tensor of ${mb(bytes)}: it has grown to ${mb(heap)} of ` +
          'the 4096 MB wasm32 addresses (the wasm and native backends keep their tensors there). A smaller batch, ' +
          'micro-batches or recomputed blocks (convnets train --batch-size, --micro-batch, --recompute) need less',
      );
    return at;
  };
  Object.defineProperty(wasm, '_malloc', {
    get: () => guarded,
    set: (raw: WasmModule['_malloc']) => {
      malloc = raw;
    },
    configurable: true,
  });
}

const threadCount = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;

/** Loads tfjs's wasm backend with its threads set up (before it first starts: then they are fixed). */
async function prepare(options: InitBackendOptions): Promise<BackendDetails> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths as string);
  // The package's `browser` field swaps the Node module for the browser's.
  const { defaultWasmThreads, installThreadedWasm, installedWasmThreads } = await import('./wasm-threads-node.js');
  const threads = options.threads ?? defaultWasmThreads();
  // XNNPACK gets one thread only where our kernels will take the others.
  const ours = wasmKernelsBuilt() && options.trainingKernels !== false;
  if (isNode) {
    if (threads > 1 && !tf.findBackend('wasm')) installThreadedWasm(threads, ours ? 1 : threads);
    return { threadedBuild: installedWasmThreads() > 1, kernelThreads: Math.max(1, installedWasmThreads()) };
  }
  // In a browser tfjs's own loader takes its threaded build (shared memory) on cross-origin isolated pages only.
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  if (isolated && !tf.findBackend('wasm')) wasm.setThreadsCount(ours ? 1 : threads);
  return { threadedBuild: isolated, crossOriginIsolated: isolated, kernelThreads: isolated ? threads : 1 };
}

/**
 * Starts wasm with convnets' kernels; with `native` (the addon, loaded once by the caller) its oneDNN kernels run
 * the hot path. Plain wasm detaches an addon a native run attached.
 */
export async function startWasm(options: InitBackendOptions, native: NativeKernels | null): Promise<Started> {
  const { kernelThreads, ...prepared } = await prepare(options);
  await start('wasm');
  guardHeap(tf.backend() as unknown as { wasm: WasmModule });
  const trainingKernels = options.trainingKernels === false ? [] : registerTrainingKernels('wasm');
  const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
  const details: BackendDetails = {
    ...prepared,
    simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    xnnpackThreads: getThreadsCount(),
  };
  const own = trainingKernels.length
    ? await loadWasmKernels(Number(kernelThreads) || getThreadsCount() || 1)
    : { missing: 'training kernels off' };
  details.threads = 'missing' in own ? getThreadsCount() : own.threads;
  // A page that could use more cores says why it does not.
  const why = details.crossOriginIsolated === false ? 'the page is not cross-origin isolated' : '';
  details.convnetsKernels =
    'missing' in own
      ? `not loaded: ${own.missing}`
      : `convnets wasm SIMD, ${threadCount(own.threads)}${why && ` (${why})`}`;
  let label = `wasm (SIMD ${details.simd ? 'on' : 'off'}, ${threadCount(Number(details.threads))}${why && `: ${why}`})`;
  const attached = 'missing' in own ? null : attachNativeKernels(native);
  if (native && !attached)
    throw new Error(
      `convnets' wasm kernels are needed under the native ones: ${'missing' in own ? own.missing : 'not loaded'}`,
    );
  if (attached) {
    details.nativeKernels = `oneDNN ${attached.version} (${attached.runtime}): ${attached.kernels.join(', ')}`;
    label += ` + oneDNN ${attached.version} native kernels`;
  }
  return { details, label, trainingKernels };
}
