/**
 * Registers the convnets training kernels for a backend. Composite kernels use tfjs ops (the engine
 * does not record ops run inside a kernel on the gradient tape); heap kernels are loops over the
 * backend's memory (see heap.ts).
 */
import type { NativeKernels } from '@convnets/backend-native';
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGrad, conv2dInputGrad } from './conv-grads.js';
import { poolWindow, type ConvAttrs, type PoolAttrs } from './geometry.js';
import {
  col2imInto,
  heapKernel,
  im2colInto,
  maxPoolGradInto,
  rotateFilterInto,
  sliceInto,
  transposeInto,
  type PoolGeometry,
} from './heap.js';
import * as nativeOps from './native/ops.js';
import * as wasmOps from './wasm/ops.js';
import { WasmKernels } from './wasm/runtime.js';

type Tensor4D = tf.Tensor4D;
type Inputs = Record<string, tf.TensorInfo>;
type Impl = (
  args: { inputs: Inputs; attrs: tf.NamedAttrMap; backend: unknown },
  original?: tf.KernelConfig,
) => tf.TensorInfo;

/** The kernel a backend had before convnets replaced it, kept so a replacement can delegate to it. */
const originals = new Map<string, tf.KernelConfig | undefined>();

/** convnets' wasm kernels loaded into each running wasm backend (see `loadWasmKernels`). */
const loaded = new WeakMap<object, WasmKernels>();

/**
 * Loads convnets' own wasm kernels into the current wasm backend (on `threads` threads where its memory
 * is shared). Returns a description of what runs, or why they cannot.
 */
export async function loadWasmKernels(threads: number): Promise<{ threads: number } | { missing: string }> {
  const backend = tf.backend();
  const ready = loaded.get(backend);
  if (ready) return { threads: ready.threads };
  const k = await WasmKernels.load(backend, threads);
  if (typeof k === 'string') return { missing: k };
  loaded.set(backend, k);
  registerFusedKernels(tf.getBackend());
  return { threads: k.threads };
}

/** Kernels the oneDNN addon's loops run where it is attached, and convnets' wasm kernels elsewhere. */
const WASM_OR_NATIVE = ['AvgPoolGrad', 'Concat', 'SplitV', 'Add', 'Sub', 'Multiply', 'Relu', 'Step'] as const;

/** tfjs-wasm kernels (one thread, or JS loops) replaced only where the oneDNN addon is attached. */
const NATIVE_ONLY = ['PadV2', 'FusedBatchNorm'] as const;

/** The kernels the oneDNN addon takes over where it is attached (see kernels/native/ops.ts). */
export const NATIVE_KERNELS = [
  'Conv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'BatchMatMul',
  'ConvnetsBatchNormTrain(+Grad)',
  'MaxPoolGrad',
  ...WASM_OR_NATIVE,
  ...NATIVE_ONLY,
  'ConvnetsSgdUpdate',
] as const;

/**
 * Runs the hot kernels of the current wasm backend on the oneDNN addon (null: back on our wasm kernels).
 * Needs `loadWasmKernels` first (the native ops use its heap access); returns what runs natively, or null.
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
 * Fused training kernels, where our wasm kernels run; the packages that use them look them up by name
 * and fall back to tfjs ops where the running backend lacks them:
 * - FUSED_BATCH_NORM (`@convnets/nn`'s BatchNorm2d in train mode): inputs x, gamma, beta; attribute eps;
 *   outputs [y, batch mean, biased batch variance]; its gradient gives [dx, dgamma, dbeta] in one kernel.
 * - FUSED_SGD (`@convnets/trainer`'s Sgd with momentum): inputs param, grad, buffer; attributes lr,
 *   momentum, weightDecay, nesterov; outputs [param', buffer'].
 * - FUSED_ADAM (`@convnets/trainer`'s Adam): inputs param, grad, m, v; attributes lr, beta1, oneMinusBeta1,
 *   beta2, oneMinusBeta2, c1, c2, eps, weightDecay, keep, l2, decoupled; outputs [param', m', v'].
 */
export const FUSED_BATCH_NORM = 'ConvnetsBatchNormTrain';
const FUSED_BATCH_NORM_GRAD = 'ConvnetsBatchNormTrainGrad';
export const FUSED_SGD = 'ConvnetsSgdUpdate';
export const FUSED_ADAM = 'ConvnetsAdamUpdate';

