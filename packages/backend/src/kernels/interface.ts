/**
 * Kernel arguments by name: each kernel's struct (interface.generated.ts, from native/kernels.h) packed field by
 * field into the 4-byte words both builds read, so no argument list is ever typed by position.
 */
import { type KernelArgs, NATIVE_KERNELS, STRUCTS, WASM_KERNELS } from './interface.generated.js';

export type WasmKernel = keyof typeof WASM_KERNELS;
export type NativeKernel = keyof typeof NATIVE_KERNELS;
export type { KernelArgs };

type StructName = keyof typeof STRUCTS;
type Field = readonly [string, string] | readonly [string, string, number];

/** Bytes set aside for one call's packed arguments (the wasm heap's argument block, the addon's buffer). */
export const ARGS_BYTES = 1024;

/** Words (4 bytes each) of a struct. */
export function structWords(struct: StructName): number {
  return (STRUCTS[struct] as readonly Field[]).reduce(
    (n, [, kind, count]) => n + (kind.length === 1 ? (count ?? 1) : structWords(kind as StructName)),
    0,
  );
}

/** Writes `value` as `struct` at word `at` of the two views (one buffer); returns the word after it. */
function packAt(struct: StructName, value: object, ints: Int32Array, floats: Float32Array, at: number): number {
  const fields = value as Record<string, number | number[] | object>;
  for (const [name, kind, count] of STRUCTS[struct] as readonly Field[]) {
    const v = fields[name];
    if (v === undefined) throw new Error(`convnets kernel arguments: ${struct}.${name} is missing`);
    if (kind.length > 1) at = packAt(kind as StructName, v as object, ints, floats, at);
    else {
      const view = kind === 'f' ? floats : ints;
      if (count) {
        view.set(v as number[], at);
        at += count;
      } else view[at++] = v as number;
    }
  }
  return at;
}

interface ArgsViews {
  byteOffset: number;
  ints: Int32Array;
  floats: Float32Array;
}

/**
 * The int and float views of an argument block, made once per buffer (every call packs into the same block; a wasm
 * heap that grows gets a new buffer, and so new views).
 */
const blocks = new WeakMap<ArrayBufferLike, ArgsViews>();

function viewsOf(buffer: ArrayBufferLike, byteOffset: number): ArgsViews {
  let views = blocks.get(buffer);
  if (views?.byteOffset !== byteOffset) {
    const words = ARGS_BYTES / 4;
    views = {
      byteOffset,
      ints: new Int32Array(buffer, byteOffset, words),
      floats: new Float32Array(buffer, byteOffset, words),
    };
    blocks.set(buffer, views);
  }
  return views;
}

/** The struct kernel `name` takes. */
function structOf(name: keyof KernelArgs): StructName {
  return ((WASM_KERNELS as Record<string, StructName>)[name] ?? (NATIVE_KERNELS as Record<string, StructName>)[name])!;
}

/** Packs kernel `name`'s arguments into the ARGS_BYTES of `buffer` at `byteOffset`; returns the words written. */
export function packArgs<K extends keyof KernelArgs>(
  name: K,
  args: KernelArgs[K],
  buffer: ArrayBufferLike,
  byteOffset = 0,
): number {
  // Every struct fits ARGS_BYTES (a test checks the generated interface), so a call checks nothing more.
  const { ints, floats } = viewsOf(buffer, byteOffset);
  return packAt(structOf(name), args, ints, floats, 0);
}
