import * as tf from '@tensorflow/tfjs-core';
import { Module, parameter } from '../module.js';
import { defaultRng } from '../random.js';
import { ShapeError, expectRank, formatShape, pair, windowOutputSize, type Pair, type Shape } from '../shape.js';
import { uniform } from '../init.js';

export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding on each side, in pixels (PyTorch's numeric padding). */
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/**
 * 2-D convolution on NHWC input. The weight is stored as tfjs wants it, `[kh, kw, in/groups, out]`
 * (PyTorch's is `[out, in/groups, kh, kw]`; interop converts at load and save).
 */
export class Conv2d extends Module {
  static readonly typeName: string = 'Conv2d';

  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  weight: tf.Variable;
  bias: tf.Variable | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true }: Conv2dOptions = {},
  ) {
    super();
    this.kernelSize = pair(kernelSize, 'Conv2d kernelSize');
    this.stride = pair(stride, 'Conv2d stride');
    this.padding = pair(padding, 'Conv2d padding');
    this.dilation = pair(dilation, 'Conv2d dilation');
    this.groups = groups;
    if (!(inChannels > 0 && outChannels > 0 && inChannels % groups === 0 && outChannels % groups === 0)) {
      throw new RangeError(
        `Conv2d(${inChannels}, ${outChannels}): channels must be positive and divisible by groups=${groups}`,
      );
    }
    if (this.stride.some((s) => s > 1) && this.dilation.some((d) => d > 1)) {
      // tfjs-core's conv2d supports strides or dilations above 1, not both at once.
      throw new RangeError(
        `Conv2d: stride ${this.stride} together with dilation ${this.dilation} is not supported by tfjs`,
      );
    }
    const [kh, kw] = this.kernelSize;
    // PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight, i.e. U(±1/sqrt(fanIn)), same bound for the bias.
    const bound = 1 / Math.sqrt((inChannels / groups) * kh * kw);
    const rng = defaultRng();
    this.weight = parameter(uniform([kh, kw, inChannels / groups, outChannels], bound, rng.nextSeed()));
    this.bias = bias ? parameter(uniform([outChannels], bound, rng.nextSeed())) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const x4 = x as tf.Tensor4D;
    const { weight: w, pad } = this.liveWeight(x4.shape[1], x4.shape[2]);
    let y: tf.Tensor4D;
    if (this.groups === 1) {
      y = tf.conv2d(x4, w, this.stride, pad, 'NHWC', this.dilation);
    } else {
      // tfjs has no grouped convolution: one convolution per group, concatenated along channels.
      const xs = tf.split(x4, this.groups, 3);
      const ws = tf.split(w, this.groups, 3);
      y = tf.concat(
        xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ws[g] as tf.Tensor4D, this.stride, pad, 'NHWC', this.dilation)),
        3,
      );
    }
    return this.bias ? tf.add(y, this.bias) : y;
  }

  /**
   * The weight and padding to convolve an H x W input with. Kernel taps that only ever meet the zero
   * padding add nothing (ResNet's last stage at 32 px sees 1x1 maps through 3x3 kernels: 8 of 9 taps),
   * so the weight is cropped to the taps that meet the input and the padding shifted to match; the
   * output is the same and the cropped-away taps get zero gradient.
   */
  private liveWeight(height: number, width: number): { weight: tf.Tensor4D; pad: tf.backend_util.ExplicitPadding } {
    const full = this.weight as tf.Tensor as tf.Tensor4D;
    const rows = liveSpan(height, this.kernelSize[0], this.stride[0], this.padding[0], this.dilation[0]);
    const cols = liveSpan(width, this.kernelSize[1], this.stride[1], this.padding[1], this.dilation[1]);
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], rows.pad, cols.pad, [0, 0]];
    if (rows.taps === this.kernelSize[0] && cols.taps === this.kernelSize[1]) return { weight: full, pad };
    const [, , cin, cout] = full.shape;
    return { weight: tf.slice(full, [rows.first, cols.first, 0, 0], [rows.taps, cols.taps, cin, cout]), pad };
  }

  protected override computeShape(input: Shape): Shape {
    expectRank(this, input, 4, 'NHWC');
    const [n, h, w, c] = input as [number, number, number, number];
    if (c !== this.inChannels) {
      throw new ShapeError(
        `expects ${this.inChannels} input channels, got ${c} (input ${formatShape(input)})`,
        this,
        input,
      );
    }
    const oh = windowOutputSize(h, this.kernelSize[0], this.stride[0], this.padding[0], this.dilation[0]);
    const ow = windowOutputSize(w, this.kernelSize[1], this.stride[1], this.padding[1], this.dilation[1]);
    return [n, oh, ow, this.outChannels];
  }

  override flops(input: Shape): number {
    const [, oh, ow, oc] = this.computeShape(input);
    const macsPerOutput = (this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    return 2 * oh! * ow! * oc! * macsPerOutput;
  }

  protected override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${tuple(this.kernelSize)}, stride=${tuple(this.stride)}`;
    if (this.padding.some((p) => p !== 0)) s += `, padding=${tuple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${tuple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}

/**
 * Along one axis: the contiguous run of kernel taps that meet at least one input pixel (`first`,
 * `taps`), and the padding that gives the same output with only those taps. All taps when cropping
 * would need negative padding.
 */
export function liveSpan(
  size: number,
  kernel: number,
  stride: number,
  padding: number,
  dilation: number,
): { first: number; taps: number; pad: [number, number] } {
  const out = windowOutputSize(size, kernel, stride, padding, dilation);
  const lastStart = (out - 1) * stride; // where the last window starts, in padded coordinates
  const meetsInput = (k: number) => {
    // some window start o*s (0 <= o*s <= lastStart) puts tap k on a row in [0, size)
    const lo = Math.max(padding - k * dilation, 0);
    const hi = Math.min(padding - k * dilation + size - 1, lastStart);
    return lo <= hi && Math.ceil(lo / stride) * stride <= hi;
  };
  const whole = { first: 0, taps: kernel, pad: [padding, padding] as [number, number] };
  let first = 0;
  while (first < kernel && !meetsInput(first)) first++;
  let last = kernel - 1;
  while (last > first && !meetsInput(last)) last--;
  const before = padding - first * dilation;
  const span = (last - first) * dilation + 1;
  const after = Math.max(0, lastStart + span - size - before);
  if (first === kernel || before < 0 || windowOutputSize(size + before + after, span, stride, 0, 1) !== out)
    return whole;
  return { first, taps: last - first + 1, pad: [before, after] };
}

/** PyTorch prints pairs as Python tuples. */
export function tuple([a, b]: readonly [number, number]): string {
  return `(${a}, ${b})`;
}
