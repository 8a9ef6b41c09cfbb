/**
 * The table of convnets' kernels, one row per operation family, and their registration. Each family's file holds its
 * kernels' fallback chains (the oneDNN addon, convnets' wasm kernels, tfjs) and says why each kernel is replaced;
 * which kernels each backend gets and which the addon runs are derived from this table.
 */
import type { NativeKernels } from '@convnets/backend-native';
import * as tf from '@tensorflow/tfjs-core';
import { CONV_KERNELS } from './conv.js';
import { COPY_KERNELS } from './copy.js';
import { ELEMENTWISE_KERNELS } from './elementwise.js';
import { chain, loaded, type KernelBackend, type KernelSpec } from './kernel.js';
import { MATMUL_KERNELS } from './matmul.js';
import { NORM_KERNELS, registerBatchNormGradient } from './norm.js';
import { OPTIMIZER_KERNELS } from './optimizer.js';
import { POOL_KERNELS } from './pool.js';
import { WasmKernels } from './wasm/runtime.js';

export const KERNEL_FAMILIES = {
  conv: CONV_KERNELS,
  matmul: MATMUL_KERNELS,
  pool: POOL_KERNELS,
  norm: NORM_KERNELS,
  elementwise: ELEMENTWISE_KERNELS,
  copy: COPY_KERNELS,
  optimizer: OPTIMIZER_KERNELS,
};

type Families = typeof KERNEL_FAMILIES;
type KernelName = { [F in keyof Families]: keyof Families[F] }[keyof Families];
const KERNELS = Object.assign({}, ...Object.values(KERNEL_FAMILIES)) as Record<KernelName, KernelSpec>;
const entries = Object.entries(KERNELS) as Array<[KernelName, KernelSpec]>;

/** The kernels convnets replaces on a backend (fused ones are added where convnets' wasm kernels load). */
export type TrainingKernel = KernelName;
export const TRAINING_KERNELS: Record<KernelBackend, readonly TrainingKernel[]> = {
  wasm: entries.filter(([, s]) => s.on.includes('wasm') && !s.fused).map(([name]) => name),
  cpu: entries.filter(([, s]) => s.on.includes('cpu')).map(([name]) => name),
  webgpu: entries.filter(([, s]) => s.on.includes('webgpu')).map(([name]) => name),
};

/** The kernels the oneDNN addon takes over where it is attached. */
export const NATIVE_KERNELS: readonly TrainingKernel[] = entries.filter(([, s]) => s.native).map(([name]) => name);

/** The kernel a backend had before convnets replaced it, kept so a replacement can fall back to it. */
const originals = new Map<string, tf.KernelConfig | undefined>();

/** Registers `names` (default: the backend's list above) for `backendName`; returns what it registered. */
export function registerTrainingKernels(
  backendName: string,
  names: readonly TrainingKernel[] = TRAINING_KERNELS[backendName as KernelBackend] ?? [],
): TrainingKernel[] {
  for (const kernelName of names) {
    const key = `${backendName}/${kernelName}`;
    if (!originals.has(key)) originals.set(key, tf.getKernel(kernelName, backendName));
    const original = originals.get(key);
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    const impl = chain(kernelName, KERNELS[kernelName]);
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: (call) => impl(call as unknown as Parameters<typeof impl>[0], original) as tf.TensorInfo,
    });
  }
  return [...names];
}

/**
 * Loads convnets' own wasm kernels into the current wasm backend (on `threads` threads where its memory
 * is shared) and registers the fused kernels there. Returns a description of what runs, or why they cannot.
 */
export async function loadWasmKernels(threads: number): Promise<{ threads: number } | { missing: string }> {
  const backend = tf.backend();
  const ready = loaded.get(backend);
  if (ready) return { threads: ready.threads };
  const k = await WasmKernels.load(backend, threads);
  if (typeof k === 'string') return { missing: k };
  loaded.set(backend, k);
  const backendName = tf.getBackend();
  for (const [kernelName, spec] of entries) {
    if (!spec.fused || tf.getKernel(kernelName, backendName)) continue;
    const impl = chain(kernelName, spec);
    tf.registerKernel({ kernelName, backendName, kernelFunc: (call) => impl(call as never) as tf.TensorInfo });
  }
  registerBatchNormGradient();
  return { threads: k.threads };
}

/**
 * Runs the hot kernels of the current wasm backend on the oneDNN addon (null: back on our wasm kernels).
 * Needs `loadWasmKernels` first (the native steps use its heap access); returns what runs natively, or null.
 */
export function attachNativeKernels(
  native: NativeKernels | null,
): { version: string; runtime: string; kernels: string[] } | null {
  const k = loaded.get(tf.backend());
  if (!k) return null;
  k.native = native;
  return native ? { version: native.version, runtime: native.runtime, kernels: [...NATIVE_KERNELS] } : null;
}

/**
 * Caps the threads convnets' wasm kernels use on the current backend (Infinity: all it started with);
 * returns the count now in force, 0 where they are not loaded.
 */
export function setWasmKernelThreads(limit: number): number {
  const k = loaded.get(tf.backend());
  if (!k) return 0;
  k.limit = Math.max(1, limit);
  return k.threads;
}
