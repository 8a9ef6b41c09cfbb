/**
 * WebGPU for tfjs, in browsers and in Node (Dawn, through `gpu-node`): finds the adapter and says what is missing
 * when there is none, tells a hardware adapter from a software one, checks the backend computes right, and watches
 * for a lost device.
 */
import * as tf from '@tensorflow/tfjs-core';
import { platformGpu } from './gpu-node.js';
import { describeImportFailure, importOptional } from './optional.js';
import { isNode } from './platform.js';

/** The part of WebGPU's adapter that convnets reads. */
export interface Adapter {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  requestDevice(descriptor?: { requiredFeatures?: Iterable<unknown> }): Promise<unknown>;
}
export interface Gpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<Adapter | null>;
}
interface Device {
  lost: Promise<{ reason?: string; message: string }>;
}

export interface WebgpuAdapter {
  /** What the adapter calls itself, e.g. "SwiftShader driver 5.0.0 (google swiftshader)". */
  name: string;
  /** A CPU implementation of WebGPU (SwiftShader, lavapipe/llvmpipe, WARP): correct, but slower than `native`. */
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|warp/i;
/** What an adapter calls itself, and whether it is software. */
export function describeAdapter(adapter: Adapter): WebgpuAdapter {
  const info = adapter.info ?? {};
  // Browsers may leave description and device empty (privacy); vendor and architecture are then the name.
  const words = [info.vendor, info.architecture].filter(Boolean).join(' ');
  const own = info.description || info.device;
  const name = own ? `${own}${words && ` (${words})`}` : words || 'an unnamed adapter';
  const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  const software = fallback || SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
  return { name, software };
}

/** Where WebGPU gives no adapter: how to get one. */
export const NO_ADAPTER = `WebGPU gives no adapter here (${
  isNode
    ? 'Dawn found no GPU with a Vulkan, Metal or D3D12 driver: install the GPU vendor driver (on Linux its Vulkan ' +
      'ICD, e.g. mesa-vulkan-drivers or the NVIDIA driver), or point VK_ICD_FILENAMES at one'
    : 'no GPU, or the browser blocks it (chrome://gpu tells why)'
})`;

/** The adapter WebGPU gives here (Dawn's in Node), or throws saying exactly what is missing. */
export async function findWebgpuAdapter(): Promise<WebgpuAdapter> {
  const gpu = await platformGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) throw new Error(NO_ADAPTER);
  return describeAdapter(adapter);
}

/**
 * Makes tfjs-backend-webgpu ready to start and returns the adapter it will get, or throws saying exactly what is
 * missing: the `webgpu` package (Node), navigator.gpu (browsers), an adapter, or tfjs-backend-webgpu itself.
 */
export async function prepareWebgpu(): Promise<WebgpuAdapter> {
  const adapter = await findWebgpuAdapter();
  if (lost) forgetLostBackend();
  // An app that imported @tensorflow/tfjs-backend-webgpu (its bundler resolved it) has registered it already.
  if (!tf.findBackendFactory('webgpu')) {
    await importOptional('@tensorflow/tfjs-backend-webgpu').catch((err) => {
      throw new Error(describeImportFailure('@tensorflow/tfjs-backend-webgpu', err));
    });
    if (!tf.findBackendFactory('webgpu'))
      throw new Error(
        '@tensorflow/tfjs-backend-webgpu was imported before navigator.gpu existed, so it did not register',
      );
  }
  return adapter;
}

let lost: { reason: string; message: string } | undefined;
/** The device whose loss `lost` records: an older device's late loss (a removed backend's) is not this one's. */
let watched: Device | undefined;

/** After a device loss, the next start makes a new backend (and device) instead of reusing the dead one. */
function forgetLostBackend(): void {
  const engine = tf.engine() as unknown as {
    registry: Record<string, unknown>;
    registryFactory: Record<string, { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number }>;
  };
  const entry = engine.registryFactory.webgpu;
  if (engine.registry.webgpu && entry) {
    tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', entry.factory, entry.priority);
  }
  lost = undefined;
}

/** Records the running webgpu backend's device loss, so that a failed read can say what happened. */
export function watchWebgpuDevice(): void {
  lost = undefined;
  const device = (tf.backend() as unknown as { device?: Device }).device;
  if (!device || device === watched) return;
  watched = device;
  device.lost.then((info) => {
    if (device === watched) lost = { reason: info.reason ?? 'unknown', message: info.message };
  });
}

/** The GPU device was lost (driver reset, GPU removed, device destroyed): thrown where a run can go no further. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

/**
 * Throws DeviceLostError when the webgpu backend's device has been lost (else resolves): call it where a GPU read or
 * step failed, to replace the backend's low-level error by one that says what happened. It first lets the device's
 * `lost` promise settle (a read can fail before it does).
 */
export async function throwIfDeviceLost(cause?: unknown): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (!lost) return;
  const detail = lost.message ? `: ${lost.message}` : '';
  throw new DeviceLostError(`the WebGPU device was lost (${lost.reason}${detail})`, { cause });
}

/**
 * A quick self-check of the running backend against numbers worked out here: a 3x3 convolution and a matrix
 * product, read asynchronously. Returns what is wrong, or undefined when it computes right.
 */
export async function selfCheck(): Promise<string | undefined> {
  // x[r][c] = 4r + c + 1 as a 4x4 image, w = ones 3x3: output (r, c) is 9 times its window's centre, 9 (4r + c + 6).
  const expectedConv = [0, 1, 2, 3].map((i) => 9 * (4 * Math.floor(i / 2) + (i % 2) + 6));
  const out = tf.tidy(() => {
    const x = tf.tensor4d(
      Float32Array.from({ length: 16 }, (_, i) => i + 1),
      [1, 4, 4, 1],
    );
    const conv = tf.reshape(tf.conv2d(x, tf.ones([3, 3, 1, 1]), 1, 'valid'), [-1]);
    const product = tf.reshape(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])), [-1]);
    return tf.concat([conv, product]);
  });
  try {
    const got = Array.from(await out.data());
    const expected = [...expectedConv, 19, 22, 43, 50];
    const wrong = expected.findIndex((v, i) => Math.abs(got[i]! - v) > 1e-4);
    return wrong < 0 ? undefined : `its self-check computed [${got.join(', ')}], not [${expected.join(', ')}]`;
  } catch (err) {
    return `its self-check failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    out.dispose();
  }
}
