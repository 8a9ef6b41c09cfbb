/**
 * Picks and starts a tfjs backend. `auto` takes the fastest that works here — in Node tfjs-node-gpu, tfjs-node,
 * webgpu (a hardware adapter through Dawn), native, wasm, cpu; in a browser webgpu (a hardware adapter that passes a
 * self-check), webgl, wasm, cpu — and says why it skipped the others. Backends are imported on demand, so an app
 * only loads the one it runs.
 * `native` is tfjs's wasm backend with the training hot path (convolutions, matmuls, batch norm) run by
 * the optional oneDNN addon, @convnets/backend-native, in place on wasm's heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeLoad } from '@convnets/backend-native';
import {
  attachNativeKernels,
  loadWasmKernels,
  registerTrainingKernels,
  type TrainingKernel,
} from './kernels/register.js';
import { wasmKernelsBuilt } from './kernels/wasm/runtime.js';
import { describeImportFailure, importOptional } from './optional.js';
import { prepareWebgpu, selfCheck, watchWebgpuDevice } from './webgpu.js';

export type BackendName = 'tensorflow' | 'native' | 'wasm' | 'cpu' | 'webgl' | 'webgpu';
export type BackendRequest = BackendName | 'auto';

export const BACKEND_NAMES: readonly BackendRequest[] = [
  'auto',
  'tensorflow',
  'native',
  'wasm',
  'cpu',
  'webgl',
  'webgpu',
];

export interface InitBackendOptions {
  /** Where the wasm binaries are served from (browsers; Node finds them in node_modules). */
  wasmPaths?: string | Record<string, string>;
  /**
   * Threads for wasm in Node (default: all cores; 1 keeps tfjs's single-threaded build). convnets' own
   * kernels use them all; XNNPACK (tfjs's, for the rest) then runs on one, since its pool thread, spinning
   * between its small ops, slowed our kernels' second thread (~8-10% of a training step, measured).
   */
  threads?: number;
  /** Register the convnets training kernels (default true; `native` needs them). */
  trainingKernels?: boolean;
}

export interface BackendInfo {
  /** The tfjs backend now running: 'tensorflow', 'wasm', 'cpu', 'webgl' or 'webgpu' ('native' runs on 'wasm'). */
  backend: string;
  /** Which of initBackend's names runs: as `backend`, except 'native' (tfjs's wasm with the oneDNN kernels). */
  name: BackendName;
  /** One line for people: the backend and what runs its kernels, e.g. "wasm (SIMD on, 2 threads) + oneDNN 2.6.3 native kernels". */
  label: string;
  requested: BackendRequest;
  /** Better backends that were tried or passed over, and why. */
  skipped: Array<{ backend: string; reason: string }>;
  /** What the backend reports about itself (wasm SIMD/threads, the package that provided tensorflow, ...). */
  details: Record<string, string | number | boolean>;
  /** Kernels convnets registered for training on this backend. */
  trainingKernels: TrainingKernel[];
}

const isNode = typeof process !== 'undefined' && process.versions?.node != null && typeof window === 'undefined';

function order(request: BackendRequest): BackendName[] {
  if (request !== 'auto') return [request];
  return isNode ? ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
}

/** Thrown when the requested backend (or, for 'auto', every candidate) cannot start. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
  constructor(
    message: string,
    readonly skipped: BackendInfo['skipped'],
  ) {
    super(message);
  }
}

/** The oneDNN addon, or why it cannot run here. */
async function loadNative(options: InitBackendOptions): Promise<NativeLoad> {
  if (!isNode) return { missing: 'native kernels run only in Node' };
  if (options.trainingKernels === false) return { missing: 'they replace training kernels, which were turned off' };
  try {
    const { loadNativeKernels } = (await importOptional(
      '@convnets/backend-native',
    )) as typeof import('@convnets/backend-native');
    return loadNativeKernels({ threads: options.threads });
  } catch (err) {
    if (process.env.CONVNETS_NATIVE_REQUIRED === '1') throw err;
    return { missing: describeImportFailure('@convnets/backend-native', err) };
  }
}

