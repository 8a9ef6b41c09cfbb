/**
 * Loads the oneDNN addon that scripts/build-native.mjs built, or says why it cannot. Its kernels work in
 * place on a Float32Array over a heap (tfjs-wasm's memory): every operand is a byte offset into it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * A convolution's geometry, 17 numbers in this order: N H W C (input), KH KW Cout (filter, HWIO), Ho Wo
 * (output), strideH strideW, dilationH dilationW, padTop padLeft padBottom padRight.
 */
export type ConvGeometry = readonly number[];

/** A pool gradient's geometry: N H W C, Ho Wo, kh kw, strideH strideW, padTop padLeft. */
export type MaxPoolGeometry = readonly number[];

/** Elementwise ops: binary ones read b, unary ones (relu; step, which is 1 where x > 0, else 0) do not. */
export type ElementwiseOp = 'add' | 'sub' | 'mul' | 'relu' | 'step';
/** Their codes in native/loops.cc. */
const ELEMENTWISE: Record<ElementwiseOp, number> = { add: 0, sub: 1, mul: 2, relu: 3, step: 4 };

export interface NativeKernels {
  /** oneDNN's version and threading runtime. */
  readonly version: string;
  readonly runtime: string;
  /** y = conv(x, filter); x, y NHWC, filter HWIO. */
  conv2dForward(heap: Float32Array, x: number, filter: number, y: number, ...geometry: ConvGeometry): void;
  /** dx = the gradient of conv(x, filter) with respect to x, given dy. */
  conv2dInputGrad(heap: Float32Array, dy: number, filter: number, dx: number, ...geometry: ConvGeometry): void;
  /** dw (HWIO) = the gradient of conv(x, filter) with respect to the filter, given dy. */
  conv2dFilterGrad(heap: Float32Array, x: number, dy: number, dw: number, ...geometry: ConvGeometry): void;
  /** c[b] = op(a[b]) . op(b[b]) for [batch, M, K] . [batch, K, N]; a batch of 1 broadcasts; op transposes when asked. */
  matmul(
    heap: Float32Array,
    a: number,
    b: number,
    c: number,
    batchA: number,
    batchB: number,
    m: number,
    k: number,
    n: number,
    transposeA: number,
    transposeB: number,
  ): void;
  /** Training-mode batch norm over [rows, C]: y, and the batch mean and biased variance per channel. */
  batchNormTrain(
    heap: Float32Array,
    x: number,
    gamma: number,
    beta: number,
    y: number,
    mean: number,
    variance: number,
    rows: number,
    channels: number,
    eps: number,
  ): void;
  /** Eval-mode batch norm over [rows, C] with given statistics (tfjs's FusedBatchNorm); scale or offset -1: none. */
  batchNormInference(
    heap: Float32Array,
    x: number,
    mean: number,
    variance: number,
    scale: number,
    offset: number,
    y: number,
    rows: number,
    channels: number,
    eps: number,
  ): void;
  /** The max-pool gradient: each window's dy to its first maximum. */
  maxPoolGrad(heap: Float32Array, x: number, dy: number, dx: number, ...geometry: MaxPoolGeometry): void;
  /** The average-pool gradient (tfjs's rule: dy / (kh * kw) to every pixel of the window); geometry as maxPoolGrad's. */
  avgPoolGrad(heap: Float32Array, dy: number, dx: number, ...geometry: MaxPoolGeometry): void;
  /** `blocks` runs of `count` floats from src + r * srcStride to dst + r * dstStride (strides in floats). */
  copyBlocks(
    heap: Float32Array,
    src: number,
    dst: number,
    blocks: number,
    count: number,
    srcStride: number,
    dstStride: number,
  ): void;
  /** out = a op b, where b (bSize elements) repeats along a's leading axes; `swapped` computes b op a. */
  elementwise(
    heap: Float32Array,
    op: ElementwiseOp,
    a: number,
    b: number,
    out: number,
    size: number,
    bSize: number,
    swapped: number,
  ): void;
  /**
   * out = x surrounded by `value`: `geometry` is x's shape, the padding before and after, 6 numbers each
   * (leading 1s and 0s for lower ranks).
   */
  pad(heap: Float32Array, x: number, out: number, value: number, ...geometry: readonly number[]): void;
  /** One SGD-with-momentum step (PyTorch's), the same float operations as the trainer's ops. */
  sgdUpdate(
    heap: Float32Array,
    param: number,
    grad: number,
    buffer: number,
    paramOut: number,
    bufferOut: number,
    size: number,
    nesterov: number,
    lr: number,
    momentum: number,
    weightDecay: number,
  ): void;
  /** Its gradient: dx, dgamma, dbeta from dy and the forward's inputs and statistics. */
  batchNormTrainGrad(
    heap: Float32Array,
    dy: number,
    x: number,
    gamma: number,
    mean: number,
    variance: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    rows: number,
    channels: number,
    eps: number,
  ): void;
}

export type NativeLoad = { kernels: NativeKernels } | { missing: string };

const buildDir = new URL('../build/', import.meta.url);

let result: NativeLoad | undefined;

/**
 * The addon, loaded once per process. `threads` caps oneDNN's OpenMP threads (default: every core) and
 * takes effect only on the first call: OpenMP reads OMP_NUM_THREADS when the library loads.
 * CONVNETS_NATIVE=off in the environment turns the addon off; CONVNETS_NATIVE_REQUIRED=1 makes its
 * absence an error (thrown) instead of a reason to fall back (CI, where oneDNN is installed).
 */
export function loadNativeKernels(options: { threads?: number } = {}): NativeLoad {
  result ??= load(options);
  if ('missing' in result && process.env.CONVNETS_NATIVE_REQUIRED === '1') {
    throw new Error(`CONVNETS_NATIVE_REQUIRED=1, but ${result.missing}`);
  }
  return result;
}

function load({ threads }: { threads?: number }): NativeLoad {
  if (process.env.CONVNETS_NATIVE === 'off') return { missing: 'turned off by CONVNETS_NATIVE=off' };
  const file = fileURLToPath(new URL('convnets_native.node', buildDir));
  if (!existsSync(file)) {
    const why = fileURLToPath(new URL('skipped.txt', buildDir));
    const script = fileURLToPath(new URL('../scripts/build-native.mjs', import.meta.url));
    // No record at all: the install script never ran (pnpm 10 runs a dependency's only once approved).
    const reason = existsSync(why)
      ? readFileSync(why, 'utf8').trim()
      : `its build never ran (pnpm approve-builds, or node ${script})`;
    return { missing: `@convnets/backend-native is not built: ${reason}` };
  }
  if (threads !== undefined && process.env.OMP_NUM_THREADS === undefined)
    process.env.OMP_NUM_THREADS = String(Math.max(1, threads));
  try {
    type Addon = Omit<NativeKernels, 'version' | 'runtime' | 'elementwise'> & {
      info(): { version: string; runtime: string };
      elementwise(heap: Float32Array, op: number, ...rest: number[]): void;
    };
    const addon = createRequire(import.meta.url)(file) as Addon;
    const { version, runtime } = addon.info();
    const elementwise: NativeKernels['elementwise'] = (heap, op, ...rest) =>
      addon.elementwise(heap, ELEMENTWISE[op], ...rest);
    return { kernels: { ...addon, elementwise, version, runtime } };
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    if (/libdnnl/.test(message))
      return {
        missing: `oneDNN's library is missing (apt-get install --no-install-recommends libdnnl-dev): ${message}`,
      };
    return { missing: `@convnets/backend-native failed to load: ${message}` };
  }
}
