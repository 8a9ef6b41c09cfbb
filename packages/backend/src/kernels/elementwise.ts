/**
 * The elementwise family: add, sub, mul (same shapes, or a per-channel vector repeating along the leading axes),
 * relu and step (ReLU's gradient mask), on every core: tfjs-wasm runs them on one thread.
 * - native: OpenMP loops (elementwise.cc), scalars too.
 * - wasm: SIMD rows (wasm/elementwise.c); shorter repeating operands (scalars) stay on tfjs's kernels.
 * Each result is the float operation tfjs cpu does, so the bits match.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ElementwiseOp } from './interface.generated.js';
import { allFloat, call, sizeOf, type KernelSpec, type Op as KernelOp, type Target } from './kernel.js';
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

/** Shorter repeating operands (scalars) stay on tfjs's kernels: ours works in rows of the repeated operand. */
const MIN_ROW = 16;

type Op = keyof typeof ElementwiseOp;

/** out[i] = a[i] op b[i % bSize] over byte addresses (b ignored by relu and step; `swapped`: b op a), on `target`. */
function elementwise(
  k: WasmKernels,
  target: Target,
  op: Op,
  [a, b, out]: number[],
  size: number,
  bSize: number,
  swapped: boolean,
) {
  const args = { a: a!, b: b!, out: out!, op: ElementwiseOp[op], size, b_size: bSize, swapped: swapped ? 1 : 0 };
  call(k, target, 'elementwise', args, size);
}

/**
 * a op b for float32 operands of one shape, or where one repeats along the other's leading axes (a
 * per-channel vector; a scalar only on the addon): tfjs-wasm runs these on one thread.
 */
function binary(op: 'ADD' | 'SUB' | 'MUL', target: Target): KernelOp {
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
function unary(op: 'RELU' | 'STEP', target: Target): KernelOp {
  return (k, { x }, attrs) => {
    const size = sizeOf(x!.shape);
    if (x!.dtype !== 'float32' || size === 0 || (op === 'STEP' && attrs.alpha)) return null;
    const y = k.output(x!.shape);
    const [from, to] = [k.address(x!), k.address(y)];
    elementwise(k, target, op, [from, from, to], size, size, false);
    return y;
  };
}

/** Both steps of an op. */
const onBoth = (of: (target: Target) => KernelOp): KernelSpec => ({
  on: ['wasm'],
  native: of('native'),
  wasm: of('wasm'),
});

export const ELEMENTWISE_KERNELS = {
  Add: onBoth((t) => binary('ADD', t)),
  Sub: onBoth((t) => binary('SUB', t)),
  Multiply: onBoth((t) => binary('MUL', t)),
  Relu: onBoth((t) => unary('RELU', t)),
  Step: onBoth((t) => unary('STEP', t)),
} satisfies Record<string, KernelSpec>;
