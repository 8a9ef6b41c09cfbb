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
