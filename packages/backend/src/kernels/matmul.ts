/**
 * The matmul family: BatchMatMul, and the GEMM every convolution of convnets' wasm kernels is built on (wasm/matmul.c
 * packs its operands straight from NHWC tensors, in any transpose: no im2col, transpose or rotation pass).
 * - native: oneDNN's matmul (backend-native's matmul.cc).
 * - wasm: one blocked GEMM per batch entry.
 * - tfjs: tfjs-wasm's XNNPACK matmul is fast only without transpose flags, which every matmul gradient sets; so
 *   the flagged operands are transposed first (or, where cheaper, the other operands and the product). On webgpu
 *   the same keeps flagged products off tfjs 4.22's split-K program, which gets transposeB wrong: an inner dimension
 *   of 2000 or more (a Linear layer's input gradient after a 4096-wide layer: AlexNet, VGG) gave relative errors ~1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMulDims } from './geometry.js';
import { type Operand, OperandKind, STRUCTS } from './interface.generated.js';
import { runNative, sizeOf, type Impl, type Inputs, type KernelSpec } from './kernel.js';
import type { WasmKernels } from './wasm/runtime.js';

/** An operand read as nothing but `kind` and `p`: the other fields zero (each kind sets the ones it reads). */
export function operand(kind: keyof typeof OperandKind, p: number, fields: Partial<Operand> = {}): Operand {
  const zero = Object.fromEntries(STRUCTS.Operand.map(([name]) => [name, 0])) as unknown as Operand;
  return { ...zero, ...fields, kind: OperandKind[kind], p };
}

/** Element (i, j) at p[i * rs + j * cs] (byte address p). */
export const strided = (p: number, rs: number, cs: number) => operand('STRIDED', p, { rs, cs });

/** C[m, n] = A[m, k] B[k, n], C row-major with leading dimension n. */
export function gemm(k: WasmKernels, a: Operand, b: Operand, c: number, m: number, n: number, depth: number): void {
  if (m === 0 || n === 0) return;
  k.run('gemm', { a, b, c, ldc: n, m, n, k: depth, accumulate: 0, scratch: k.scratch }, m * n * depth);
}

/** Batched C = op(A) . op(B) with either operand transposed and a batch of 1 broadcast. */
function batchMatMulWasm(k: WasmKernels, { a, b }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const d = matMulDims(a!, b!, attrs);
  if (!d) return null;
  const { batchA, batchB, m, depth, n, transposeA: tA, transposeB: tB } = d;
  const [ar, ac] = [a!.shape[1]!, a!.shape[2]!];
  const [br, bc] = [b!.shape[1]!, b!.shape[2]!];
  const batch = Math.max(batchA, batchB);
  const c = k.output([batch, m, n]);
  for (let i = 0; i < batch; i++) {
    const pa = k.address(a!) + (batchA === 1 ? 0 : i * ar * ac * 4);
    const pb = k.address(b!) + (batchB === 1 ? 0 : i * br * bc * 4);
    gemm(
      k,
      tA ? strided(pa, 1, m) : strided(pa, depth, 1),
      tB ? strided(pb, 1, depth) : strided(pb, n, 1),
      k.address(c) + i * m * n * 4,
      m,
      n,
      depth,
    );
  }
  return c;
}

/** Batched C = op(A) . op(B) with either operand transposed and a batch of 1 broadcast. */
function batchMatMulNative(k: WasmKernels, { a, b }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const d = matMulDims(a!, b!, attrs);
  if (!d || sizeOf(a!.shape) === 0 || sizeOf(b!.shape) === 0) return null;
  const c = k.output([Math.max(d.batchA, d.batchB), d.m, d.n]);
  runNative(k, 'matmul', {
    a: k.address(a!),
    b: k.address(b!),
    c: k.address(c),
    batch_a: d.batchA,
    batch_b: d.batchB,
    m: d.m,
    k: d.depth,
    n: d.n,
    transpose_a: d.transposeA ? 1 : 0,
    transpose_b: d.transposeB ? 1 : 0,
  });
  return c;
}

/** The product without transpose flags: the flagged operands transposed first, or the reversed product's. */
const unflagged: Impl = (call, original) => {
  const { inputs, attrs, backend } = call;
  const tA = Boolean(attrs.transposeA);
  const tB = Boolean(attrs.transposeB);
  if (!tA && !tB) return original!.kernelFunc(call as never) as tf.TensorInfo;
  const plain = (a: tf.Tensor, b: tf.Tensor) =>
    original!.kernelFunc({
      inputs: { a, b },
      attrs: { ...attrs, transposeA: false, transposeB: false },
      backend,
    } as never) as tf.TensorInfo;
  return tf.tidy(() => {
    const a = inputs.a as tf.Tensor;
    const b = inputs.b as tf.Tensor;
    // Swap the last two axes (operands are rank 2 or batched rank 3).
    const swap = (t: tf.Tensor) =>
      tf.transpose(
        t,
        [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : 2 * all.length - 3 - i)),
      );
    const dims = (t: tf.Tensor) => [t.shape[t.rank - 2]!, t.shape[t.rank - 1]!] as const;
    const [ar, ac] = dims(a);
    const [br, bc] = dims(b);
    const outSize = Math.max(a.size / (ar * ac), b.size / (br * bc)) * (tA ? ac : ar) * (tB ? br : bc);
    const direct = (tA ? a.size : 0) + (tB ? b.size : 0);
    const reversed = (tA ? 0 : a.size) + (tB ? 0 : b.size) + outSize;
    if (direct <= reversed) return tf.engine().makeTensorFromTensorInfo(plain(tA ? swap(a) : a, tB ? swap(b) : b));
    return swap(tf.engine().makeTensorFromTensorInfo(plain(tB ? b : swap(b), tA ? a : swap(a))));
  });
};

export const MATMUL_KERNELS = {
  BatchMatMul: { on: ['wasm', 'webgpu'], native: batchMatMulNative, wasm: batchMatMulWasm, tfjs: unflagged },
} satisfies Record<string, KernelSpec>;
