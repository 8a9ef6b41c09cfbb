/**
 * The conv family: Conv2D and its two gradients, plus the im2col / col2im / filter-rotation kernels the tfjs
 * composites of those gradients use (conv-grads.ts).
 * - native: oneDNN's convolutions (backend-native's conv.cc; maps no larger than the filter as one dense GEMM).
 * - wasm: convolutions as an indirect GEMM that skips padding taps (wasm/conv.c on wasm/matmul.c); filter gradients
 *   per tap; strided input gradients as dy . filter^T summed back by col2im (exact FLOPs, no inserted zeros).
 * - tfjs: the gradients as forward convolutions or im2col matmuls (wasm has no Conv2DBackpropFilter at all and a
 *   scalar-loop Conv2DBackpropInput; cpu's filter gradient is a naive loop, ~17x slower than as a convolution).
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dFilterGrad, conv2dInputGrad } from './conv-grads.js';
import type { ConvAttrs, PoolGeometry } from './geometry.js';
import { transposeInto } from './copy.js';
import { type ConvGeometry, Limits, type Operand } from './interface.generated.js';
import { allFloat, heapKernel, runNative, type Inputs, type KernelSpec } from './kernel.js';
import { gemm, operand, strided } from './matmul.js';
import type { WasmKernels } from './wasm/runtime.js';

type Tensor4D = tf.Tensor4D;
type Conv2DInfo = tf.backend_util.Conv2DInfo;

// ---- wasm ----------------------------------------------------------------------------------------------------

/** The sliding windows of a convolution over x (its im2col matrix, or that matrix's transpose). */
function windows(kind: 'WINDOWS' | 'WINDOWS_T' | 'TAP_T', p: number, info: Conv2DInfo, over: 'input' | 'output') {
  const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw, padInfo } = info;
  if (over === 'input') {
    // rows: the conv's output pixels; source: its input
    return operand(kind, p, {
      ...{ n: info.batchSize, h: info.inHeight, w: info.inWidth, c: info.inChannels },
      ...{ oh: info.outHeight, ow: info.outWidth, kh, kw, sh: info.strideHeight, sw: info.strideWidth, dh, dw },
      ...{ ph: padInfo.top, pw: padInfo.left },
    });
  }
  // The input gradient of a stride-1 conv: windows over dy, whose "outputs" are the input's pixels.
  return operand(kind, p, {
    ...{ n: info.batchSize, h: info.outHeight, w: info.outWidth, c: info.outChannels },
    ...{ oh: info.inHeight, ow: info.inWidth, kh, kw, sh: 1, sw: 1, dh, dw },
    ...{ ph: (kh - 1) * dh - padInfo.top, pw: (kw - 1) * dw - padInfo.left },
  });
}

/** The filter [kh, kw, in, out] as B of an input gradient: rows (ky, kx, out) of the rotated filter. */
const rotated = (p: number, info: Conv2DInfo) =>
  operand('ROTATED', p, { n: info.outChannels, c: info.inChannels, kh: info.filterHeight, kw: info.filterWidth });

/**
 * C [pixels, n] = windows . B without packing the windows: B is packed once into panels (pack_b), then
 * each strip of four images at one output position reads its live taps straight from the source
 * (conv_indirect), skipping the taps that read only padding.
 */
function convIndirect(
  k: WasmKernels,
  a: Operand,
  b: Operand,
  c: number,
  pixels: number,
  n: number,
  depth: number,
): void {
  if (pixels === 0 || n === 0) return;
  const packed = k.output([Math.ceil(n / 8) * 8 * depth]);
  try {
    k.run('pack_b', { b, dst: k.address(packed), k: depth, n }, depth * n);
    k.run('conv_indirect', { a, packed: k.address(packed), c, n }, pixels * n * depth);
  } finally {
    k.free(packed);
  }
}

const isPointwise = (info: Conv2DInfo) =>
  info.filterHeight === 1 &&
  info.filterWidth === 1 &&
  info.strideHeight === 1 &&
  info.strideWidth === 1 &&
  info.padInfo.top === 0 &&
  info.padInfo.left === 0;

