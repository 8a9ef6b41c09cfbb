/** Static shapes (NHWC) and the size arithmetic of convolutions and pools, shared by every layer. */

export type Shape = readonly number[];

/** A shape that a layer cannot take. `module` is the layer; the path is filled in by whoever knows the tree. */
export class ShapeError extends Error {
  override name = 'ShapeError';
  constructor(
    message: string,
    readonly module: object,
    readonly input: Shape,
  ) {
    super(message);
  }
}

export type Pair = number | readonly [number, number];

export function pair(value: Pair, what: string): [number, number] {
  const [h, w] = typeof value === 'number' ? [value, value] : value;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) {
    throw new RangeError(`${what} must be a non-negative integer or a pair of them, got ${JSON.stringify(value)}`);
  }
  return [h, w];
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Output length of a convolution or pooling window along one axis, PyTorch's formula (ceil mode for pools). */
export function windowOutputSize(
  size: number,
  kernel: number,
  stride: number,
  padding: number,
  dilation = 1,
  ceilMode = false,
): number {
  const span = size + 2 * padding - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch: in ceil mode the last window must start inside the input or its left padding.
  if (ceilMode && (out - 1) * stride >= size + padding) out -= 1;
  return out;
}

export function expectRank(module: object, input: Shape, rank: number, what: string): void {
  if (input.length !== rank) {
    throw new ShapeError(`expects a rank-${rank} input (${what}), got ${formatShape(input)}`, module, input);
  }
}
