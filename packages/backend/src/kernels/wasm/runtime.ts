/**
 * Loads convnets' own WebAssembly kernels (the C in the package's wasm/ folder) into a running tfjs-wasm backend: the module
 * imports tfjs's memory, so kernels read and write tensors where they are. Where that memory is shared
 * (the threaded build), worker threads instantiate the same module on it and take a share of each call.
 */
import type { NativeKernels } from '@convnets/backend-native';
import type * as tf from '@tensorflow/tfjs-core';
import { WASM_KERNELS } from '../interface.generated.js';
import { ARGS_BYTES, type KernelArgs, packArgs, type WasmKernel } from '../interface.js';
import { KERNELS_WASM, KERNELS_WASM_MISSING } from './binary.generated.js';
import { startPool } from './pool-node.js';
import type { Pool } from './pool.js';

/** The parts of tfjs-wasm's backend and emscripten module used here. */
interface TfjsWasmBackend {
  wasm: {
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    wasmMemory?: WebAssembly.Memory;
    asm?: { memory?: WebAssembly.Memory };
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

/** The kernels the module exports (the declared interface's wasm list), in one order the workers share. */
export const KERNEL_EXPORTS = Object.keys(WASM_KERNELS) as WasmKernel[];
type Kernel = (args: number, thread: number, threads: number) => void;

/** Whether this build carries convnets' wasm kernels (see scripts/build-wasm.mjs). */
export function wasmKernelsBuilt(): boolean {
  return KERNELS_WASM !== null;
}

const STACK_BYTES = 64 * 1024;
/** Below this much work (multiply-adds or elements) a call runs on one thread: waking a worker costs more. */
const PARALLEL_WORK = 1 << 18;

export class WasmKernels {
  private readonly argsPointer: number;
  private readonly exports: Record<WasmKernel, Kernel>;
  /** Packing scratch for every thread, contiguous (the C side indexes it by thread). */
  readonly scratch: number;

  private constructor(
    private readonly backend: TfjsWasmBackend,
    private readonly memory: WebAssembly.Memory,
    instance: WebAssembly.Instance,
    private readonly pool: Pool | null,
  ) {
    this.exports = Object.fromEntries(KERNEL_EXPORTS.map((name) => [name, instance.exports[name] as Kernel])) as Record<
      WasmKernel,
      Kernel
    >;
    this.argsPointer = backend.wasm._malloc(ARGS_BYTES);
    const perThread =
      ((instance.exports.pack_a_floats as () => number)() + (instance.exports.pack_b_floats as () => number)()) * 4;
    this.scratch = backend.wasm._malloc(perThread * ((pool?.workers ?? 0) + 1));
  }

  /** At most this many threads per call (tests compare 1 with all; benchmarks measure scaling). */
  limit = Infinity;

  /** The oneDNN addon, where it runs the hot kernels on this heap (the native steps of each family). */
  native: NativeKernels | null = null;

  private view: Float32Array | null = null;

  /** A float32 view of the whole heap (fresh after the memory grows), for the native kernels. */
  heap(): Float32Array {
    const buffer = this.memory.buffer;
    if (this.view?.buffer !== buffer) this.view = new Float32Array(buffer);
    return this.view;
  }

  /** Threads a call may use: the pool's workers and this thread, up to `limit`. */
  get threads(): number {
    return Math.min(this.limit, (this.pool?.workers ?? 0) + 1);
  }

  /**
   * Loads the kernels into `backend` with up to `threads` threads (more than one only where tfjs's memory
   * is shared). Returns why not, as a string, where they cannot run.
   */
  static async load(backend: unknown, threads: number): Promise<WasmKernels | string> {
    if (!KERNELS_WASM) return KERNELS_WASM_MISSING;
    const b = backend as TfjsWasmBackend;
    const memory = b.wasm?.wasmMemory ?? b.wasm?.asm?.memory;
    if (!(memory instanceof WebAssembly.Memory) || typeof b.wasm._malloc !== 'function' || !b.dataIdMap) {
      return "this tfjs-wasm build does not expose its memory; tfjs's own kernels are used";
    }
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const module = await WebAssembly.compile(decodeBase64(shared ? KERNELS_WASM.shared : KERNELS_WASM.single));
    const stacks = Array.from(
      { length: shared ? Math.max(1, threads) : 1 },
      () => b.wasm._malloc(STACK_BYTES) + STACK_BYTES,
    );
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    (instance.exports.__stack_pointer as WebAssembly.Global).value = stacks[0]!;
    const pool =
      stacks.length > 1
        ? await startPool({
            module,
            memory,
            control: b.wasm._malloc(64),
            stacks: stacks.slice(1),
            exports: KERNEL_EXPORTS,
          })
        : null;
    return new WasmKernels(b, memory, instance, pool);
  }

  /** Byte address of a tensor's data in the heap. */
  address(t: tf.TensorInfo): number {
    const entry = this.backend.dataIdMap.get(t.dataId);
    if (!entry) throw new Error('convnets wasm kernel: a tensor is not on the wasm backend');
    return entry.memoryOffset;
  }

  /** A float32 output tensor on the backend (allocated before the call: allocation can grow memory). */
  output(shape: number[]): tf.TensorInfo {
    return this.backend.makeOutput(shape, 'float32');
  }

  /** Frees a temporary made with `output`. */
  free(t: tf.TensorInfo): void {
    this.backend.disposeData(t.dataId);
  }

  /**
   * Calls kernel `name` with its arguments (packed by name into its struct), split over the threads when `work`
   * (multiply-adds or elements) is large enough.
   */
  run<K extends WasmKernel>(name: K, args: KernelArgs[K], work: number): void {
    packArgs(name, args, this.memory.buffer, this.argsPointer);
    const threads = work >= PARALLEL_WORK ? this.threads : 1;
    if (threads > 1)
      this.pool!.run(KERNEL_EXPORTS.indexOf(name), this.argsPointer, threads, () =>
        this.exports[name](this.argsPointer, 0, threads),
      );
    else this.exports[name](this.argsPointer, 0, 1);
  }
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
