/**
 * The elementwise family: add, sub, mul (same shapes, or a per-channel vector repeating along the leading axes),
 * relu and step (ReLU's gradient mask), on every core: tfjs-wasm runs them on one thread.
 * - native: OpenMP loops (elementwise.cc), scalars too.
 * - wasm: SIMD rows (wasm/elementwise.c); shorter repeating operands (scalars) stay on tfjs's kernels.
 * Each result is the float operation tfjs cpu does, so the bits match.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allFloat, sizeOf, type KernelSpec, type Op, type Target } from './kernel.js';
import type { WasmKernels } from './wasm/runtime.js';

/** `shape` without its leading 1s. */
const trimmed = (shape: readonly number[]) =>
  shape.slice(
    Math.max(
      0,
      shape.findIndex((d) => d !== 1),
    ),
  );

/** Whether `small` broadcasts against `out` by repeating along leading axes only (a trailing-axes broadcast). */
function repeatsInto(small: readonly number[], out: readonly number[]): boolean {
  const s = small.findIndex((d) => d !== 1) < 0 ? [] : trimmed(small);
  return s.length <= out.length && s.every((d, i) => d === out[out.length - s.length + i]);
}

/** The elementwise kernel's op codes (wasm/elementwise.c). */
const OPS = { add: 0, sub: 1, mul: 2, relu: 3, step: 4 } as const;
/** Shorter repeating operands (scalars) stay on tfjs's kernels: ours works in rows of the repeated operand. */
const MIN_ROW = 16;

/** out[i] = a[i] op b[i % bSize] over byte addresses (b ignored by relu and step; `swapped`: b op a), on `target`. */
function elementwise(
  k: WasmKernels,
  target: Target,
  op: keyof typeof OPS,
  [a, b, out]: number[],
  size: number,
  bSize: number,
  swapped: boolean,
) {
  if (target === 'native') k.native!.elementwise(k.heap(), op, a!, b!, out!, size, bSize, swapped ? 1 : 0);
  else k.run('elementwise', [a!, b!, out!, OPS[op], size, bSize, swapped ? 1 : 0], size);
}

/**
 * a op b for float32 operands of one shape, or where one repeats along the other's leading axes (a
 * per-channel vector; a scalar only on the addon): tfjs-wasm runs these on one thread.
 */
function binary(op: 'add' | 'sub' | 'mul', target: Target): Op {
  return (k, { a, b }) => {
    if (!allFloat(a!, b!)) return null;
    const out = tf.backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
    const size = sizeOf(out);
    if (size === 0) return null;
    const swapped = sizeOf(a!.shape) !== size;
    const [big, small] = swapped ? [b!, a!] : [a!, b!];
    const bSize = sizeOf(small.shape);
    if (sizeOf(big.shape) !== size || !repeatsInto(small.shape, out)) return null;
    if (target === 'wasm' && bSize < Math.min(MIN_ROW, size)) return null;
    const y = k.output(out);
    elementwise(k, target, op, [k.address(big), k.address(small), k.address(y)], size, bSize, swapped);
    return y;
  };
}

/** relu(x), or step(x) (1 where x > 0, else 0: ReLU's gradient mask) for Step's alpha 0. */
function unary(op: 'relu' | 'step', target: Target): Op {
  return (k, { x }, attrs) => {
    const size = sizeOf(x!.shape);
    if (x!.dtype !== 'float32' || size === 0 || (op === 'step' && attrs.alpha)) return null;
    const y = k.output(x!.shape);
    const [from, to] = [k.address(x!), k.address(y)];
    elementwise(k, target, op, [from, from, to], size, size, false);
    return y;
  };
}

/** Both steps of an op. */
const onBoth = (of: (target: Target) => Op): KernelSpec => ({ on: ['wasm'], native: of('native'), wasm: of('wasm') });

export const ELEMENTWISE_KERNELS = {
  Add: onBoth((t) => binary('add', t)),
  Sub: onBoth((t) => binary('sub', t)),
  Multiply: onBoth((t) => binary('mul', t)),
  Relu: onBoth((t) => unary('relu', t)),
  Step: onBoth((t) => unary('step', t)),
} satisfies Record<string, KernelSpec>;
