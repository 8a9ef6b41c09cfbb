/**
 * An image made to look like an MNIST digit, as MNIST's were made (LeCun et al.): grey, the ink's bounding box
 * scaled (aspect kept) to fit a 20 x 20 box, then placed in a 28 x 28 field so that its centre of mass is the
 * field's centre. What a net trained on MNIST needs to read a digit drawn on a canvas or photographed.
 */

export interface MnistStyleOptions {
  /** The field's side (default 28). */
  size?: number;
  /** The box the ink is scaled into (default 20). */
  box?: number;
}

/**
 * `grey` (`width` x `height`, 0 background and bright ink, row-major) as an MNIST-style `size` x `size` image; all
 * zeros where there is no ink. Scaling averages the source pixels each target pixel covers (area sampling).
 */
export function mnistStyle(
  grey: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  { size = 28, box = 20 }: MnistStyleOptions = {},
): Uint8Array {
  if (grey.length !== width * height)
    throw new RangeError(`mnistStyle: ${grey.length} pixels are not a ${width}x${height} image`);
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (grey[y * width + x]! > 0)
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  const out = new Uint8Array(size * size);
  if (x1 < 0) return out;
  const [w, h] = [x1 - x0 + 1, y1 - y0 + 1];
  const scale = box / Math.max(w, h);
  const [tw, th] = [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
  // Area sampling: each target pixel is the mean of the source pixels its square covers (fractions weighted).
  const scaled = new Float64Array(tw * th);
  const [sx, sy] = [w / tw, h / th];
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) {
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(ty * sy); y < Math.ceil((ty + 1) * sy); y++) {
        const wy = Math.min(y + 1, (ty + 1) * sy) - Math.max(y, ty * sy);
        for (let x = Math.floor(tx * sx); x < Math.ceil((tx + 1) * sx); x++) {
          const wx = Math.min(x + 1, (tx + 1) * sx) - Math.max(x, tx * sx);
          sum += grey[(y0 + y) * width + x0 + x]! * wx * wy;
          area += wx * wy;
        }
      }
      scaled[ty * tw + tx] = sum / area;
    }
  }
  // The centre of mass, then the offset that puts it at the field's centre.
  let [mass, mx, my] = [0, 0, 0];
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const v = scaled[y * tw + x]!;
      [mass, mx, my] = [mass + v, mx + v * (x + 0.5), my + v * (y + 0.5)];
    }
  const [dx, dy] = [Math.round(size / 2 - mx / mass), Math.round(size / 2 - my / mass)];
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const [ox, oy] = [x + dx, y + dy];
      if (ox >= 0 && ox < size && oy >= 0 && oy < size) out[oy * size + ox] = Math.round(scaled[y * tw + x]!);
    }
  return out;
}
