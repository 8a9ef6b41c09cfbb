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
import { registerTrainingKernels, type TrainingKernel } from './kernels/register.js';
import { describeImportFailure, importOptional } from './optional.js';
import { start } from './start.js';
import { startWasm } from './wasm-setup.js';
import { probeAdapter } from './gpu-node.js';
import {
  NO_ADAPTER,
  describeAdapter,
  prepareWebgpu,
  selfCheck,
  watchWebgpuDevice,
  type WebgpuAdapter,
} from './webgpu.js';
import { isNode } from './platform.js';

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

export type BackendDetails = Record<string, string | number | boolean>;

/** What starting one backend gives: its details, its one-line label, the training kernels registered on it. */
export type Started = Pick<BackendInfo, 'details' | 'label' | 'trainingKernels'>;

export interface BackendInfo {
  /** The tfjs backend now running: 'tensorflow', 'wasm', 'cpu', 'webgl' or 'webgpu' ('native' runs on 'wasm'). */
  backend: string;
  /** Which of initBackend's names runs: as `backend`, except 'native' (tfjs's wasm with the oneDNN kernels). */
  name: BackendName;
  /** One line for people: the backend and what runs its kernels, e.g. "wasm (SIMD on, 2 threads) + oneDNN 2.6.3 native kernels". */
  label: string;
  requested: BackendRequest;
  /**
   * Better backends that were tried or passed over, and why; `output`: what a probe printed meanwhile (Dawn's and
   * Vulkan's messages), captured instead of reaching stderr.
   */
  skipped: Array<{ backend: string; reason: string; output?: string }>;
  /** What the backend reports about itself (wasm SIMD/threads, the package that provided tensorflow, ...). */
  details: BackendDetails;
  /** Kernels convnets registered for training on this backend. */
  trainingKernels: TrainingKernel[];
}

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

/** The oneDNN addon's kernels, loaded once per start, or why they cannot run here. */
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

/** A backend that runs tfjs's own kernels, with convnets' training kernels registered where there are any. */
async function plain(name: 'tensorflow' | 'cpu' | 'webgl' | 'webgpu', options: InitBackendOptions, details = {}) {
  await start(name);
  const trainingKernels = options.trainingKernels === false ? [] : registerTrainingKernels(name);
  return { details, label: name as string, trainingKernels };
}

type Starter = (options: InitBackendOptions, auto: boolean) => Promise<Started>;

/** Why a backend was passed over, with what its probe printed (captured, so that it is shown only when asked). */
class SkipError extends Error {
  constructor(
    message: string,
    readonly output = '',
  ) {
    super(message);
  }
}

/** A software adapter computes right but slowly: 'auto' takes it for nothing; asked for by name, it runs. */
function passOverSoftware(adapter: WebgpuAdapter, output?: string): void {
  if (!adapter.software) return;
  throw new SkipError(
    `the only adapter is software (${adapter.name}): slower than ${isNode ? 'native' : 'webgl'} ` +
      "(ask for 'webgpu' by name to run on it anyway)",
    output,
  );
}

/** How each backend starts; a throw says why it cannot run here. */
const STARTERS: Record<BackendName, Starter> = {
  async tensorflow(options) {
    if (!isNode) throw new Error('tfjs-node runs only in Node');
    const reasons: string[] = [];
    for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      try {
        await importOptional(pkg);
        return plain('tensorflow', options, { package: pkg });
      } catch (err) {
        reasons.push(describeImportFailure(pkg, err));
      }
    }
    throw new Error(reasons.join('; '));
  },
  async webgpu(options, auto) {
    // 'auto' in Node first asks Dawn in a child process (or not at all where no GPU can be): Dawn's and Vulkan's
    // messages then reach nobody's terminal unless webgpu is asked for by name.
    if (auto && isNode) {
      const probe = await probeAdapter();
      if (!probe.adapter) throw new SkipError(probe.reason ?? NO_ADAPTER, probe.output);
      passOverSoftware(describeAdapter(probe.adapter), probe.output);
    }
    const adapter = await prepareWebgpu();
    if (auto) passOverSoftware(adapter);
    const started = await plain('webgpu', options, { adapter: adapter.name, softwareAdapter: adapter.software });
    watchWebgpuDevice();
    // 'auto' trusts a GPU only once it has computed a known answer (drivers and browsers have had bugs here).
    const wrong = auto ? await selfCheck() : undefined;
    if (wrong) throw new Error(`it started but ${wrong}`);
    return { ...started, label: `webgpu (${adapter.name}${adapter.software ? ', software' : ''})` };
  },
  async native(options) {
    const native = await loadNative(options);
    if ('missing' in native) throw new Error(native.missing);
    return startWasm(options, native.kernels);
  },
  wasm: (options) => startWasm(options, null),
  async webgl(options) {
    if (isNode) throw new Error('WebGL needs a browser');
    await import('@tensorflow/tfjs-backend-webgl');
    const started = await plain('webgl', options);
    const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    started.details = {
      webglVersion: tf.env().getNumber('WEBGL_VERSION'),
      renderer: gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'unknown',
    };
    return started;
  },
  async cpu(options) {
    await import('@tensorflow/tfjs-backend-cpu');
    return plain('cpu', options);
  },
};

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
      const started = await STARTERS[name](options, request === 'auto');
      return { backend: tf.getBackend(), name, requested: request, skipped, ...started };
    } catch (err) {
      if (name === 'native' && process.env.CONVNETS_NATIVE_REQUIRED === '1') throw err;
      const output = err instanceof SkipError && err.output ? { output: err.output } : {};
      skipped.push({ backend: name, reason: err instanceof Error ? err.message : String(err), ...output });
    }
  }
  const reasons = skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
  throw new BackendUnavailableError(`Backend '${request}' is not available here. ${reasons}`, skipped);
}