function convInfo(
  inShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  dilations: unknown = 1,
): Conv2DInfo | null {
  if (attrs.dataFormat && attrs.dataFormat !== 'NHWC') return null;
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number,
    dilations as number,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
}

/** y [N, Ho, Wo, Cout] = windows(x) [N*Ho*Wo, kh*kw*Cin] . filter [kh*kw*Cin, Cout]. */
function conv2dWasm(k: WasmKernels, { x, filter }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(x!, filter!)) return null;
  const info = convInfo(x!.shape, filter!.shape, attrs, attrs.dilations);
  if (!info) return null;
  const y = k.output([info.batchSize, info.outHeight, info.outWidth, info.outChannels]);
  const depth = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.batchSize * info.outHeight * info.outWidth;
  const b = strided(k.address(filter!), info.outChannels, 1);
  if (isPointwise(info)) gemm(k, strided(k.address(x!), depth, 1), b, k.address(y), pixels, info.outChannels, depth);
  else if (info.filterHeight * info.filterWidth <= Limits.MAX_TAPS) {
    convIndirect(k, windows('WINDOWS', k.address(x!), info, 'input'), b, k.address(y), pixels, info.outChannels, depth);
  } else gemm(k, windows('WINDOWS', k.address(x!), info, 'input'), b, k.address(y), pixels, info.outChannels, depth);
  return y;
}

/**
 * dW [kh*kw*Cin, Cout] = windows(x)^T [kh*kw*Cin, N*Ho*Wo] . dy [N*Ho*Wo, Cout]. With enough input
 * channels, one GEMM per tap over only the pixels where the tap meets the input (padding costs nothing);
 * with few (a stem's 1 or 3), one GEMM over the whole windows matrix packs less.
 */
function conv2dBackpropFilterWasm(k: WasmKernels, { x, dy }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(x!, dy!)) return null;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x!.shape, filterShape, attrs);
  if (!info) return null;
  const dw = k.output(filterShape);
  const rows = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.batchSize * info.outHeight * info.outWidth;
  if (isPointwise(info)) {
    gemm(
      k,
      strided(k.address(x!), 1, info.inChannels),
      strided(k.address(dy!), info.outChannels, 1),
      k.address(dw),
      rows,
      info.outChannels,
      pixels,
    );
  } else if (
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.inChannels % 4 === 0 &&
    info.outChannels % 8 === 0
  ) {
    filterGradStride1(k, x!, dy!, dw, info);
  } else if (info.inChannels >= 16) {
    const taps = windows('TAP_T', k.address(x!), info, 'input');
    const dyRows = operand('RECT_ROWS', k.address(dy!), {
      ...{ n: info.batchSize, c: info.outChannels, oh: info.outHeight, ow: info.outWidth },
    });
    const args = { x: taps, dy: dyRows, dw: k.address(dw), scratch: k.scratch };
    k.run('conv_filter_grad', args, rows * info.outChannels * pixels);
  } else {
    gemm(
      k,
      windows('WINDOWS_T', k.address(x!), info, 'input'),
      strided(k.address(dy!), info.outChannels, 1),
      k.address(dw),
      rows,
      info.outChannels,
      pixels,
    );
  }
  return dw;
}

/**
 * The stride-1 filter gradient: x and dy reordered once (channel groups of 4 and 8, batch innermost), then
 * each tap accumulates over contiguous runs of both, in the micro-kernel's own formats (no per-tap packing).
 */
