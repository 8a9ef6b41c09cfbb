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

/** Packs kernel `name`'s arguments into `buffer` (from its start); returns the words written. */
export function packArgs<K extends keyof KernelArgs>(
  name: K,
  args: KernelArgs[K],
  buffer: ArrayBufferLike,
  byteOffset = 0,
): number {
  const struct = ((WASM_KERNELS as Record<string, StructName>)[name] ??
    (NATIVE_KERNELS as Record<string, StructName>)[name])!;
  const words = structWords(struct);
  const ints = new Int32Array(buffer, byteOffset, words);
  const floats = new Float32Array(buffer, byteOffset, words);
  return packAt(struct, args, ints, floats, 0);
}
