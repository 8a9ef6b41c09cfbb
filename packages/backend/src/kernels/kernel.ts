/**
 * What every kernel family shares: a kernel's fallback chain and the helpers its steps use. A call tries the
 * oneDNN addon where it is attached, then convnets' wasm kernels where they are loaded, then tfjs (a composite of
 * tfjs ops, or the kernel the backend had); each step returns null where it does not apply.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ARGS_BYTES, type KernelArgs, type NativeKernel, packArgs, type WasmKernel } from './interface.js';
import type { WasmKernels } from './wasm/runtime.js';

export type Inputs = Record<string, tf.TensorInfo>;
export interface KernelCall {
  inputs: Inputs;
  attrs: tf.NamedAttrMap;
  backend: unknown;
}
type Output = tf.TensorInfo | tf.TensorInfo[];
/** A kernel as registered: the call and the backend's own kernel of that name (if it had one). */
export type Impl = (call: KernelCall, original?: tf.KernelConfig) => Output;
/** A step on convnets' kernels (the addon's run on the same heap): its result, or null where it does not apply. */
export type Op = (k: WasmKernels, inputs: Inputs, attrs: tf.NamedAttrMap) => Output | null;

/** The backends whose kernels convnets replaces (see each family's reasons). */
export type KernelBackend = 'wasm' | 'cpu' | 'webgpu';

export interface KernelSpec {
  /** Where it is registered. */
  on: readonly KernelBackend[];
  /** On the oneDNN addon, where it is attached to the wasm backend. */
  native?: Op;
  /** On convnets' wasm kernels, where they are loaded. */
  wasm?: Op;
  /** The last step: tfjs ops or loops over the backend's memory; default: the backend's own kernel. */
  tfjs?: Impl;
  /**
   * A kernel tfjs does not have (a fused training kernel): registered only where convnets' wasm kernels load, so
   * the packages that use it look it up by name and fall back to tfjs ops elsewhere.
   */
  fused?: true;
  /** What a fused kernel's inputs must be (its error where no step applies). */
  expects?: string;
}

/** convnets' wasm kernels loaded into each running wasm backend (see register.ts's `loadWasmKernels`). */
export const loaded = new WeakMap<object, WasmKernels>();

/** The backend's own kernel. */
export const delegate: Impl = (call, original) => original!.kernelFunc(call as never) as Output;

/** The spec's chain as one kernel function. */
export function chain(name: string, spec: KernelSpec): Impl {
  const refuse: Impl = (call) => {
    throw new Error(
      loaded.get(call.backend as object)
        ? `${name}: expects ${spec.expects ?? 'float32 inputs of matching sizes'}`
        : `${name}: convnets' wasm kernels are not loaded into this wasm backend (start it with initBackend)`,
    );
  };
  const last: Impl = spec.tfjs ?? (spec.fused ? refuse : delegate);
  return (call, original) => {
    const k = loaded.get(call.backend as object);
    return (
      (k?.native && spec.native?.(k, call.inputs, call.attrs)) ||
      (k && spec.wasm?.(k, call.inputs, call.attrs)) ||
      last(call, original)
    );
  };
}

export const allFloat = (...ts: tf.TensorInfo[]) => ts.every((t) => t.dtype === 'float32');
export const sizeOf = (shape: readonly number[]) => shape.reduce((p, q) => p * q, 1);

/** Where a kernel of the interface both builds share runs: the oneDNN addon, or convnets' wasm kernels. */
export type Target = 'native' | 'wasm';

/** The addon's arguments, packed (the calls are synchronous: one buffer serves them all). */
const nativeArgs = new ArrayBuffer(ARGS_BYTES);
/** Each kernel's view of them, exactly its struct's words (the addon checks the size). */
const nativeViews = new Map<NativeKernel, Int32Array>();

/**
 * Calls the addon's kernel `name` on the heap. Its arguments hold addresses found before the heap view is taken:
 * finding one can move a tensor in from another backend, which can grow the heap and leave an older view short.
 */
export function runNative<K extends NativeKernel>(k: WasmKernels, name: K, args: KernelArgs[K]): void {
  const words = packArgs(name, args, nativeArgs);
  let view = nativeViews.get(name);
  if (!view) {
    view = new Int32Array(nativeArgs, 0, words);
    nativeViews.set(name, view);
  }
  k.native!.kernels[name]!(k.heap(), view);
}

/**
 * Calls kernel `name`, which both builds have, on `target` (`work`: multiply-adds or elements, which decides
 * threading on wasm).
 */
export function call<K extends NativeKernel & WasmKernel>(
  k: WasmKernels,
  target: Target,
  name: K,
  args: KernelArgs[K],
  work: number,
): void {
  if (target === 'native') runNative(k, name, args);
  else k.run(name, args, work);
}

/** x's rows and channels, viewed as [rows, channels] (NHWC with N, H, W merged); null for other dtypes or ranks. */
export function channelRows(x: tf.TensorInfo): { rows: number; channels: number } | null {
  const channels = x.shape[x.shape.length - 1]!;
  const rows = sizeOf(x.shape.slice(0, -1));
  return x.dtype === 'float32' && x.shape.length >= 2 && rows > 0 && channels > 0 ? { rows, channels } : null;
}

// ---- loops over the backend's own memory (the wasm heap, or the cpu backend's typed arrays) ----
interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}
interface CpuLike {
  data: { get(dataId: object): { values: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/**
 * Runs `fill(inputs, output)` on `backend` with typed-array views of the inputs and a fresh float32
 * output of `shape`. On wasm the output is allocated first, because allocating can grow (and detach)
 * the heap that the input views point into.
 */
export function heapKernel(
  backend: unknown,
  inputs: tf.TensorInfo[],
  shape: number[],
  fill: (inputs: Float32Array[], output: Float32Array) => void,
): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  if (typeof (backend as WasmLike).typedArrayFromHeap === 'function') {
    const wasm = backend as WasmLike;
    const out = wasm.makeOutput(shape, 'float32');
    const views = inputs.map((t) => asFloat32(wasm.typedArrayFromHeap(t), t));
    fill(views, wasm.typedArrayFromHeap(out) as Float32Array);
    return out;
  }
  const cpu = backend as CpuLike;
  const output = new Float32Array(size);
  fill(
    inputs.map((t) => asFloat32(cpu.data.get(t.dataId).values as Float32Array, t)),
    output,
  );
  return cpu.makeTensorInfo(shape, 'float32', output);
}

function asFloat32(values: ArrayLike<number>, t: tf.TensorInfo): Float32Array {
  if (!(values instanceof Float32Array)) throw new Error(`convnets kernel: expected a float32 tensor, got ${t.dtype}`);
  return values;
}