function filterGradStride1(
  k: WasmKernels,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  dw: tf.TensorInfo,
  info: Conv2DInfo,
): void {
  const x4 = k.output(x.shape);
  const dy8 = k.output(dy.shape);
  try {
    const {
      batchSize: n,
      inHeight: h,
      inWidth: w,
      inChannels: cin,
      outHeight: oh,
      outWidth: ow,
      outChannels: cout,
    } = info;
    k.run('interleave_channels', { src: k.address(x), dst: k.address(x4), n, h, w, c: cin, group: 4 }, n * h * w * cin);
    k.run(
      'interleave_channels',
      { src: k.address(dy), dst: k.address(dy8), n, h: oh, w: ow, c: cout, group: 8 },
      n * oh * ow * cout,
    );
    const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw_ } = info;
    k.run(
      'conv_filter_grad_s1',
      {
        ...{ x4: k.address(x4), dy8: k.address(dy8), dw: k.address(dw), n, h, w, cin, oh, ow, cout, kh, kw },
        ...{ dh, dw_, ph: info.padInfo.top, pw: info.padInfo.left },
      },
      n * oh * ow * cin * cout * kh * kw,
    );
  } finally {
    k.free(x4);
    k.free(dy8);
  }
}

/**
 * dx. Stride 1: a convolution of dy with the rotated filter, packed straight from both. Strided: the
 * column gradient dy . filter^T (exact FLOPs, no inserted zeros), summed back into dx by col2im.
 */
function conv2dBackpropInputWasm(k: WasmKernels, { dy, filter }: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  if (!allFloat(dy!, filter!)) return null;
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter!.shape, attrs);
  if (!info) return null;
  const dx = k.output(inputShape);
  const pixels = info.batchSize * info.inHeight * info.inWidth;
  const taps = info.filterHeight * info.filterWidth;
  if (info.strideHeight === 1 && info.strideWidth === 1) {
    const depth = taps * info.outChannels;
    const b = rotated(k.address(filter!), info);
    if (isPointwise(info))
      gemm(k, strided(k.address(dy!), info.outChannels, 1), b, k.address(dx), pixels, info.inChannels, depth);
    else if (taps <= Limits.MAX_TAPS)
      convIndirect(
        k,
        windows('WINDOWS', k.address(dy!), info, 'output'),
        b,
        k.address(dx),
        pixels,
        info.inChannels,
        depth,
      );
    else gemm(k, windows('WINDOWS', k.address(dy!), info, 'output'), b, k.address(dx), pixels, info.inChannels, depth);
    return dx;
  }
  const outPixels = info.batchSize * info.outHeight * info.outWidth;
  const width = taps * info.inChannels;
  const cols = k.output([outPixels, width]);
  try {
    // B[co, j] = filter[j, co]: the filter [kh*kw*Cin, Cout] read transposed
    gemm(
      k,
      strided(k.address(dy!), info.outChannels, 1),
      strided(k.address(filter!), 1, info.outChannels),
      k.address(cols),
      outPixels,
      width,
      info.outChannels,
    );
    const { kind, p, rs, cs, ky, kx, y0, y1, x0, x1, ...geometry } = windows('WINDOWS', 0, info, 'input');
    k.run('col2im', { cols: k.address(cols), dx: k.address(dx), ...geometry }, outPixels * width);
  } finally {
    k.free(cols);
  }
  return dx;
}

// ---- native ---------------------------------------------------------------------------------------------------

/** A convolution's geometry as the addon takes it, or null for layouts it does not take (NCHW, empty tensors). */
function nativeGeometry(
  inShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  dilations: unknown = 1,
): ConvGeometry | null {
  const info = filterShape.length === 4 ? convInfo(inShape, filterShape, attrs, dilations) : null;
  if (!info) return null;
  const g: ConvGeometry = {
    ...{ n: info.batchSize, h: info.inHeight, w: info.inWidth, c: info.inChannels },
    ...{ kh: info.filterHeight, kw: info.filterWidth, cout: info.outChannels, oh: info.outHeight, ow: info.outWidth },
    ...{ sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth },
    ...{ top: info.padInfo.top, left: info.padInfo.left, bottom: info.padInfo.bottom, right: info.padInfo.right },
  };
  return [g.n, g.h, g.w, g.c, g.kh, g.kw, g.cout, g.oh, g.ow].some((d) => d <= 0) ? null : g;
}