function registerFusedKernels(backendName: string): void {
  const fused = (op: WasmMultiOp, name: string, native?: WasmMultiOp): tf.KernelConfig => ({
    kernelName: name,
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const k = loaded.get(backend as object);
      if (!k)
        throw new Error(
          `${name}: convnets' wasm kernels are not loaded into this wasm backend (start it with initBackend)`,
        );
      const out =
        (k.native && native?.(k, inputs as Inputs, attrs as tf.NamedAttrMap)) ||
        op(k, inputs as Inputs, attrs as tf.NamedAttrMap);
      if (!out)
        throw new Error(`${name}: expects float32 inputs of matching sizes (batch norm: at most 4096 channels)`);
      return out;
    },
  });
  const ops: Array<[WasmMultiOp, string, WasmMultiOp?]> = [
    [wasmOps.batchNormTrain, FUSED_BATCH_NORM, nativeOps.batchNormTrain],
    [wasmOps.batchNormTrainGrad, FUSED_BATCH_NORM_GRAD, nativeOps.batchNormTrainGrad],
    [wasmOps.sgdUpdate, FUSED_SGD, nativeOps.sgdUpdate],
    [wasmOps.adamUpdate, FUSED_ADAM],
  ];
  for (const [op, name, native] of ops) {
    if (!tf.getKernel(name, backendName)) tf.registerKernel(fused(op, name, native));
  }
  if (!tf.getGradient(FUSED_BATCH_NORM)) {
    tf.registerGradient({
      kernelName: FUSED_BATCH_NORM,
      inputsToSave: ['x', 'gamma'],
      outputsToSave: [false, true, true],
      gradFunc: (dy, saved, attrs) => {
        const [x, gamma, mean, variance] = saved;
        const inputs = {
          dy: (Array.isArray(dy) ? dy[0] : dy)!,
          x: x!,
          gamma: gamma!,
          mean: mean!,
          variance: variance!,
        };
        // One kernel gives all three, run here: the tape calls each closure in a tidy of its own, which
        // would free the other two. Backprop as a whole runs in a tidy that frees any it does not use.
        const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_BATCH_NORM_GRAD, inputs, attrs) as tf.Tensor[];
        return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
      },
    });
  }
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

type WasmOp = (k: WasmKernels, inputs: Inputs, attrs: tf.NamedAttrMap) => tf.TensorInfo | null;
type WasmMultiOp = (k: WasmKernels, inputs: Inputs, attrs: tf.NamedAttrMap) => tf.TensorInfo[] | null;

/**
 * Runs `native` where the oneDNN addon is attached and it applies, else `op` on convnets' wasm kernels
 * where they are loaded and it applies, else `fallback`.
 */
function viaWasm(op: WasmOp, fallback: Impl, native?: WasmOp): Impl {
  return (args, original) => {
    const k = loaded.get(args.backend as object);
    return (
      (k?.native && native?.(k, args.inputs, args.attrs)) ||
      (k && op(k, args.inputs, args.attrs)) ||
      fallback(args, original)
    );
  };
}

const delegate: Impl = (args, original) => original!.kernelFunc(args as never) as tf.TensorInfo;

/** `native` where the oneDNN addon is attached and it applies; tfjs's kernel otherwise. */
function onlyNative(native: WasmOp): Impl {
  return (args, original) => {
    const k = loaded.get(args.backend as object);
    return (k?.native && native(k, args.inputs, args.attrs)) || delegate(args, original);
  };
}

/**
 * Where Conv2D runs. Training (a gradient tape recording): always our kernel, which packs no input and
 * skips padding. Inference: XNNPACK keeps packed weights between calls, which wins on small batches;
 * ours packs the weights each call, which pays off from a few hundred output pixels on. The choice
 * depends only on the call, never on history, so a resumed run computes exactly what a straight one does.
 */