/** Loads a backend's package; returns details, or throws with the reason it is unavailable. */
async function load(
  name: BackendName,
  options: InitBackendOptions,
  auto = false,
): Promise<Record<string, string | number | boolean>> {
  switch (name) {
    case 'native': {
      const native = await loadNative(options);
      if ('missing' in native) throw new Error(native.missing);
      return load('wasm', options);
    }
    case 'tensorflow': {
      if (!isNode) throw new Error('tfjs-node runs only in Node');
      const reasons: string[] = [];
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
        try {
          await importOptional(pkg);
          return { package: pkg };
        } catch (err) {
          reasons.push(describeImportFailure(pkg, err));
        }
      }
      throw new Error(reasons.join('; '));
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths as string);
      // The package's `browser` field swaps the Node module for the browser's.
      const { defaultWasmThreads, installThreadedWasm, installedWasmThreads } = await import('./wasm-threads-node.js');
      const threads = options.threads ?? defaultWasmThreads();
      // XNNPACK gets one thread only where our kernels will take the others.
      const ours = wasmKernelsBuilt() && options.trainingKernels !== false;
      if (isNode) {
        // Once a wasm backend runs, its thread count is fixed for the process.
        if (threads > 1 && !tf.findBackend('wasm')) installThreadedWasm(threads, ours ? 1 : threads);
        return { threadedBuild: installedWasmThreads() > 1, kernelThreads: Math.max(1, installedWasmThreads()) };
      }
      // In a browser tfjs's own loader takes its threaded build (shared memory) on cross-origin isolated pages only.
      const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
      if (isolated && !tf.findBackend('wasm')) wasm.setThreadsCount(ours ? 1 : threads);
      return { threadedBuild: isolated, crossOriginIsolated: isolated, kernelThreads: isolated ? threads : 1 };
    }
    case 'webgl':
      if (isNode) throw new Error('WebGL needs a browser');
      await import('@tensorflow/tfjs-backend-webgl');
      return {};
    case 'webgpu': {
      const adapter = await prepareWebgpu();
      // A software adapter computes right but slowly: 'auto' takes it for nothing; asked for by name, it runs.
      if (auto && adapter.software)
        throw new Error(
          `the only adapter is software (${adapter.name}): slower than ${isNode ? 'native' : 'webgl'} ` +
            "(ask for 'webgpu' by name to run on it anyway)",
        );
      return { adapter: adapter.name, softwareAdapter: adapter.software };
    }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return {};
  }
}

async function start(name: Exclude<BackendName, 'native'>): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    throw new Error(`tfjs could not start it: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!ok) throw new Error('tfjs could not start it (tf.setBackend returned false)');
  await tf.ready();
}

async function describe(name: string): Promise<Record<string, string | number | boolean>> {
  if (name === 'wasm') {
    const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
    return {
      simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
      xnnpackThreads: getThreadsCount(),
    };
  }
  if (name === 'webgl') {
    const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    return {
      webglVersion: tf.env().getNumber('WEBGL_VERSION'),
      renderer: gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'unknown',
    };
  }
  return {};
}

/**
 * Starts the requested backend (or the best available for 'auto'), registers gradients and the
 * convnets training kernels, and reports what runs and why the better ones were skipped.
 */
export async function initBackend(
  request: BackendRequest = 'auto',
  options: InitBackendOptions = {},
): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(request)) {
    throw new RangeError(`Unknown backend '${request}'. Expected one of: ${BACKEND_NAMES.join(', ')}`);
  }
  await import('./gradients.js');
  const skipped: BackendInfo['skipped'] = [];
  for (const name of order(request)) {
    try {
      const loaded = await load(name, options, request === 'auto');
      const tfName = name === 'native' ? 'wasm' : name;
      await start(tfName);
      if (tfName === 'webgpu') {
        watchWebgpuDevice();
        // 'auto' trusts a GPU only once it has computed a known answer (drivers and browsers have had bugs here).
        const wrong = request === 'auto' ? await selfCheck() : undefined;
        if (wrong) throw new Error(`it started but ${wrong}`);
      }
      const trainingKernels = options.trainingKernels === false ? [] : registerTrainingKernels(tfName);
      const { kernelThreads, ...details } = { ...loaded, ...(await describe(tfName)) };
      let label: string = tfName;
      if (tfName === 'wasm') {
        const threads = Number(kernelThreads ?? details.xnnpackThreads) || 1;
        const own = trainingKernels.length ? await loadWasmKernels(threads) : { missing: 'training kernels off' };
        details.threads = 'missing' in own ? Number(details.xnnpackThreads) : own.threads;
        // A page that could use more cores says why it does not.
        const why = details.crossOriginIsolated === false ? 'the page is not cross-origin isolated' : '';
        const threadCount = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;
        details.convnetsKernels =
          'missing' in own
            ? `not loaded: ${own.missing}`
            : `convnets wasm SIMD, ${threadCount(own.threads)}${why && ` (${why})`}`;
        const simd = details.simd ? 'on' : 'off';
        label = `wasm (SIMD ${simd}, ${threadCount(Number(details.threads))}${why && `: ${why}`})`;
        // `native` needs the wasm kernels' heap access; plain `wasm` detaches the addon if a native run attached it.
        const native = name === 'native' ? await loadNative(options) : null;
        const attached =
          native && 'kernels' in native && !('missing' in own) ? attachNativeKernels(native.kernels) : null;
        if (name === 'native' && !attached)
          throw new Error(
            `convnets' wasm kernels are needed under the native ones: ${'missing' in own ? own.missing : 'not loaded'}`,
          );
        if (name === 'wasm') attachNativeKernels(null);
        if (attached) {
          details.nativeKernels = `oneDNN ${attached.version} (${attached.runtime}): ${attached.kernels.join(', ')}`;
          label += ` + oneDNN ${attached.version} native kernels`;
        }
      }
      if (tfName === 'webgpu') label = `webgpu (${details.adapter}${details.softwareAdapter ? ', software' : ''})`;
      return { backend: tf.getBackend(), name, label, requested: request, skipped, details, trainingKernels };
    } catch (err) {
      if (name === 'native' && process.env.CONVNETS_NATIVE_REQUIRED === '1') throw err;
      skipped.push({ backend: name, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  const reasons = skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
  throw new BackendUnavailableError(`Backend '${request}' is not available here. ${reasons}`, skipped);
}