/** One of the addon's convolutions: reads a and b, writes a fresh output of `outShape(geometry)`. */
function convolve(
  k: WasmKernels,
  kernel: 'conv2d_forward' | 'conv2d_input_grad' | 'conv2d_filter_grad',
  [a, b]: [tf.TensorInfo, tf.TensorInfo],
  [inShape, filterShape]: [number[], number[]],
  attrs: tf.NamedAttrMap,
  outShape: (g: ConvGeometry) => number[],
): tf.TensorInfo | null {
  const g = allFloat(a, b) ? nativeGeometry(inShape, filterShape, attrs, attrs.dilations) : null;
  if (!g) return null;
  const out = k.output(outShape(g));
  const [pa, pb, po] = [a, b, out].map((t) => k.address(t)) as [number, number, number];
  if (kernel === 'conv2d_forward') runNative(k, kernel, { x: pa, filter: pb, y: po, g });
  else if (kernel === 'conv2d_input_grad') runNative(k, kernel, { dy: pa, filter: pb, dx: po, g });
  else runNative(k, kernel, { x: pa, dy: pb, dw: po, g });
  return out;
}

/** y [N, Ho, Wo, Cout] = conv(x, filter). */
const conv2dNative = (k: WasmKernels, { x, filter }: Inputs, attrs: tf.NamedAttrMap) =>
  convolve(k, 'conv2d_forward', [x!, filter!], [x!.shape, filter!.shape], attrs, (g) => [g.n, g.oh, g.ow, g.cout]);

/** dx [N, H, W, Cin], given dy and the filter. */
const conv2dBackpropInputNative = (k: WasmKernels, { dy, filter }: Inputs, attrs: tf.NamedAttrMap) =>
  convolve(
    k,
    'conv2d_input_grad',
    [dy!, filter!],
    [attrs.inputShape as number[], filter!.shape],
    attrs,
    () => attrs.inputShape as number[],
  );

/** dW [kh, kw, Cin, Cout], given x and dy. */
const conv2dBackpropFilterNative = (k: WasmKernels, { x, dy }: Inputs, attrs: tf.NamedAttrMap) =>
  convolve(
    k,
    'conv2d_filter_grad',
    [x!, dy!],
    [x!.shape, attrs.filterShape as number[]],
    attrs,
    () => attrs.filterShape as number[],
  );

/**
 * Where Conv2D runs without the addon: XNNPACK keeps packed weights between calls, which wins on small calls; ours
 * packs the weights each call and skips padding taps, which pays off from a few hundred output pixels on. The choice
 * depends only on the call, never on history, so a resumed run computes exactly what a straight one does.
 */
const OUR_CONV_PIXELS = 256;
function conv2dWhereOursWins(k: WasmKernels, inputs: Inputs, attrs: tf.NamedAttrMap): tf.TensorInfo | null {
  const [n, h, w] = inputs.x!.shape as [number, number, number];
  const stride =
    typeof attrs.strides === 'number' ? attrs.strides ** 2 : (attrs.strides as number[]).reduce((a, b) => a * b, 1);
  return (n * h * w) / stride >= OUR_CONV_PIXELS ? conv2dWasm(k, inputs, attrs) : null;
}

// ---- tfjs: loops over the backend's memory for the gradients' composites ---------------------------------------

/**
 * [kh, kw, in, out] -> [kh, kw, out, in] rotated 180 degrees: the filter of the convolution that
 * computes a convolution's input gradient.
 */
function rotateFilterInto(src: Float32Array, shape: readonly number[], out: Float32Array): void {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const taps = kh * kw;
  const block = cin * cout;
  for (let t = 0; t < taps; t++) {
    transposeInto(
      src.subarray(t * block, (t + 1) * block),
      [cin, cout],
      [1, 0],
      out.subarray((taps - 1 - t) * block, (taps - t) * block),
    );
  }
}

/**
 * Visits every (output pixel, kernel tap) pair in im2col order: `column` is where the tap's C values sit
 * in the cols matrix, `input` where they sit in x (-1 where the tap covers padding).
 */
