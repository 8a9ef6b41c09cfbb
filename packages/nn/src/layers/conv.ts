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
      throw new RangeError(`Conv2d(${inChannels}, ${outChannels}): channels must be positive and divisible by groups=${groups}`);
    }
    if (this.stride.some((s) => s > 1) && this.dilation.some((d) => d > 1)) {
      // tfjs-core's conv2d supports strides or dilations above 1, not both at once.
      throw new RangeError(`Conv2d: stride ${this.stride} together with dilation ${this.dilation} is not supported by tfjs`);
    }
    const [kh, kw] = this.kernelSize;
    // PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight, i.e. U(±1/sqrt(fanIn)), same bound for the bias.
    const bound = 1 / Math.sqrt((inChannels / groups) * kh * kw);
    const rng = defaultRng();
    this.weight = parameter(uniform([kh, kw, inChannels / groups, outChannels], bound, rng.nextSeed()));
    this.bias = bias ? parameter(uniform([outChannels], bound, rng.nextSeed())) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [ph, pw] = this.padding;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
    const x4 = x as tf.Tensor4D;
    const w = this.weight as tf.Tensor as tf.Tensor4D;
    let y: tf.Tensor4D;
    if (this.groups === 1) {
      y = tf.conv2d(x4, w, this.stride, pad, 'NHWC', this.dilation);
    } else {
      // tfjs has no grouped convolution: one convolution per group, concatenated along channels.
      const xs = tf.split(x4, this.groups, 3);
      const ws = tf.split(w, this.groups, 3);
      y = tf.concat(xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ws[g] as tf.Tensor4D, this.stride, pad, 'NHWC', this.dilation)), 3);
    }
    return this.bias ? tf.add(y, this.bias) : y;
  }

  protected computeShape(input: Shape): Shape {
    expectRank(this, input, 4, 'NHWC');
    const [n, h, w, c] = input as [number, number, number, number];
    if (c !== this.inChannels) {
      throw new ShapeError(`expects ${this.inChannels} input channels, got ${c} (input ${formatShape(input)})`, this, input);
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

/** PyTorch prints pairs as Python tuples. */
export function tuple([a, b]: readonly [number, number]): string {
  return `(${a}, ${b})`;
}