const INFERENCE_PIXELS = 256;
const recording = () => (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
function convOnOurs(x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.NamedAttrMap): boolean {
  if (recording()) return true;
  const [n, h, w] = x.shape as [number, number, number];
  const stride =
    typeof attrs.strides === 'number' ? attrs.strides ** 2 : (attrs.strides as number[]).reduce((a, b) => a * b, 1);
  return (n * h * w) / stride >= INFERENCE_PIXELS && filter.shape.length === 4;
}

/** The input itself as the output, its data shared (a reference more), not copied. */
const shareData: Impl = (args, original) => {
  const x = args.inputs.x!;
  if (x.dtype === 'string') return delegate(args, original);
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

const conv2dOnWasm = viaWasm(wasmOps.conv2d, delegate, nativeOps.conv2d);

const kernels = {
  Conv2D: (args, original) => {
    // oneDNN, where attached, takes every call: its AVX-512 convolution beats XNNPACK's cached weights too.
    const native = loaded.get(args.backend as object)?.native;
    return (native || convOnOurs(args.inputs.x!, args.inputs.filter!, args.attrs) ? conv2dOnWasm : delegate)(
      args,
      original,
    );
  },
  Conv2DBackpropFilter: viaWasm(
    wasmOps.conv2dBackpropFilter,
    ({ inputs, attrs }) =>
      conv2dFilterGrad(
        inputs.x as Tensor4D,
        inputs.dy as Tensor4D,
        attrs.filterShape as number[],
        attrs as unknown as ConvAttrs,
      ),
    nativeOps.conv2dBackpropFilter,
  ),
  Conv2DBackpropInput: viaWasm(
    wasmOps.conv2dBackpropInput,
    ({ inputs, attrs }) =>
      conv2dInputGrad(
        inputs.dy as Tensor4D,
        inputs.filter as Tensor4D,
        attrs.inputShape as number[],
        attrs as unknown as ConvAttrs,
      ),
    nativeOps.conv2dBackpropInput,
  ),
  /**
   * Shares the data instead of copying it (tensors are immutable; wasm's Reshape shares the same way):
   * tfjs clones every tensor a gradient saves, so wasm's copying Identity cost ~5% of a training step.
   */
  Identity: shareData,
  /** A cast to the dtype a tensor has shares it too (ReLU's gradient casts its float mask: ~2% of DenseNet's step). */
  Cast: (args, original) =>
    args.inputs.x!.dtype === args.attrs.dtype ? shareData(args, original) : delegate(args, original),
  Sum: viaWasm((k, inputs, attrs) => wasmOps.channelReduce(k, inputs, attrs, false), delegate),
  Mean: viaWasm((k, inputs, attrs) => wasmOps.channelReduce(k, inputs, attrs, true), delegate),
  MaxPoolGrad: viaWasm(
    wasmOps.maxPoolGrad,
    ({ inputs, attrs, backend }) => {
      const x = inputs.input!;
      const g = poolWindow(x.shape, attrs as unknown as PoolAttrs);
      const [batch, , , channels] = x.shape as [number, number, number, number];
      const geometry = { ...g, batch, channels };
      return heapKernel(backend, [x, inputs.dy!], x.shape, ([xv, dyv], dx) => maxPoolGradInto(xv!, dyv!, geometry, dx));
    },
    nativeOps.maxPoolGrad,
  ),
  /** Elementwise ops on every core (tfjs-wasm's run on one): the addon's loops where attached, else ours. */
  Add: viaWasm(wasmOps.binary('add'), delegate),
  Sub: viaWasm(wasmOps.binary('sub'), delegate),
  Multiply: viaWasm(wasmOps.binary('mul'), delegate),
  Relu: viaWasm(wasmOps.unary('relu'), delegate),
  Step: viaWasm(wasmOps.unary('step'), delegate),
  PadV2: onlyNative(nativeOps.padV2),
  FusedBatchNorm: onlyNative(nativeOps.fusedBatchNorm),
  /** tfjs-wasm's are slices and JS loops (DenseNet's concatenations and transitions: ~12% of its step). */
  AvgPoolGrad: viaWasm(wasmOps.avgPoolGrad, delegate, nativeOps.avgPoolGrad),
  Concat: viaWasm(wasmOps.concat, delegate),
  SplitV: (args, original) => {
    const k = loaded.get(args.backend as object);
    return ((k && wasmOps.splitV(k, args.inputs, args.attrs)) || original!.kernelFunc(args as never)) as tf.TensorInfo;
  },
  /** Replaces wasm's Transpose when the innermost axis moves (its scalar loop is 5-10x slower then). */
  Transpose: (args, original) => {
    const { inputs, attrs, backend } = args;
    const x = inputs.x!;
    const perm = attrs.perm as number[];
    if (x.dtype !== 'float32' || perm[perm.length - 1] === perm.length - 1) {
      return original!.kernelFunc(args as never) as tf.TensorInfo;
    }
    return heapKernel(
      backend,
      [x],
      perm.map((p) => x.shape[p]!),
      ([src], out) => transposeInto(src!, x.shape, perm, out),
    );
  },
  /**
   * Replaces wasm's Slice, which first copies the whole input out of the heap (readSync): slicing a
   * conv weight to its live taps (nn's Conv2d on small maps) cost more than the convolution it saved.
   */
  Slice: (args, original) => {
    const { inputs, attrs, backend } = args;
    const x = inputs.x!;
    if (x.dtype !== 'float32' || x.shape.length === 0) return original!.kernelFunc(args as never) as tf.TensorInfo;
    const [begin, size] = tf.slice_util.parseSliceParams(
      x as tf.Tensor,
      attrs.begin as number[],
      attrs.size as number[],
    );
    return heapKernel(backend, [x], size, ([src], out) => sliceInto(src!, x.shape, begin, size, out));
  },
  /** x [N, H, W, C] -> [N*Ho*Wo, kh*kw*C]; the attributes carry the window geometry. */
  ConvnetsIm2Col: ({ inputs, attrs, backend }) => {
    const g = attrs as unknown as PoolGeometry;
    const rows = g.batch * g.outHeight * g.outWidth;
    return heapKernel(backend, [inputs.x!], [rows, g.kernelHeight * g.kernelWidth * g.channels], ([x], cols) =>
      im2colInto(x!, g, cols),
    );
  },
  /** The adjoint of ConvnetsIm2Col: [N*Ho*Wo, kh*kw*C] -> [N, H, W, C]. */
  ConvnetsCol2Im: ({ inputs, attrs, backend }) => {
    const g = attrs as unknown as PoolGeometry;
    return heapKernel(backend, [inputs.cols!], [g.batch, g.inHeight, g.inWidth, g.channels], ([cols], dx) =>
      col2imInto(cols!, g, dx),
    );
  },
  /**
   * wasm's BatchMatMul is fast (XNNPACK) only without transpose flags, which every matmul gradient
   * sets. So multiply plainly after transposing (with the Transpose above) whichever is cheaper: the
   * flagged operands, or the other operands and the product, as (B'^T A'^T)^T. On webgpu the same keeps
   * flagged products off tfjs 4.22's split-K program, which gets transposeB wrong (see TRAINING_KERNELS).
   */
  BatchMatMul: viaWasm(
    wasmOps.batchMatMul,
    (args, original) => {
      const { inputs, attrs, backend } = args;
      const tA = Boolean(attrs.transposeA);
      const tB = Boolean(attrs.transposeB);
      if (!tA && !tB) return original!.kernelFunc(args as never) as tf.TensorInfo;
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
    },
    nativeOps.batchMatMul,
  ),
  /** [kh, kw, in, out] -> rotated 180 degrees with in/out swapped; used by the input gradient. */
  ConvnetsRotateFilter: ({ inputs, backend }) => {
    const f = inputs.filter!;
    const [kh, kw, cin, cout] = f.shape;
    return heapKernel(backend, [f], [kh!, kw!, cout!, cin!], ([src], out) => rotateFilterInto(src!, f.shape, out));
  },
} satisfies Record<string, Impl>;

export type TrainingKernel = keyof typeof kernels;

/**
 * Which kernels each backend gets, and why (figures in docs/performance.md):
 * - wasm: no Conv2DBackpropFilter at all; Conv2DBackpropInput a scalar loop; MaxPoolGrad wrong where a
 *   window's maximum is <= 0; Transpose and Reverse slow scalar loops; BatchMatMul with a transpose
 *   flag 10-40x slower than without; Slice copies its whole input out of the heap first; AvgPoolGrad,
 *   Concat and SplitV are JS loops and slices, elementwise ops run on one thread. NATIVE_ONLY's kernels
 *   are replaced only where the native addon is attached; elsewhere they pass straight to tfjs's kernels.
 * - cpu: Conv2DBackpropFilter a naive loop (0.04 GFLOP/s); as a convolution it is ~17x faster.
 * - webgpu: BatchMatMul with transposeB and an inner dimension of 2000 or more (a Linear layer's input gradient
 *   after a 4096-wide layer: AlexNet, VGG) takes tfjs-webgpu 4.22's split-K program, whose vec4 reads ignore
 *   transposeB: wrong numbers (relative error ~1, found by the parity tests). Plain products are right.
 */
export const TRAINING_KERNELS: Record<string, readonly TrainingKernel[]> = {
  wasm: [
    'Conv2D',
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'MaxPoolGrad',
    'Sum',
    'Mean',
    'Identity',
    'Cast',
    'Transpose',
    'Slice',
    'BatchMatMul',
    'ConvnetsRotateFilter',
    'ConvnetsIm2Col',
    'ConvnetsCol2Im',
    ...WASM_OR_NATIVE,
    ...NATIVE_ONLY,
  ],
  cpu: ['Conv2DBackpropFilter', 'ConvnetsRotateFilter', 'ConvnetsIm2Col', 'ConvnetsCol2Im'],
  webgpu: ['BatchMatMul'],
};

/** Registers `names` (default: the backend's list above) for `backendName`; returns what it registered. */
export function registerTrainingKernels(
  backendName: string,
  names: readonly TrainingKernel[] = TRAINING_KERNELS[backendName] ?? [],
): TrainingKernel[] {
  for (const kernelName of names) {
    const key = `${backendName}/${kernelName}`;
    if (!originals.has(key)) originals.set(key, tf.getKernel(kernelName, backendName));
    const original = originals.get(key);
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    const impl: Impl = kernels[kernelName];
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: (args) => impl(args as unknown as Parameters<Impl>[0], original),
    });
  }
  return [...names];
}