function eachTap(g: PoolGeometry, visit: (column: number, input: number) => void): void {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    channels: C,
    outHeight: Ho,
    outWidth: Wo,
    kernelHeight: kh,
    kernelWidth: kw,
  } = g;
  let column = 0;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * g.strideHeight - g.top + ky;
          for (let kx = 0; kx < kw; kx++, column += C) {
            const ix = ox * g.strideWidth - g.left + kx;
            visit(column, iy < 0 || iy >= H || ix < 0 || ix >= W ? -1 : ((n * H + iy) * W + ix) * C);
          }
        }
      }
    }
  }
}

/**
 * im2col: x [N, H, W, C] -> cols [N*Ho*Wo, kh*kw*C], one row per output pixel holding its receptive
 * field (zeros where the window covers padding). Rows are contiguous copies of C channels.
 */
function im2colInto(x: Float32Array, g: PoolGeometry, cols: Float32Array): void {
  const C = g.channels;
  eachTap(g, (o, i) => (i < 0 ? cols.fill(0, o, o + C) : cols.set(x.subarray(i, i + C), o)));
}

/** col2im, the adjoint of im2col: sums each row's receptive-field entries back into dx [N, H, W, C]. */
function col2imInto(cols: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  const C = g.channels;
  dx.fill(0);
  eachTap(g, (o, i) => {
    if (i < 0) return;
    for (let c = 0; c < C; c++) dx[i + c] += cols[o + c]!;
  });
}

type T4 = Tensor4D;
const conv = (attrs: tf.NamedAttrMap) => attrs as unknown as ConvAttrs;

export const CONV_KERNELS = {
  /** oneDNN, where attached, takes every call: its AVX-512 convolution beats XNNPACK's cached weights too. */
  Conv2D: { on: ['wasm'], native: conv2dNative, wasm: conv2dWhereOursWins },
  Conv2DBackpropFilter: {
    on: ['wasm', 'cpu'],
    native: conv2dBackpropFilterNative,
    wasm: conv2dBackpropFilterWasm,
    tfjs: ({ inputs: { x, dy }, attrs }) =>
      conv2dFilterGrad(x as T4, dy as T4, attrs.filterShape as number[], conv(attrs)),
  },
  Conv2DBackpropInput: {
    on: ['wasm'],
    native: conv2dBackpropInputNative,
    wasm: conv2dBackpropInputWasm,
    tfjs: ({ inputs: { dy, filter }, attrs }) =>
      conv2dInputGrad(dy as T4, filter as T4, attrs.inputShape as number[], conv(attrs)),
  },
  /** [kh, kw, in, out] -> rotated 180 degrees with in/out swapped; used by the input gradient. */
  ConvnetsRotateFilter: {
    on: ['wasm', 'cpu'],
    tfjs: ({ inputs, backend }) => {
      const f = inputs.filter!;
      const [kh, kw, cin, cout] = f.shape;
      return heapKernel(backend, [f], [kh!, kw!, cout!, cin!], ([src], out) => rotateFilterInto(src!, f.shape, out));
    },
  },
  /** x [N, H, W, C] -> [N*Ho*Wo, kh*kw*C]; the attributes carry the window geometry. */
  ConvnetsIm2Col: {
    on: ['wasm', 'cpu'],
    tfjs: ({ inputs, attrs, backend }) => {
      const g = attrs as unknown as PoolGeometry;
      const rows = g.batch * g.outHeight * g.outWidth;
      return heapKernel(backend, [inputs.x!], [rows, g.kernelHeight * g.kernelWidth * g.channels], ([x], cols) =>
        im2colInto(x!, g, cols),
      );
    },
  },
  /** The adjoint of ConvnetsIm2Col: [N*Ho*Wo, kh*kw*C] -> [N, H, W, C]. */
  ConvnetsCol2Im: {
    on: ['wasm', 'cpu'],
    tfjs: ({ inputs, attrs, backend }) => {
      const g = attrs as unknown as PoolGeometry;
      return heapKernel(backend, [inputs.cols!], [g.batch, g.inHeight, g.inWidth, g.channels], ([cols], dx) =>
        col2imInto(cols!, g, dx),
      );
    },
  },
} satisfies Record<string, KernelSpec>;
