import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module.js';
import { ShapeError, expectRank, formatShape, pair, windowOutputSize, type Pair, type Shape } from '../shape.js';
import { tuple } from './conv.js';

export interface Pool2dOptions {
  /** Defaults to the kernel size, as in PyTorch. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/** Shared window arithmetic of MaxPool2d and AvgPool2d. */
abstract class Pool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;

  constructor(kernelSize: Pair, { stride, padding = 0, ceilMode = false }: Pool2dOptions) {
    super();
    this.kernelSize = pair(kernelSize, 'pool kernelSize');
    this.stride = pair(stride ?? kernelSize, 'pool stride');
    this.padding = pair(padding, 'pool padding');
    this.ceilMode = ceilMode;
    if (this.padding.some((p, i) => p > this.kernelSize[i]! / 2)) {
      throw new RangeError(
        `${this.typeName}: padding ${tuple(this.padding)} must be at most half the kernel ${tuple(this.kernelSize)}`,
      );
    }
  }

  protected override computeShape(input: Shape): Shape {
    expectRank(this, input, 4, 'NHWC');
    const [n, h, w, c] = input as [number, number, number, number];
    const oh = windowOutputSize(h, this.kernelSize[0], this.stride[0], this.padding[0], 1, this.ceilMode);
    const ow = windowOutputSize(w, this.kernelSize[1], this.stride[1], this.padding[1], 1, this.ceilMode);
    if (oh <= 0 || ow <= 0) {
      throw new ShapeError(`window ${tuple(this.kernelSize)} does not fit input ${formatShape(input)}`, this, input);
    }
    return [n, oh, ow, c];
  }

  /**
   * Padding that makes tfjs produce PyTorch's output size: `padding` before, and after it whatever the
   * last window needs (more than `padding` in ceil mode). tfjs's pools ignore padded cells.
   */
  explicitPadding(shape: Shape): ExplicitPadding {
    const [, oh, ow] = this.computeShape(shape);
    const after = (out: number, size: number, axis: 0 | 1) =>
      Math.max(this.padding[axis], (out - 1) * this.stride[axis] + this.kernelSize[axis] - size - this.padding[axis]);
    return [
      [0, 0],
      [this.padding[0], after(oh!, shape[1]!, 0)],
      [this.padding[1], after(ow!, shape[2]!, 1)],
      [0, 0],
    ];
  }
}

/** Max pooling; padded cells never win (they count as -infinity, as in PyTorch). */
export class MaxPool2d extends Pool2d {
  static readonly typeName: string = 'MaxPool2d';

  constructor(kernelSize: Pair, options: Pool2dOptions = {}) {
    super(kernelSize, options);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.maxPool(x as tf.Tensor4D, this.kernelSize, this.stride, this.explicitPadding(x.shape));
  }

  protected override extraRepr(): string {
    const s = (p: [number, number]) => (p[0] === p[1] ? String(p[0]) : tuple(p));
    return (
      `kernel_size=${s(this.kernelSize)}, stride=${s(this.stride)}, ` +
      `padding=${s(this.padding)}, dilation=1, ceil_mode=${this.ceilMode ? 'True' : 'False'}`
    );
  }
}

/**
 * Average pooling with PyTorch's default `count_include_pad=True`: the zero padding counts in each
 * window's divisor, so it is added explicitly (tfjs would leave it out).
 */
export class AvgPool2d extends Pool2d {
  static readonly typeName: string = 'AvgPool2d';

  constructor(kernelSize: Pair, options: Pool2dOptions = {}) {
    super(kernelSize, options);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [ph, pw] = this.padding;
    const [[, ,], [, bottom], [, right]] = this.explicitPadding(x.shape);
    const padded =
      ph || pw
        ? tf.pad(x, [
            [0, 0],
            [ph, ph],
            [pw, pw],
            [0, 0],
          ])
        : x;
    // Past the zero padding (ceil mode only), cells do not count, as in PyTorch.
    const extra: ExplicitPadding = [
      [0, 0],
      [0, bottom - ph],
      [0, right - pw],
      [0, 0],
    ];
    return tf.avgPool(padded as tf.Tensor4D, this.kernelSize, this.stride, extra);
  }

  protected override extraRepr(): string {
    const s = (p: [number, number]) => (p[0] === p[1] ? String(p[0]) : tuple(p));
    return `kernel_size=${s(this.kernelSize)}, stride=${s(this.stride)}, padding=${s(this.padding)}`;
  }
}

/**
 * Average pooling to a fixed output size, with PyTorch's windows: output cell i covers input rows
 * floor(i*H/out) to ceil((i+1)*H/out).
 */
export class AdaptiveAvgPool2d extends Module {
  static readonly typeName: string = 'AdaptiveAvgPool2d';

  readonly outputSize: [number, number];

  constructor(outputSize: Pair) {
    super();
    this.outputSize = pair(outputSize, 'AdaptiveAvgPool2d outputSize');
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [, h, w] = x.shape as number[];
    const [oh, ow] = this.outputSize;
    if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
    if (h! % oh === 0 && w! % ow === 0) {
      const k: [number, number] = [h! / oh, w! / ow];
      return tf.avgPool(x as tf.Tensor4D, k, k, 'valid');
    }
    const rows = adaptiveWindows(h!, oh).map(([r0, r1]) =>
      tf.concat(
        adaptiveWindows(w!, ow).map(([c0, c1]) =>
          tf.mean(tf.slice(x, [0, r0, c0, 0], [-1, r1 - r0, c1 - c0, -1]), [1, 2], true),
        ),
        2,
      ),
    );
    return tf.concat(rows, 1);
  }

  protected override computeShape(input: Shape): Shape {
    expectRank(this, input, 4, 'NHWC');
    return [input[0]!, this.outputSize[0], this.outputSize[1], input[3]!];
  }

  protected override extraRepr(): string {
    return `output_size=${tuple(this.outputSize)}`;
  }
}

function adaptiveWindows(size: number, out: number): Array<[number, number]> {
  return Array.from({ length: out }, (_, i) => [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)]);
}
